"""Predicting a training step on hardware that is not here. Pure: no torch, no I/O.

The workload's counted work (opcount: FLOPs and bytes per op, binned by class and arithmetic
intensity) is timed on the target's datasheet with a roofline: each bin is bound by arithmetic at
the peak of the path its precision takes (TF32/FP16/BF16 tensor cores or plain FP32), by memory
bandwidth, or by the host's per-op dispatch and launch cost, whichever is longest. The fractions
of the peaks that real training reaches (`Efficiency`) are fitted, not assumed: from reference
profiles measured on real GPUs when there are some, else from public ResNet-50 throughputs
(benchmarks/cross_hardware.py fits and cross-validates them).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace

from advisor.cloud.catalog import GpuSpec
from advisor.model.cost import COMPUTE_CLASSES, PhaseCost
from advisor.model.notes import Note, warning


@dataclass(frozen=True)
class Efficiency:
    """Fractions of datasheet peaks a training step reaches, and the per-op host cost."""

    tensor: float  # of the tensor-core peak (TF32, FP16, BF16)
    simt: float  # of the plain FP32 peak
    memory: float  # of the memory bandwidth
    launch_s: float  # seconds of host time per op (Python, dispatcher, kernel launch)
    source: str = ""
    # extra traffic of 16-bit tensor-core convolutions on NCHW tensors, in multiples of what the
    # convolution itself moves (see NCHW transposes below)
    nchw_transpose: float = 0.0


# Fitted by benchmarks/cross_hardware.py to public ResNet-50 training throughputs (its
# leave-one-GPU-out cross-validation is in benchmarks/results/cross_hardware.md). The fitted
# values absorb counting conventions (every op's inputs and outputs counted as memory traffic, no
# fusion or caching), so they are model constants rather than physical efficiencies. The host
# time per op (launch_s) was fitted to a reference GPU's steps (docs/method.md).
DEFAULT_GPU_EFFICIENCY = Efficiency(tensor=0.6, simt=1.0, memory=0.4, launch_s=60e-6,
                                    source="fitted to public ResNet-50 throughputs",
                                    nchw_transpose=1.0)
# Where measured times fell around the predictions, leave-one-GPU-out and on models not fitted to
# (docs/method.md).
GPU_BAND = (0.6, 1.75)


@dataclass(frozen=True)
class ComputePath:
    """How a class of ops runs on a GPU at a precision."""

    name: str  # "tf32 tensor cores", "fp16 tensor cores", "fp32", ...
    peak_flops_per_s: float
    tensor: bool


def compute_path(spec: GpuSpec, op_class: str, precision: str) -> tuple[ComputePath, str | None]:
    """The arithmetic path of `op_class` ("conv", "matmul", "memory") at `precision`, and a note
    when the precision cannot run as asked on this GPU."""
    cc = spec.compute_capability
    fp32 = ComputePath("fp32", spec.fp32_flops_per_s, False)
    if op_class not in COMPUTE_CLASSES:
        return fp32, None
    tf32 = ComputePath("tf32 tensor cores", spec.tf32_tensor_flops_per_s, True) if spec.tf32_tensor_flops_per_s else None
    fp16 = ComputePath("fp16 tensor cores", spec.fp16_tensor_flops_per_s, True) if spec.fp16_tensor_flops_per_s else None
    bf16 = ComputePath("bf16 tensor cores", spec.bf16_tensor_flops_per_s, True) if spec.bf16_tensor_flops_per_s else None
    if precision == "fp32-strict":
        return fp32, None
    if precision in ("fp32", "tf32"):
        # PyTorch's default: TF32 for convolutions (cudnn) but not matmuls; `tf32` enables both
        wants_tf32 = cc >= (8, 0) and (op_class == "conv" or precision == "tf32")
        if wants_tf32 and tf32 is None:
            return fp32, f"{spec.name}: TF32 peak not in the catalog; FP32 peak used"
        return (tf32 if wants_tf32 else fp32), None
    if precision == "amp-fp16":
        if cc < (7, 0):
            return fp32, f"{spec.name} has no tensor cores (compute capability {cc[0]}.{cc[1]}); fp16 runs at the FP32 rate"
        if fp16 is None:
            return fp32, f"{spec.name}: FP16 tensor-core peak not in the catalog; FP32 peak used"
        return fp16, None
    if precision == "amp-bf16":
        if cc < (8, 0):
            note = f"{spec.name} has no bf16 before Ampere: estimated as amp-fp16"
            path, _ = compute_path(spec, op_class, "amp-fp16")
            return path, note
        if bf16 is None:
            return fp32, f"{spec.name}: BF16 tensor-core peak not in the catalog; FP32 peak used"
        return bf16, None
    return fp32, None


# NCHW transposes: cuDNN's 16-bit tensor-core convolutions work in NHWC, so on PyTorch's default
# NCHW tensors many of them transpose their activations in and out (at most one read and one
# write of each: twice the traffic the convolution counts). `channels_last` models avoid it;
# FP32 and TF32 convolutions run on NCHW directly. How much of it happens is fitted
# (Efficiency.nchw_transpose) to public AMP throughputs measured in both layouts.
HALF_PRECISIONS = frozenset({"amp-fp16", "amp-bf16"})


def gpu_phase_breakdown(cost: PhaseCost, spec: GpuSpec, precision: str, eff: Efficiency,
                        channels_last: bool = False) -> dict[str, float]:
    """Roofline time of one phase of a step on `spec`: each bin's device time bound by
    "compute" (arithmetic) or "memory" (bandwidth), and "other", the host time per op beyond
    the device's. The host issues kernels asynchronously, so its time shows only where it
    exceeds what the device has queued: small batches, fast GPUs."""
    parts = {"compute": 0.0, "memory": 0.0, "other": 0.0}
    bandwidth = spec.memory_bandwidth_bytes_per_s * eff.memory
    transposes = not channels_last and precision in HALF_PRECISIONS
    for b in cost.bins:
        path, _ = compute_path(spec, b.op_class, precision)
        rate = path.peak_flops_per_s * (eff.tensor if path.tensor else eff.simt)
        times = {"compute": b.flops / rate, "memory": b.bytes / bandwidth}
        bound = max(times, key=times.get)
        parts[bound] += times[bound]
        if transposes and path.tensor and b.op_class == "conv":
            parts["memory"] += eff.nchw_transpose * b.bytes / bandwidth
    host = sum(b.ops for b in cost.bins) * eff.launch_s
    parts["other"] = max(0.0, host - parts["compute"] - parts["memory"])
    return parts


def gpu_phase_seconds(cost: PhaseCost, spec: GpuSpec, precision: str, eff: Efficiency,
                      channels_last: bool = False) -> float:
    """Roofline time of one phase of a step on `spec`."""
    return sum(gpu_phase_breakdown(cost, spec, precision, eff, channels_last).values())


def precision_notes(spec: GpuSpec, precision: str) -> list[Note]:
    notes = []
    for op_class in COMPUTE_CLASSES:
        _, text = compute_path(spec, op_class, precision)
        if text and all(n.text != text for n in notes):
            notes.append(warning("precision-path", text))
    return notes


def scale_to_reference(eff: Efficiency, measured_s: list[float], predicted_s: list[float],
                       source: str) -> Efficiency:
    """`eff` slowed (or sped up) by the median ratio of a reference GPU's measured step times to
    what `eff` predicts for them: every bound of the roofline scales alike, so the step does
    (fitting each efficiency to the reference's profiler split did worse; docs/method.md)."""
    ratio = statistics.median(m / p for m, p in zip(measured_s, predicted_s))
    return replace(eff, tensor=eff.tensor / ratio, simt=eff.simt / ratio, memory=eff.memory / ratio,
                   launch_s=eff.launch_s * ratio, source=f"{source}: {1 / ratio:.2f}x the default speed")
