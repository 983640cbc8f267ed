"""Predicting a training step on a GPU that is not here. Pure: no torch, no I/O.

A step has two sides that run at once. The host (Python, autograd, the dispatcher) issues each
op and launches its kernel, asynchronously; the device runs the kernels. The step takes about
the longer of the two: the host where kernels are small (small batches, small images, many small
ops, fast GPUs), the device where they are large.

- Device: the workload's counted work (advisor.measure.opcount: FLOPs and bytes per op, binned by
  class and arithmetic intensity) on the target's datasheet. Each bin is bound by arithmetic, at
  the peak of the path its precision takes (TF32 convolutions but FP32 matmuls under PyTorch's
  default fp32; FP16/BF16 tensor cores under autocast; depthwise convolutions on no tensor
  cores, at a small share of the FP32 peak; a convolution on the FP32 units where those are
  faster, as cuDNN's autotuning finds), or by memory bandwidth. Each kernel adds a fixed
  cost. The optimizer runs as PyTorch's multi-tensor ("foreach") kernels.
- Host: a cost per dispatched op, per trained parameter tensor (its gradient's ops and autograd
  nodes, zero_grad, the optimizer's lists) and per step; autocast adds cast ops per forward
  matmul and convolution. An evaluation pass has its own cost per op (every op is a forward
  op, issued from Python), overlaps host and device more fully than a training step, and its
  bandwidth-bound kernels, forward ones alone, move closer to what is counted.

The constants (`Efficiency`) are fitted by benchmarks/gpu_step_model.py to steady-state training
steps measured on an H200 and to published ResNet-50 throughputs, and scored leave-one-model-out
and leave-one-GPU-out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from advisor.cloud.catalog import GpuSpec
from advisor.model.cost import COMPUTE_CLASSES, PhaseCost, StageOps, StepCost
from advisor.model.notes import Note, warning


@dataclass(frozen=True)
class Efficiency:
    """The step model's constants: fractions of datasheet peaks real training reaches, and what
    the host and each kernel cost. Model constants rather than physical efficiencies: they absorb
    counting conventions (every op's inputs and outputs counted as traffic, no fusion)."""

    conv_tensor: float  # of the tensor-core peak, convolutions (cuDNN)
    matmul_tensor: float  # of the tensor-core peak, matmuls (cuBLAS)
    simt: float  # of the plain FP32 peak
    memory: float  # of the memory bandwidth
    half_intensity: float  # FLOPs per byte at which a matmul or convolution reaches half its rate
    kernel_s: float  # device time per kernel beyond its work (launch, ramp, tail)
    host_op_s: float  # host time per dispatched op (Python, autograd, dispatcher, launch)
    host_step_s: float  # host time per training step beyond its ops (optimizer, autograd engine)
    overlap: float  # exponent of the soft maximum of host and device time: larger, closer to max
    cast_ops: float  # ops autocast adds per forward matmul or convolution (casts and their grads)
    # extra traffic of 16-bit tensor-core convolutions on NCHW tensors, in multiples of what the
    # convolution itself moves (see NCHW transposes below)
    nchw_transpose: float = 0.0
    # of the 16-bit tensor-core peak, convolutions under autocast (None: as conv_tensor)
    half_conv_tensor: float | None = None
    # of the plain FP32 peak, depthwise convolutions in FP32 and under autocast (None: as simt)
    depthwise: float | None = None
    half_depthwise: float | None = None
    # host time per trained parameter tensor beyond its ops: its gradient's autograd node,
    # zero_grad, the optimizer's bookkeeping
    host_tensor_s: float = 0.0
    # an evaluation pass (forward only, no_grad): host time per op, each issued from a Python
    # module's forward (None: host_op_s), and the soft maximum's exponent: a forward-only pass
    # overlaps host and device almost fully (None: overlap)
    host_eval_op_s: float | None = None
    eval_overlap: float | None = None
    # of the memory bandwidth, an evaluation pass's kernels bound by it (None: memory): eval-mode
    # ops (batch norm as one affine pass, no saved activations) move about what is counted, where
    # a training step's move more (batch statistics, backward ops rereading what they saved)
    eval_memory: float | None = None
    source: str = ""


# Fitted by benchmarks/gpu_step_model.py to steady-state steps measured on an H200 (7 models,
# batch 16-256, 128-320 px, four precisions), to published throughputs (ResNet-50 on 8 GPUs,
# EfficientNet-B0/B4 and ResNeXt-101 on A100 and V100) and to the validation passes of the H200's
# and H100's reference profiles; the evaluation pass's constants then again, with eval_memory, to
# those passes and to published forward passes (EfficientNet on A100 and V100, ResNet-50 on V100
# and T4, 21 models on an RTX 4090 and an RTX 3090).
# benchmarks/results/gpu_step_model.md scores each row with constants fitted without its model
# or GPU. host_op_s and kernel_s are set, not fitted (the sweep cannot tell them from the
# per-tensor and per-step costs). The host figures are the H200 machine's (a 16-vCPU Xeon);
# other hosts are assumed alike.
DEFAULT_GPU_EFFICIENCY = Efficiency(
    conv_tensor=0.241, half_conv_tensor=0.585, matmul_tensor=1.0, simt=0.689, depthwise=0.0252,
    half_depthwise=0.0717, memory=0.624, half_intensity=0.0, kernel_s=2e-6, host_op_s=5e-6, host_step_s=1.41e-3,
    host_tensor_s=80.8e-6, overlap=1.80, cast_ops=18.2, nchw_transpose=2.21, host_eval_op_s=30.6e-6,
    eval_overlap=2.63, eval_memory=1.13,
    source="step model fitted to GPU steps and validation passes measured on an H200 and an H100, and "
           "published throughputs")
# Where measured times fell around the predictions (docs/method.md).
GPU_BAND = (0.6, 1.75)


@dataclass(frozen=True)
class StepParts:
    """One phase of a step on a GPU: the device's time by what bounds it, and the host's."""

    compute_s: float  # kernels bound by arithmetic
    memory_s: float  # kernels bound by bandwidth (NCHW transposes included)
    kernels_s: float  # the fixed cost of every kernel
    host_s: float  # issuing the ops
    seconds: float  # the step, host and device overlapping

    @property
    def device_s(self) -> float:
        return self.compute_s + self.memory_s + self.kernels_s

    @property
    def bound(self) -> str:
        """"host" where issuing the ops takes longer than running them, else "compute" or
        "memory", whichever takes most of the device's time."""
        if self.host_s >= self.device_s:
            return "host"
        return "compute" if self.compute_s >= self.memory_s + self.kernels_s else "memory"


@dataclass(frozen=True)
class ComputePath:
    """How a class of ops runs on a GPU at a precision."""

    name: str  # "tf32 tensor cores", "fp16 tensor cores", "fp32", ...
    peak_flops_per_s: float
    tensor: bool


# op classes that run on tensor cores where the precision allows; depthwise convolutions do not
TENSOR_CLASSES = ("conv", "matmul")


def compute_path(spec: GpuSpec, op_class: str, precision: str) -> tuple[ComputePath, str | None]:
    """The arithmetic path of `op_class` ("conv", "matmul", "memory") at `precision`, and a note
    when the precision cannot run as asked on this GPU."""
    cc = spec.compute_capability
    fp32 = ComputePath("fp32", spec.fp32_flops_per_s, False)
    if op_class not in TENSOR_CLASSES:
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


def gpu_phase(cost: PhaseCost, spec: GpuSpec, precision: str, eff: Efficiency, *,
              channels_last: bool = False, cast_ops: float = 0.0, training: bool = True) -> StepParts:
    """One phase of a step on `spec`. `cast_ops`: ops autocast adds to this phase (the caller
    counts them from the forward's matmuls and convolutions); `training`: whether the phase pays
    the per-step host cost of backward and the optimizer."""
    compute = memory = 0.0
    launches = 0
    bandwidth = spec.memory_bandwidth_bytes_per_s * memory_share(eff, training)
    transposes = not channels_last and precision in HALF_PRECISIONS
    for b in cost.bins:
        if b.flops <= 0 and b.bytes <= 0:
            continue  # allocations and reshapes: dispatched, but no kernel
        path, _ = compute_path(spec, b.op_class, precision)
        rate = path.peak_flops_per_s * _share(eff, b.op_class, precision, path.tensor)
        tensor = path.tensor
        if b.op_class == "conv" and tensor and spec.fp32_flops_per_s * eff.simt > rate:
            # cuDNN's autotuning takes the faster kernel: where the tensor cores are only a few
            # times the FP32 units (TF32 on most workstation GPUs), FP32 kernels can win
            rate, tensor = spec.fp32_flops_per_s * eff.simt, False
        if b.op_class in TENSOR_CLASSES and b.bytes > 0:
            intensity = b.flops / b.bytes
            rate *= intensity / (intensity + eff.half_intensity)
        moved = b.bytes * (1 + eff.nchw_transpose) if transposes and tensor and b.op_class == "conv" else b.bytes
        arithmetic, traffic = b.flops / rate, moved / bandwidth
        if arithmetic >= traffic:
            compute += arithmetic
        else:
            memory += traffic
        launches += b.ops
    dispatched = cost.ops + cast_ops
    tensors = 0
    if cost.stages is not None:
        calls, kernels = foreach_optimizer(cost.stages)
        dispatched += calls - cost.stages.optimizer
        launches += kernels - cost.stages.optimizer
        tensors = cost.stages.tensors
    kernels = launches * eff.kernel_s
    if training:
        host = eff.host_op_s * dispatched + eff.host_step_s + eff.host_tensor_s * tensors
        overlap = eff.overlap
    else:  # autocast's casts are issued from C++, at the cost of any op
        host = eval_op_seconds(eff) * (dispatched - cast_ops) + eff.host_op_s * cast_ops
        overlap = eff.overlap if eff.eval_overlap is None else eff.eval_overlap
    device = compute + memory + kernels
    top = max(host, device)
    seconds = top * ((host / top) ** overlap + (device / top) ** overlap) ** (1 / overlap) if top else 0.0
    return StepParts(compute, memory, kernels, host, seconds)


def memory_share(eff: Efficiency, training: bool) -> float:
    """The share of the memory bandwidth that a training step's, or an evaluation pass's,
    bandwidth-bound kernels reach."""
    return eff.memory if training or eff.eval_memory is None else eff.eval_memory


def eval_op_seconds(eff: Efficiency) -> float:
    """Host time per op of an evaluation pass."""
    return eff.host_op_s if eff.host_eval_op_s is None else eff.host_eval_op_s


# multi_tensor_apply (ATen/native/cuda/MultiTensorApply.cuh) launches a kernel when a launch's
# tensor list or its blocks of 65536 elements fill; lists hold 36-110 tensors by how many lists
# the op takes (48 for an update reading two and writing one)
FOREACH_TENSORS_PER_LAUNCH = 48
FOREACH_ELEMENTS_PER_LAUNCH = 320 * 65536


def foreach_optimizer(st: StageOps) -> tuple[float, float]:
    """Ops dispatched and kernels launched by the optimizer step of `st` (counted as a
    per-parameter loop) as PyTorch runs it on a GPU by default: one multi-tensor op per
    per-parameter op, each over every parameter."""
    calls = st.optimizer_ops_per_tensor
    per_call = max(math.ceil(st.tensors / FOREACH_TENSORS_PER_LAUNCH),
                   math.ceil(st.elements / FOREACH_ELEMENTS_PER_LAUNCH), 1 if st.tensors else 0)
    return calls, calls * per_call


def _share(eff: Efficiency, op_class: str, precision: str, tensor: bool) -> float:
    """The share of its path's peak that an op class reaches."""
    half = precision in HALF_PRECISIONS
    if op_class == "depthwise":
        share = eff.half_depthwise if half else eff.depthwise
        return eff.simt if share is None else share
    if not tensor:
        return eff.simt
    if op_class != "conv":
        return eff.matmul_tensor
    if half and eff.half_conv_tensor is not None:
        return eff.half_conv_tensor
    return eff.conv_tensor


def autocast_ops(forward: PhaseCost, precision: str, eff: Efficiency) -> float:
    """Ops autocast adds to a training step: casts of each forward matmul's and convolution's
    inputs, and their gradients."""
    if precision not in HALF_PRECISIONS:
        return 0.0
    compute_ops = sum(b.ops for b in forward.bins if b.op_class in COMPUTE_CLASSES)
    return eff.cast_ops * compute_ops


def gpu_phase_seconds(cost: PhaseCost, spec: GpuSpec, precision: str, eff: Efficiency,
                      channels_last: bool = False, cast_ops: float = 0.0, training: bool = True) -> float:
    """One phase of a step on `spec`, in seconds."""
    return gpu_phase(cost, spec, precision, eff, channels_last=channels_last, cast_ops=cast_ops,
                     training=training).seconds


PHASES = ("train", "eval", "frozen")


def gpu_steps(cost: StepCost, spec: GpuSpec, precision: str, eff: Efficiency,
              channels_last: bool = False, phases: tuple[str, ...] = PHASES) -> dict[str, StepParts]:
    """A workload's steps on `spec` as training runs them (`phases` of them): a training step, an
    evaluation step (forward only: half the casts, no optimizer) and a step with the body frozen."""
    casts = autocast_ops(cost.eval, precision, eff)
    return {name: gpu_phase(getattr(cost, name), spec, precision, eff, channels_last=channels_last,
                            cast_ops=casts / 2 if name == "eval" else casts, training=name != "eval")
            for name in phases}


def precision_notes(spec: GpuSpec, precision: str) -> list[Note]:
    notes = []
    for op_class in COMPUTE_CLASSES:
        _, text = compute_path(spec, op_class, precision)
        if text and all(n.text != text for n in notes):
            notes.append(warning("precision-path", text))
    return notes
