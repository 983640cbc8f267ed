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


def span(seconds: float | None) -> str:
    """A duration in one short unit, for bands: 45s, 25m, 5.2h, 3.1d."""
    if seconds is None:
        return "N/A"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 10 * 60:
        return f"{seconds / 60:.1f}m"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


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


def recommend_json(payload: dict) -> str:
    return json.dumps(payload, indent=2)


def _frame_csv(rows: list[dict]) -> str:
    import pandas as pd

    buf = io.StringIO()
    # object columns keep whole numbers whole where some rows have none (vCPUs not published)
    pd.DataFrame(rows, dtype=object).to_csv(buf, index=False)
    return buf.getvalue()


def recommend_csv(payload: dict) -> str:
    rows = []
    for o in payload["options"]:
        row = {k: v for k, v in o.items() if k not in ("breakdown_seconds", "notes", "parallel")}
        parallel = o.get("parallel") or {}
        row["allreduce_seconds_per_step"] = parallel.get("allreduce_seconds_per_step")
        row["communication_source"] = parallel.get("communication_source")
        row["notes"] = "; ".join(o["notes"])
        rows.append(row)
    return _frame_csv(rows)


def money(usd: float | None) -> str:
    if usd is None:
        return "N/A"
    if usd == 0:
        return "free"
    return "<$0.01" if usd < 0.01 else f"${usd:,.2f}"


def short_gpu(name: str) -> str:
    count, sep, rest = name.partition("x ")
    if sep and count.isdigit():
        return f"{count}x {short_gpu(rest)}"
    for prefix in ("NVIDIA GeForce ", "NVIDIA ", "Tesla ", "Quadro "):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def recommend_table(payload: dict) -> str:
    w = payload["workload"]
    layout = ", channels_last" if w.get("channels_last") else ""
    head = (f"Workload: {w['model']} {w['image_size']}x{w['image_size']}, batch {w['batch_size']}, "
            f"{w['precision']}{layout}, {w['dataset_size']} images ({w['train_images']} train / "
            f"{w['valid_images']} valid), {w['epochs']} epoch(s)"
            + (f" + {w['frozen_epochs']} frozen" if w["frozen_epochs"] else "")
            + f", {w['data_source']} data")
    rows = []
    for o in payload["options"]:
        limit = {"input pipeline": "input"}.get(o["bottleneck"], o["bottleneck"]) if o["fits_memory"] else "NO FIT"
        eff = o.get("scaling_efficiency")
        rows.append([
            o["id"][:26], short_gpu(o["accelerator"])[:18], hms(o["seconds"]),
            f"{span(o['seconds_low'])}-{span(o['seconds_high'])}", f"{o['train_images_per_s']:.0f}",
            money(o["cost_usd"]) + ("*" if o.get("sessions", 1) > 1 else ""), limit,
            "-" if eff is None else f"{100 * eff:.0f}%",
        ])
    t = table(rows, ["option", "accelerator", "time", "band", "img/s", "cost", "limit", "scaling"],
              "llrrrrlr") if rows else "(no option meets the constraints)"
    lines = [*textwrap.wrap(head, WIDTH, subsequent_indent="  "), "", t]
    if any(o.get("scaling_efficiency") is not None for o in payload["options"]):
        lines += textwrap.wrap(
            "scaling: images/s of the GPUs (or processes) together against each training alone "
            "(data-parallel, DDP); limit NO FIT: the batch does not fit in memory", WIDTH)
    if any(o.get("sessions", 1) > 1 for o in payload["options"]):
        lines.append("* longer than the provider's session limit: needs checkpoint and resume")
    local = next((o for o in payload["options"] if o["id"] == "local"), None)
    if local is not None:
        lines += ["", "Notes on this machine:"]
        lines += [ln for n in local["notes"] for ln in textwrap.wrap(n, WIDTH, initial_indent="  ",
                                                                      subsequent_indent="    ")]
    rec = payload["recommendation"]
    best = next((o for o in payload["options"] if o["id"] == rec["best"]), None)
    if best is not None and best is not local:
        lines += ["", f"Notes on {best['id']}:"]
        lines += [ln for n in best["notes"] for ln in textwrap.wrap(n, WIDTH, initial_indent="  ",
                                                                     subsequent_indent="    ")]
    for x in payload.get("excluded", []):
        lines += textwrap.wrap(f"Excluded {x['id']}: {x['reason']}", WIDTH, subsequent_indent="  ")
    for warning in payload.get("warnings", []):
        lines += textwrap.wrap(f"Warning: {warning}", WIDTH, subsequent_indent="  ")
    lines.append("")
    lines += textwrap.wrap(f"Recommendation: {rec['best'] or 'none'} - {rec['reason']}", WIDTH)
    if rec.get("gpu_count_comparison"):
        lines += textwrap.wrap(f"GPU count: {rec['gpu_count_comparison']}", WIDTH)
    if rec.get("fastest") or rec.get("cheapest"):
        lines.append(f"Fastest: {rec['fastest']}; cheapest: {rec['cheapest'] or 'N/A'}. "
                     "`--format json` has every option's notes.")
    return "\n".join(lines)


def gpus_output(catalog, fmt: str) -> str:
    rows = [g.to_dict() for g in catalog.gpus.values()]
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        return _frame_csv(rows)

    def tf(v):
        return "-" if v is None else f"{v / 1e12:g}"

    body = [[g.id, short_gpu(g.name)[:24], f"{g.compute_capability[0]}.{g.compute_capability[1]}",
             f"{g.vram_bytes / 1e9:g}", f"{g.memory_bandwidth_bytes_per_s / 1e9:g}", tf(g.fp32_flops_per_s),
             tf(g.tf32_tensor_flops_per_s), tf(g.fp16_tensor_flops_per_s), tf(g.bf16_tensor_flops_per_s)]
            for g in catalog.gpus.values()]
    return table(body, ["id", "name", "cc", "GB", "GB/s", "FP32", "TF32", "FP16", "BF16"],
                 "lllrrrrrr") + "\nTFLOPS, dense tensor-core peaks; - = no tensor-core path or not sourced."


def offers_output(catalog, offers, fmt: str) -> str:
    rows = [o.to_dict() for o in offers]
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        return _frame_csv(rows)
    body = []
    for o in offers:
        gpu = short_gpu(catalog.gpus[o.gpu].name)[:16] if o.gpu else "CPU"
        if o.gpu and o.gpu_count > 1:
            gpu = f"{o.gpu_count}x {gpu}"
        hourly = o.hourly_usd()
        link = "-"
        if o.interconnect:
            kind = catalog.interconnects[o.interconnect].kind
            link = {"nvlink": "nvl"}.get(kind, kind) + ("?" if o.interconnect_assumed else "")
        if o.network_bits_per_s:
            link += f"+{o.network_bits_per_s / 1e9:g}G"
        body.append([o.key[:26], gpu, str(o.vcpus or "N/A"), money(hourly) if hourly is not None else "N/A",
                     money(o.spot_usd_per_hour) if o.spot_usd_per_hour is not None else "-",
                     {"per_second_min_60s": "per s", "compute_units": "CU", "hourly": "hour"}.get(o.billing, o.billing),
                     f"{o.runtime_limit_hours:g} h" if o.runtime_limit_hours else "-", link, o.as_of.isoformat()])
    return (table(body, ["offer", "GPU", "vCPU", "$/h", "spot", "bill", "limit", "GPU link", "as of"],
                  "llrrrlrll")
            + "\n" + "\n".join(textwrap.wrap(
                "$/h on demand, spot $/h. bill: per s = per second after a 1-minute minimum, hour = by "
                "the started hour, CU = Colab compute units. GPU link: between the GPUs of one machine, "
                "nvl = NVLink, pcie = PCIe (? = assumed, not published); +NG: Gbit/s between machines, "
                "where published.", WIDTH)))


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both time and cost."""
    front = []
    for i, (t, c) in enumerate(points):
        if not any((t2 <= t and c2 <= c) and (t2 < t or c2 < c) for t2, c2 in points):
            front.append(i)
    return front


def plot_options(payload: dict, path: str) -> str:
    """Time against cost, one point per option, the Pareto front labelled; written atomically."""
    import os
    import tempfile

    from advisor.errors import RuntimeFailure

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeFailure("--plot needs matplotlib: pip install 'advisor[plot]'.") from None
    opts = [o for o in payload["options"] if o["fits_memory"] and (o["cost_usd"] is not None or o["id"] == "local")]
    points = [(o["seconds"], o["cost_usd"] or 0.0) for o in opts]
    front = set(pareto_front(points))
    fig, ax = plt.subplots(figsize=(9, 6))
    for i, (o, (t, c)) in enumerate(zip(opts, points)):
        on_front = i in front
        ax.scatter(t, c, s=40 if on_front else 15, color="tab:red" if on_front else "tab:gray",
                   zorder=3 if on_front else 2)
        if on_front or o["id"] == "local":
            ax.annotate(o["id"], (t, c), textcoords="offset points", xytext=(5, 4), fontsize=8)
    frontier = sorted(points[i] for i in front)
    if len(frontier) > 1:
        ax.plot(*zip(*frontier), color="tab:red", linewidth=1, zorder=1)
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: hms(v)))
    ax.set_yscale("symlog", linthresh=0.01)
    ax.set_ylim(bottom=-0.002)
    ax.set_xlabel("predicted training time (h:mm:ss, log scale)")
    ax.set_ylabel("cost in USD (this machine and free tiers at 0)")
    w = payload["workload"]
    ax.set_title(f"{w['model']}, {w['dataset_size']} images x {w['epochs']} epochs: time against cost")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".plot.", suffix=".png", dir=directory)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


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
    for prec, s in (mb.conv_train_flops_per_s or {}).items():
        lines.append(f"  conv+grad {prec:<11} {rate(s.median, 'FLOP/s')}")
    lines.append("Calibrations:")
    rows = []
    for c in profile.calibrations:
        k = c.key
        split = c.op_split
        rows.append([
            k.model, f"{k.image_size}", f"{k.batch_size}", k.precision + (" nhwc" if k.channels_last else ""),
            k.data_source + (f"/{k.workers}w" if k.data_source != "synthetic" else ""),
            f"{c.train_images_per_s:.1f} ±{100 * c.train_step_seconds.relative_iqr / 2:.0f}%",
            f"{c.eval_images_per_s:.1f}", f"{c.first_steps_overhead_seconds:.1f}",
            human_bytes(c.peak_memory_bytes),
            f"{100 * split.get('compute', 0):.0f}/{100 * split.get('memory', 0):.0f}/{100 * split.get('other', 0):.0f}",
        ])
    lines.append(table(rows, ["model", "size", "batch", "precision", "data", "train img/s",
                              "eval img/s", "warm-up s", "peak mem", "cmp/mem/oth %"],
                       "lrrlllrrrr"))
    from advisor.estimate import kernel_time_note

    for c in profile.calibrations:
        kernel = kernel_time_note(c)
        for n in (*c.notes, *([kernel] if kernel else [])):
            lines.extend(textwrap.wrap(f"note ({c.key.model} {c.key.data_source}): {n}", WIDTH,
                                       initial_indent="  ", subsequent_indent="    "))
    if profile.distributed is not None:
        lines.extend(distributed_summary(profile.distributed))
    for node in profile.cluster:
        lines.append(f"  machine {node.get('hostname')}: {node.get('device_name')}, "
                     f"{node.get('train_images_per_s', 0):.1f} train img/s")
    lines.extend(f"Note: {n}" for n in profile.notes)
    return "\n".join(lines)


def _hidden_share(d) -> str:
    """How much of the all-reduce the DDP step hid behind backward, in words."""
    from advisor.distributed import ddp_buckets

    comm = d.comm_model()
    total = sum(comm.allreduce_seconds(b) for b in ddp_buckets(d.gradient_bytes))
    extra = d.ddp_step_seconds.median - d.compute_step_seconds.median
    if total <= 0:
        return "no all-reduce to hide"
    if extra > total:
        return f"and the step lost {extra / total:.1f}x the all-reduce time: communication slowed the computation"
    return f"{100 * (1 - max(0.0, extra) / total):.0f} % of the {1000 * total:.0f} ms all-reduce hidden behind backward"


def distributed_summary(d) -> list[str]:
    threads = f", {d.threads_per_rank} thread(s) each" if d.threads_per_rank else ""
    lines = [f"Data-parallel: {d.world} ranks on {d.nodes} machine(s), {d.backend}{threads}",
             f"  all-reduce: latency {d.latency_s * 1e6:.0f} us, bus bandwidth "
             f"{rate(d.bus_bytes_per_s, 'B/s')} (fitted over {len(d.allreduce)} sizes, "
             f"{human_bytes(d.allreduce[0].nbytes)} to {human_bytes(d.allreduce[-1].nbytes)})"]
    if d.key is not None and d.ddp_step_seconds is not None:
        k = d.key
        lines.append(
            f"  DDP step of {k.model} {k.image_size}px batch {k.batch_size} per rank: "
            f"{d.ddp_step_seconds.median:.3f} s against {d.compute_step_seconds.median:.3f} s without "
            f"communication;\n    {human_bytes(d.gradient_bytes)} of gradients, " + _hidden_share(d))
    return lines
