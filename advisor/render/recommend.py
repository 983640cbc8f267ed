"""`advisor recommend`'s answer: a table for people, JSON and CSV for programs."""

from __future__ import annotations

import json
import textwrap

from advisor.model.units import hms, money
from advisor.render.text import WIDTH, frame_csv, short_gpu, table


def recommend_json(payload: dict) -> str:
    return json.dumps(payload, indent=2)


def recommend_csv(payload: dict) -> str:
    rows = []
    for o in payload["options"]:
        row = {k: v for k, v in o.items() if k not in ("breakdown_seconds", "notes", "note_details", "parallel")}
        parallel = o.get("parallel") or {}
        row["allreduce_seconds_per_step"] = parallel.get("allreduce_seconds_per_step")
        row["communication_source"] = parallel.get("communication_source")
        row["notes"] = "; ".join(o["notes"])
        rows.append(row)
    return frame_csv(rows)


MARKS = (("best", "B"), ("fastest", "F"), ("cheapest", "C"))


def workload_line(w: dict) -> str:
    layout = ", channels_last" if w.get("channels_last") else ""
    frozen = f" + {w['frozen_epochs']} frozen" if w["frozen_epochs"] else ""
    valid = w.get("eval_batch_size", w["batch_size"])
    batch = f"batch {w['batch_size']}" + (f" (validation {valid})" if valid != w["batch_size"] else "")
    return (f"{w['model']} {w['image_size']} px, {batch}, {w['precision']}{layout}, "
            f"{w['dataset_size']} images ({w['train_images']} train / {w['valid_images']} valid), "
            f"{w['epochs']} epoch(s){frozen}, {w['data_source']} data")


def _shown(options: list[dict], rec: dict, top: int | None) -> list[dict]:
    """The first `top` options, plus this machine, the marked ones and the GPUs asked for by name
    (`--target`) wherever they rank."""
    if top is None:
        return options
    keep = {"local", rec.get("best"), rec.get("fastest"), rec.get("cheapest")}
    return [o for i, o in enumerate(options) if i < top or o["id"] in keep or o["id"].startswith("target:")]


def _note_lines(prefix: str, notes: list[dict], hints: dict[str, str]) -> list[str]:
    lines = []
    for n in notes:
        hint = hints.get(n["code"])
        text = n["text"] + (f" ({hint})" if hint else "")
        lines += textwrap.wrap(f"{prefix}{text}", WIDTH, subsequent_indent="    ")
    return lines


def recommend_table(payload: dict, top: int | None = None, verbose: bool = False,
                    hints: dict[str, str] | None = None) -> str:
    """The answer first (the ranked options, marked best/fastest/cheapest, and the
    recommendation), then the warnings of this machine and of the recommended option; with
    `verbose`, every note of the options shown, the excluded offers and the GPU-count comparison.
    `hints` adds, by note code, how to act on a note (the CLI's flags)."""
    hints = hints or {}
    rec = payload["recommendation"]
    options = payload["options"]
    shown = _shown(options, rec, top)
    # the scaling column where data-parallel training was asked for (every GPU option has it) or
    # every detail was; otherwise "8x H100" already says how many GPUs an option has
    gpu_options = [o for o in shown if o["id"] != "local" and o.get("gpus_per_node") is not None
                   and not o["accelerator"].startswith("CPU")]
    parallel = any(o.get("scaling_efficiency") is not None for o in shown) and (
        verbose or all(o.get("scaling_efficiency") is not None for o in gpu_options))
    rows = []
    for o in shown:
        mark = "".join(letter for key, letter in MARKS if rec.get(key) == o["id"])
        row = [mark, o["id"], short_gpu(o["accelerator"])[:17], hms(o["seconds"]),
               f"{hms(o['seconds_low'])}-{hms(o['seconds_high'])}",
               money(o["cost_usd"]) + ("*" if o.get("sessions", 1) > 1 else ""),
               o.get("bound", o["bottleneck"]), "yes" if o["fits_memory"] else "NO"]
        if verbose:
            row.insert(5, f"{o['train_images_per_s']:.0f}")
        if parallel:
            eff = o.get("scaling_efficiency")
            row.append("-" if eff is None else f"{100 * eff:.0f}%")
        rows.append(row)
    headers = ["", "option", "accelerator", "time", "band (h:mm:ss)", "cost", "bound", "fits"]
    align = "lllrrrll"
    if verbose:
        headers.insert(5, "img/s")
        align = "lllrrrrll"
    if parallel:
        headers.append("scaling")
        align += "r"
    lines = textwrap.wrap(workload_line(payload["workload"]), WIDTH, subsequent_indent="  ") + [""]
    lines.append(table(rows, headers, align) if rows else "(no option meets the constraints)")
    legend = f"B best by {rec.get('objective', 'balanced')}, F fastest, C cheapest"
    if any(o.get("sessions", 1) > 1 for o in shown):
        legend += "; * needs checkpoint and resume across sessions"
    if parallel:
        legend += "; scaling: data-parallel images/s against each GPU (or process) alone"
    lines += textwrap.wrap(legend, WIDTH)
    lines += [""] + textwrap.wrap(f"Recommendation: {rec['reason']}", WIDTH)

    by_id = {o["id"]: o for o in options}
    subjects = [("this machine", by_id.get("local"))]
    if rec.get("best") not in (None, "local"):
        subjects.append((rec["best"], by_id.get(rec["best"])))
    notes_shown = 0
    hidden = 0
    for name, o in subjects + ([] if not verbose else [(x["id"], x) for x in shown if x["id"] not in
                                                      {"local", rec.get("best")}]):
        if o is None:
            continue
        details = o["note_details"]
        wanted = details if verbose else [n for n in details if n["severity"] == "warning"]
        hidden += len(details) - len(wanted)
        if wanted:
            lines += [""] if not notes_shown else []
            lines += _note_lines(f"{name}: ", wanted, hints)
            notes_shown += len(wanted)
    for warning in payload.get("warnings", []):
        lines += textwrap.wrap(f"Warning: {warning}", WIDTH, subsequent_indent="    ")
    if verbose:
        for x in payload.get("excluded", []):
            lines += textwrap.wrap(f"Excluded {x['id']}: {x['reason']}", WIDTH, subsequent_indent="    ")
        if rec.get("gpu_count_comparison"):
            lines += textwrap.wrap(f"GPU count: {rec['gpu_count_comparison']}", WIDTH)
    else:
        more = []
        if len(options) > len(shown):
            n = len(options) - len(shown)
            more.append(f"{n} more option{'s' if n != 1 else ''}")
        if payload.get("excluded"):
            more.append(f"{len(payload['excluded'])} excluded")
        if hidden:
            more.append(f"{hidden} note{'s' if hidden != 1 else ''}")
        if more:
            hint = hints.get("not-shown")
            lines += [""] + textwrap.wrap("Not shown: " + ", ".join(more) + (f" ({hint})" if hint else "") + ".", WIDTH)
    return "\n".join(lines)
