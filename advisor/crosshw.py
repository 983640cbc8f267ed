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

import math
import statistics
from dataclasses import dataclass, replace

from advisor.calibrate import GPU_FIRST_STEP_FLOOR_S
from advisor.catalog import GpuSpec
from advisor.opcount import COMPUTE_CLASSES, PhaseCost, StepCost


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


# Fitted by benchmarks/cross_hardware.py to public ResNet-50 training throughputs
# (prior-art.md §3: Lambda and NVIDIA DeepLearningExamples, 7 GPUs, FP32/TF32 and AMP, NCHW and
# NHWC); its leave-one-GPU-out cross-validation is in benchmarks/results/cross_hardware.md.
# The fitted values absorb counting conventions (every op's inputs and outputs counted as memory
# traffic, no fusion or caching), so they are model constants rather than physical efficiencies.
# The host time per op (launch_s) is the H200 reference profile's: its steps at batch 16-128 left
# the GPU idle up to 85 % of the time; where it waited most, the host (Python, autograd,
# dispatch, launches) took 50-85 µs per counted op; 60 fits its 21 measured phases best
# (median |error| 14 %).
DEFAULT_GPU_EFFICIENCY = Efficiency(tensor=0.6, simt=1.0, memory=0.4, launch_s=60e-6,
                                    source="fitted to public ResNet-50 throughputs",
                                    nchw_transpose=1.0)
# Leave-one-GPU-out on ResNet-50, the measured time of a prediction fell between 0.77x and
# 1.52x of it; on models not fitted to (EfficientNet-B0, ResNeXt-101 32x4d) down to 0.62x, where
# grouped and depthwise convolutions run in TF32/FP32; whole training runs on an H200 predicted
# from a CPU-only profile, 0.75x-1.74x (short runs: the set-up's spread). The band covers them.
GPU_BAND = (0.6, 1.75)

# Set-up on a GPU. The first step of a process pays about a second (CUDA context, library
# handles, allocator growth) plus cuDNN's autotuning (cudnn.benchmark) of every convolution,
# forward and backward; each new batch shape autotunes again. Fitted to the set-up 11 training
# runs paid on an H200 (2026-11-26, resnet18 to efficientnet_b0 and vit_b_16): the model gave
# 0.57-1.65x of it. Convolution-free models (vit_b_16) pay the base alone
# (GPU_FIRST_STEP_FLOOR_S, which same-device estimates use too).
GPU_AUTOTUNE_S_PER_CONV_OP = 0.036


def gpu_setup_seconds(cost: StepCost) -> dict[str, float]:
    """One-time set-up of a training run on a GPU: the first steps, a new training batch shape
    and a new validation batch shape. The fit above is of whole runs, most with a partial
    validation batch, so the last is inside the others."""
    conv_ops = sum(b.ops for b in cost.train.bins if b.op_class == "conv")
    train = GPU_AUTOTUNE_S_PER_CONV_OP * conv_ops
    return {"first_steps": GPU_FIRST_STEP_FLOOR_S + train, "new_shape": train, "new_shape_eval": 0.0}


@dataclass(frozen=True)
class Path:
    """How a class of ops runs on a GPU at a precision."""

    name: str  # "tf32 tensor cores", "fp16 tensor cores", "fp32", ...
    peak_flops_per_s: float
    tensor: bool


def compute_path(spec: GpuSpec, op_class: str, precision: str) -> tuple[Path, str | None]:
    """The arithmetic path of `op_class` ("conv", "matmul", "memory") at `precision`, and a note
    when the precision cannot run as asked on this GPU."""
    cc = spec.compute_capability
    fp32 = Path("fp32", spec.fp32_flops_per_s, False)
    if op_class not in COMPUTE_CLASSES:
        return fp32, None
    tf32 = Path("tf32 tensor cores", spec.tf32_tensor_flops_per_s, True) if spec.tf32_tensor_flops_per_s else None
    fp16 = Path("fp16 tensor cores", spec.fp16_tensor_flops_per_s, True) if spec.fp16_tensor_flops_per_s else None
    bf16 = Path("bf16 tensor cores", spec.bf16_tensor_flops_per_s, True) if spec.bf16_tensor_flops_per_s else None
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


def precision_notes(spec: GpuSpec, precision: str) -> list[str]:
    notes = []
    for op_class in COMPUTE_CLASSES:
        _, note = compute_path(spec, op_class, precision)
        if note and note not in notes:
            notes.append(note)
    return notes


def scale_to_reference_impl(eff: Efficiency, measured_s: list[float], predicted_s: list[float],
                            source: str) -> Efficiency:
    """`eff` slowed (or sped up) by the median ratio of a reference GPU's measured step times to
    what `eff` predicts for them: every bound of the roofline scales alike, so the step does.

    Fitting each efficiency to a reference step's profiler split instead was tried on the H200
    reference: it put H100 SXM ResNet-50 (batch 256) at 0.67x (fp32) and 0.76x (AMP) of Lambda's
    published throughputs. At Lambda's batches the public fit alone gives 1.16x, 1.17x (SXM) and
    1.04x, 1.01x (PCIe); scaled by the H200 reference, 1.01x, 1.02x and 0.91x, 0.87x.
    """
    ratio = statistics.median(m / p for m, p in zip(measured_s, predicted_s))
    return replace(eff, tensor=eff.tensor / ratio, simt=eff.simt / ratio, memory=eff.memory / ratio,
                   launch_s=eff.launch_s * ratio, source=f"{source}: {1 / ratio:.2f}x the default speed")


# -- the input pipeline on a target ------------------------------------------------------------

# DataLoader throughput relative to one process, by worker count, for pets-size JPEGs with
# RandomResizedCrop(224) + flip + normalize, measured on 16 vCPUs (prior-art.md §5:
# 280, 550, 840, 1330, 1660 images/s with 0, 2, 4, 8, 15 workers): sublinear past a few workers.
LOADER_SCALING = ((1, 1.0), (2, 1.96), (4, 3.0), (8, 4.75), (15, 5.93))
DEFAULT_DECODE_IMAGES_PER_S = 280.0  # one process, the same measurement


def loader_images_per_s(vcpus: int, per_process_images_per_s: float) -> float:
    """What a DataLoader using every vCPU delivers, interpolated in log-log on the measured curve."""
    n = max(1, vcpus)
    points = LOADER_SCALING
    if n >= points[-1][0]:
        (n0, r0), (n1, r1) = points[-2], points[-1]
    else:
        (n0, r0), (n1, r1) = next((a, b) for a, b in zip(points, points[1:]) if a[0] <= n <= b[0])
    slope = math.log(r1 / r0) / math.log(n1 / n0)
    return per_process_images_per_s * r0 * (n / n0) ** slope
