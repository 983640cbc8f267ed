"""The catalog's GPUs and offers as tables, JSON or CSV."""

from __future__ import annotations

import json
import textwrap

from advisor.model.units import money
from advisor.render.text import WIDTH, frame_csv, short_gpu, table


def gpus_output(catalog, fmt: str) -> str:
    rows = [g.to_dict() for g in catalog.gpus.values()]
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        return frame_csv(rows)

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
        return frame_csv(rows)
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
                     {"per_second_min_60s": "sec", "compute_units": "CU", "hourly": "hour"}.get(o.billing, o.billing),
                     f"{o.runtime_limit_hours:g} h" if o.runtime_limit_hours else "-", link, o.as_of.isoformat()])
    return (table(body, ["offer", "GPU", "vCPU", "$/h", "spot", "bill", "limit", "GPU link", "as of"],
                  "llrrrlrll")
            + "\n" + "\n".join(textwrap.wrap(
                "$/h on demand, spot $/h. bill: sec = per second after a 1-minute minimum, hour = by "
                "the started hour, CU = Colab compute units. GPU link: between the GPUs of one machine, "
                "nvl = NVLink, pcie = PCIe (? = assumed, not published); +NG: Gbit/s between machines, "
                "where published.", WIDTH)))


def check_output(catalog, findings, max_age_days: int, fmt: str) -> str:
    """`advisor catalog check`: what needs work first, then what is kept and why."""
    if fmt == "json":
        return json.dumps({"max_age_days": max_age_days, "offers": len(catalog.offers),
                           "failing": sum(f.fails for f in findings),
                           "findings": [f.to_dict() for f in findings]}, indent=2)
    failing = [f for f in findings if f.fails]
    kept = [f for f in findings if not f.fails]
    lines = []
    if failing:
        lines.append(f"{len(failing)} problem(s) in {len({f.offer for f in failing})} offer(s):")
        lines += [_wrapped(f"{f.offer}: {f.text} [{f.kind}]") for f in failing]
        lines.append("")
    if kept:
        lines.append(f"{len(kept)} offer(s) older than {max_age_days} days, kept at their last known price:")
        lines += [_wrapped(f"{f.offer}: {f.text}") for f in kept]
        lines.append("")
    if failing:
        lines.append(f"Catalog check needs work: {len(failing)} problem(s) above; advisor/cloud/data/README.md "
                     "says what each field means.")
    else:
        lines.append(f"Catalog check passes: {len(catalog.offers)} offers, every price within {max_age_days} days "
                     "or kept with its reason, every source given, every machine's vCPUs and memory given or "
                     "recorded as unknown.")
    return "\n".join(lines)


def _wrapped(text: str) -> str:
    return textwrap.fill(text, WIDTH, initial_indent="  ", subsequent_indent="    ")
