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
                     {"per_second_min_60s": "per s", "compute_units": "CU", "hourly": "hour"}.get(o.billing, o.billing),
                     f"{o.runtime_limit_hours:g} h" if o.runtime_limit_hours else "-", link, o.as_of.isoformat()])
    return (table(body, ["offer", "GPU", "vCPU", "$/h", "spot", "bill", "limit", "GPU link", "as of"],
                  "llrrrlrll")
            + "\n" + "\n".join(textwrap.wrap(
                "$/h on demand, spot $/h. bill: per s = per second after a 1-minute minimum, hour = by "
                "the started hour, CU = Colab compute units. GPU link: between the GPUs of one machine, "
                "nvl = NVLink, pcie = PCIe (? = assumed, not published); +NG: Gbit/s between machines, "
                "where published.", WIDTH)))
