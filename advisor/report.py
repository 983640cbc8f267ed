"""Rendering: tables for people, JSON and CSV for programs. Nothing here computes an estimate."""

from __future__ import annotations

import io
import json
import textwrap

WIDTH = 100  # columns the tables are made to fit


def hms(seconds: float | None) -> str:
    """Seconds as h:mm:ss (the format fastai and the seed's story use)."""
    if seconds is None:
        return "N/A"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def human_bytes(n: float | None) -> str:
    if n is None:
        return "N/A"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def rate(value: float | None, unit: str) -> str:
    """A rate with an SI prefix and three significant digits: 77.8 GB/s, 1.23 TFLOP/s."""
    if value is None:
        return "N/A"
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def table(rows: list[list[str]], headers: list[str], align: str | None = None) -> str:
    """A plain aligned text table; `align` has one 'l' or 'r' per column."""
    align = align or "l" * len(headers)
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]

    def line(cells):
        out = []
        for cell, w, a in zip(cells, widths, align):
            out.append(str(cell).rjust(w) if a == "r" else str(cell).ljust(w))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def markdown_table(rows: list[list], headers: list[str]) -> str:
    """A GitHub-flavoured markdown table."""
    def cell(v):
        return f"{v:g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def recommendation_payload(workload, options, recommendation) -> dict:
    return {
        "workload": workload.to_dict(),
        "options": [o.to_dict() for o in options],
        "recommendation": recommendation.to_dict(),
    }


def recommend_json(payload: dict) -> str:
    return json.dumps(payload, indent=2)


def recommend_csv(payload: dict) -> str:
    import pandas as pd

    rows = []
    for o in payload["options"]:
        row = {k: v for k, v in o.items() if k not in ("breakdown_seconds", "notes")}
        row["notes"] = "; ".join(o["notes"])
        rows.append(row)
    buf = io.StringIO()
    pd.DataFrame(rows).to_csv(buf, index=False)
    return buf.getvalue()


def recommend_table(payload: dict) -> str:
    w = payload["workload"]
    head = (f"Workload: {w['model']} {w['image_size']}x{w['image_size']}, batch {w['batch_size']}, "
            f"{w['precision']}, {w['dataset_size']} images ({w['train_images']} train / "
            f"{w['valid_images']} valid), {w['epochs']} epoch(s)"
            + (f" + {w['frozen_epochs']} frozen" if w["frozen_epochs"] else "")
            + f", {w['data_source']} data")
    rows = []
    for o in payload["options"]:
        rows.append([
            o["id"], o["accelerator"][:34], hms(o["seconds"]),
            f"{hms(o['seconds_low'])}-{hms(o['seconds_high'])}", f"{o['train_images_per_s']:.1f}",
            "N/A" if o["cost_usd"] is None else f"${o['cost_usd']:.2f}",
            "yes" if o["fits_memory"] else "NO", o["bottleneck"],
        ])
    t = table(rows, ["option", "accelerator", "time", "band", "img/s", "cost", "fits", "bottleneck"],
              "llrrrrll")
    notes = []
    for o in payload["options"]:
        for n in o["notes"]:
            notes.extend(textwrap.wrap(f"[{o['id']}] {n}", WIDTH, initial_indent="  ",
                                       subsequent_indent="    "))
    rec = payload["recommendation"]
    return "\n".join([*textwrap.wrap(head, WIDTH, subsequent_indent="  "), "", t, "", "Notes:",
                      *notes, "",
                      *textwrap.wrap(f"Recommendation: {rec['best'] or 'none'} - {rec['reason']}", WIDTH)])


def profile_summary(profile) -> str:
    m = profile.machine
    lines = [
        f"Profile of {m.hostname}, {profile.created_at} (advisor {profile.advisor_version}, schema {profile.schema_version})",
        f"  CPU:    {m.cpu.model}, {m.cpu.physical_cores} physical / {m.cpu.logical_cores} logical cores"
        f" ({m.cpu.usable_cores} usable), RAM {human_bytes(m.cpu.ram_bytes)}",
        f"  OS:     {m.os}; Python {m.python_version}, torch {m.torch_version}, torchvision "
        f"{m.torchvision_version}, CUDA runtime {m.cuda_runtime_version or 'N/A'}",
    ]
    if m.gpus:
        lines.append(f"  Driver: {m.driver_version or 'N/A'} (CUDA {m.cuda_driver_version or 'N/A'})")
    for g in m.gpus:
        if g.error:
            lines.append(f"  GPU {g.index}:  ?? ({g.error})")
            continue
        bw = g.theoretical_bandwidth_bytes_per_s
        lines.append(
            f"  GPU {g.index}:  {g.name or 'N/A'}, {human_bytes(g.vram_bytes)}, {g.sm_count or 'N/A'} SMs, "
            f"SM {g.max_sm_clock_mhz or 'N/A'} MHz, mem {g.max_memory_clock_mhz or 'N/A'} MHz x "
            f"{g.memory_bus_width_bits or 'N/A'} bit ({rate(bw, 'B/s')} theoretical), PCIe gen "
            f"{g.pcie_generation or 'N/A'} x{g.pcie_width or 'N/A'}, {g.power_limit_watts or 'N/A'} W, "
            f"cc {'.'.join(map(str, g.compute_capability)) if g.compute_capability else 'N/A'}"
        )
    mb = profile.microbenchmarks
    lines.append(f"  Device: {profile.device} ({profile.device_name})")
    lines.append("Micro-benchmarks (median of repeats):")
    lines.append(f"  host memory copy      {rate(mb.host_memory_bytes_per_s.median, 'B/s')} (read + write)")
    if mb.device_memory_bytes_per_s:
        lines.append(f"  device memory copy    {rate(mb.device_memory_bytes_per_s.median, 'B/s')} (read + write)")
        lines.append(f"  host->device pinned   {rate(mb.host_to_device_pinned_bytes_per_s.median, 'B/s')}")
        lines.append(f"  host->device pageable {rate(mb.host_to_device_pageable_bytes_per_s.median, 'B/s')}")
    for prec, s in (mb.matmul_flops_per_s or {}).items():
        lines.append(f"  matmul {prec:<14} {rate(s.median, 'FLOP/s')}")
    lines.append("Calibrations:")
    rows = []
    for c in profile.calibrations:
        k = c.key
        split = c.op_split
        rows.append([
            k.model, f"{k.image_size}", f"{k.batch_size}", k.precision,
            k.data_source + (f"/{k.workers}w" if k.data_source != "synthetic" else ""),
            f"{c.train_images_per_s:.1f} ±{100 * c.train_step_seconds.relative_iqr / 2:.0f}%",
            f"{c.eval_images_per_s:.1f}", f"{c.first_steps_overhead_seconds:.1f}",
            human_bytes(c.peak_memory_bytes),
            f"{100 * split.get('compute', 0):.0f}/{100 * split.get('memory', 0):.0f}/{100 * split.get('other', 0):.0f}",
        ])
    lines.append(table(rows, ["model", "size", "batch", "precision", "data", "train img/s",
                              "eval img/s", "warm-up s", "peak mem", "cmp/mem/oth %"],
                       "lrrlllrrrr"))
    for c in profile.calibrations:
        lines.extend(f"  note ({c.key.model} {c.key.data_source}): {n}" for n in c.notes)
    lines.extend(f"Note: {n}" for n in profile.notes)
    return "\n".join(lines)
