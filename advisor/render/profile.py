"""A saved profile, summarised for people."""

from __future__ import annotations

import textwrap

from advisor.model.units import human_bytes, rate
from advisor.predict.whole_run import kernel_time_note
from advisor.render.text import WIDTH, table


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
    # hardware lines name long things (OS builds, GPU facts): wrapped to the tables' width
    lines = [w for line in lines for w in textwrap.wrap(line, WIDTH, subsequent_indent=" " * 10)]
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
        split = c.op_split
        rows.append([
            c.key.describe(),
            f"{c.train_images_per_s:.1f} ±{100 * c.train_step_seconds.relative_iqr / 2:.0f}%",
            f"{c.eval_images_per_s:.1f}", f"{c.first_steps_overhead_seconds:.1f}",
            human_bytes(c.training_memory_bytes),
            f"{100 * split.get('compute', 0):.0f} / {100 * split.get('memory', 0):.0f} / "
            f"{100 * split.get('other', 0):.0f}",
        ])
    lines.append(table(rows, ["workload", "training\nimages/s", "validation\nimages/s", "first steps\nseconds",
                              "peak\nmemory", "step time %: compute\n/ memory / other"], "lrrrrr"))
    for c in profile.calibrations:
        if c.host_train_step_seconds is not None:  # a GPU's: the host's side of a step, timed alone
            host, step = c.host_train_step_seconds.median, c.train_step_seconds.median
            text = (f"Host: {c.key.describe()} takes {1000 * host:.1f} ms to issue a training step, which "
                    f"takes {1000 * step:.1f} ms" + (" (bound by the host)" if host >= 0.9 * step else ""))
            lines.extend(textwrap.wrap(text, WIDTH, subsequent_indent="    "))
    for c in profile.calibrations:
        steady, first = c.steady_peak_memory_bytes, c.peak_memory_bytes
        if steady and first and first > 1.05 * steady:  # the peak column is the steady one
            text = (f"Memory: {c.key.describe()} held {human_bytes(first)} at most in its first steps "
                    f"(cuDNN's autotuning workspace, taken only while memory is free), {human_bytes(steady)} "
                    "training")
            lines.extend(textwrap.wrap(text, WIDTH, subsequent_indent="    "))
    tipped = set()
    for c in profile.calibrations:
        for n in c.notes:
            lines.extend(textwrap.wrap(f"Note ({c.key.describe()}): {n}", WIDTH, subsequent_indent="    "))
        if kernel_time_note(c) is not None and c.key.model not in tipped:  # once a model
            tipped.add(c.key.model)
            lines.append(f"Tip: {c.key.model} spends {100 * c.kernel_time_share:.0f} % of its CPU time in the kernel "
                         "mapping memory (see estimates).")
    if profile.distributed is not None:
        lines.extend(distributed_summary(profile.distributed))
    for node in profile.cluster:
        lines.append(f"  machine {node.get('hostname')}: {node.get('device_name')}, "
                     f"{node.get('train_images_per_s', 0):.1f} train img/s")
    lines.extend(w for n in profile.notes for w in textwrap.wrap(f"Note: {n}", WIDTH, subsequent_indent="    "))
    return "\n".join(lines)


def _hidden_share(d) -> str:
    """How much of the all-reduce the DDP step hid behind backward, in words."""
    from advisor.model.parallel import ddp_buckets

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
