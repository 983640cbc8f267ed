"""A training step's counted work, per op class and arithmetic intensity: the records.

Ops fall into two classes, the split that cross-hardware scaling needs: `compute` (convolution
and matmul, which scale with arithmetic throughput) and `memory` (normalisation, activations,
elementwise, pooling, optimizer: these scale with bandwidth). Every op's FLOPs and bytes are
affine in the batch size, so a step counted at two batch sizes answers for any batch
(`StepCost.at_batch`). Counting itself needs torch and lives in advisor.measure.opcount.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CONV_OPS = frozenset({
    "convolution", "convolution_backward", "_convolution", "cudnn_convolution", "mkldnn_convolution",
})
# Matmuls are told apart from convolutions: PyTorch's fp32 default runs convolutions in TF32 on
# Ampere and newer GPUs but keeps matmuls in FP32 (torch.backends.cuda.matmul.allow_tf32=False).
MATMUL_OPS = frozenset({
    "mm", "addmm", "bmm", "baddbmm", "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention_for_cpu_backward",
    "_scaled_dot_product_efficient_attention_backward", "_scaled_dot_product_flash_attention_backward",
})
COMPUTE_OPS = CONV_OPS | MATMUL_OPS
# Depthwise convolutions (one input channel per group: MobileNet, EfficientNet, ConvNeXt) are a
# class apart: they run on their own kernels, not tensor cores (PyTorch's own for FP32 on CUDA,
# cuDNN's for 16-bit), and reach a far smaller share of the GPU's peak than dense convolutions.
COMPUTE_CLASSES = ("conv", "depthwise", "matmul")
CONV_CLASSES = frozenset({"conv", "depthwise"})


MIN_BIN, MAX_BIN = -12, 16  # log2 of arithmetic intensity (FLOPs per byte)


def intensity_bin(flops: float, nbytes: float) -> int:
    """log2 bucket of an op's arithmetic intensity; pure data movement goes to the lowest."""
    if flops <= 0 or nbytes <= 0:
        return MIN_BIN if flops <= 0 else MAX_BIN
    return max(MIN_BIN, min(MAX_BIN, math.floor(math.log2(flops / nbytes))))


@dataclass(frozen=True)
class OpBin:
    """Ops of one class whose arithmetic intensity falls in one log2 bucket, summed."""

    op_class: str  # "conv", "depthwise", "matmul" (together: compute-heavy) or "memory"
    log2_intensity: int  # at the batch the step was counted at
    flops: float
    bytes: float
    ops: int
    # the parts that grow with each image of the batch; None where the step was counted at one
    # batch size only (profiles written before counting at two)
    flops_per_sample: float | None = None
    bytes_per_sample: float | None = None

    def at_batch(self, delta: int) -> OpBin:
        """The same ops with `delta` more images per batch (fewer when negative)."""
        return OpBin(self.op_class, self.log2_intensity,
                     max(0.0, self.flops + delta * self.flops_per_sample),
                     max(0.0, self.bytes + delta * self.bytes_per_sample), self.ops,
                     self.flops_per_sample, self.bytes_per_sample)


def in_class(b: OpBin, op_class: str | None) -> bool:
    """None: every bin; "compute": convolutions and matmuls; else the class itself."""
    if op_class is None:
        return True
    if op_class == "compute":
        return b.op_class in COMPUTE_CLASSES
    return b.op_class == op_class


@dataclass(frozen=True)
class StageOps:
    """How a training phase's ops divide: `backward` ops, and the optimizer step's `optimizer`
    ops as a per-parameter loop runs them over `tensors` parameters of `elements` numbers in all
    (the rest are the forward's and the loss's). On a GPU, PyTorch's optimizers default to
    multi-tensor ("foreach") kernels instead: the same traffic in a few ops and launches."""

    backward: int
    optimizer: int
    tensors: int
    elements: int

    @property
    def optimizer_ops_per_tensor(self) -> float:
        return self.optimizer / self.tensors if self.tensors else 0.0


@dataclass(frozen=True)
class PhaseCost:
    """Work of one phase of a step for the whole batch, binned by op class and intensity.

    Bins keep what a roofline needs (an op is bound by FLOPs or by bytes depending on its
    intensity) at a size independent of the model's depth.
    """

    bins: tuple[OpBin, ...] = ()
    stages: StageOps | None = None  # None: no backward, or not counted apart

    def _sum(self, attr: str, op_class: str | None = None) -> float:
        return sum(getattr(b, attr) for b in self.bins if in_class(b, op_class))

    @property
    def compute_flops(self) -> float:
        return self._sum("flops", "compute")

    @property
    def compute_bytes(self) -> float:
        return self._sum("bytes", "compute")

    @property
    def memory_bytes(self) -> float:
        return self._sum("bytes", "memory")

    @property
    def ops(self) -> int:
        return int(self._sum("ops"))

    @property
    def scalable(self) -> bool:
        return all(b.flops_per_sample is not None for b in self.bins)

    def at_batch(self, delta: int) -> PhaseCost:
        """The phase with `delta` more images per batch; needs per-image parts (`scalable`)."""
        return PhaseCost(tuple(b.at_batch(delta) for b in self.bins), self.stages)

    def to_dict(self) -> dict:
        d = {"bins": [[b.op_class, b.log2_intensity, b.flops, b.bytes, b.ops]
                      + ([b.flops_per_sample, b.bytes_per_sample] if b.flops_per_sample is not None else [])
                      for b in self.bins]}
        if self.stages is not None:
            st = self.stages
            d["stages"] = [st.backward, st.optimizer, st.tensors, st.elements]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PhaseCost:
        def opbin(c, i, f, n, o, fs=None, bs=None):
            return OpBin(c, int(i), float(f), float(n), int(o),
                         None if fs is None else float(fs), None if bs is None else float(bs))

        stages = d.get("stages")
        return cls(tuple(opbin(*row) for row in d["bins"]), StageOps(*(int(v) for v in stages)) if stages else None)


# What counting a step sees: 2 counts in-place ops (ReLU's, residual additions, the optimizer's
# updates), the optimizer's second step rather than its first, the step's stages (StageOps) and
# the bytes kept for backward; 1 (profiles without the field) skipped in-place ops as views.
COUNTING_VERSION = 2


@dataclass(frozen=True)
class StepCost:
    """Counted work of one training step and one evaluation step at a batch size."""

    batch_size: int
    train: PhaseCost  # forward + backward + optimizer, train mode
    eval: PhaseCost  # forward only, eval mode, no grad
    frozen: PhaseCost  # forward + head backward + head optimizer
    parameters: int
    trainable_head_parameters: int
    counting: int = COUNTING_VERSION  # how it was counted: older counts are redone when torch is at hand
    # bytes of activations a training step keeps for its backward (parameters aside), at
    # `batch_size`, and what each image adds; None where not counted
    saved_bytes: float | None = None
    saved_bytes_per_sample: float | None = None

    @property
    def current(self) -> bool:
        return self.counting >= COUNTING_VERSION

    def saved_bytes_at(self, batch_size: int) -> float | None:
        """Bytes kept for backward at `batch_size`; None where they were not counted."""
        if self.saved_bytes is None or self.saved_bytes_per_sample is None:
            return None
        return max(0.0, self.saved_bytes + (batch_size - self.batch_size) * self.saved_bytes_per_sample)

    @property
    def scalable(self) -> bool:
        return self.train.scalable and self.eval.scalable and self.frozen.scalable

    def at_batch(self, batch_size: int) -> StepCost | None:
        """The same step at another batch size, from the per-image parts; None without them."""
        if batch_size == self.batch_size:
            return self
        if not self.scalable:
            return None
        delta = batch_size - self.batch_size
        saved = self.saved_bytes_at(batch_size)
        return StepCost(batch_size, self.train.at_batch(delta), self.eval.at_batch(delta),
                        self.frozen.at_batch(delta), self.parameters, self.trainable_head_parameters, self.counting,
                        saved, self.saved_bytes_per_sample if saved is not None else None)

    def to_dict(self) -> dict:
        return {"batch_size": self.batch_size, "train": self.train.to_dict(),
                "eval": self.eval.to_dict(), "frozen": self.frozen.to_dict(),
                "parameters": self.parameters,
                "trainable_head_parameters": self.trainable_head_parameters, "counting": self.counting,
                "saved_bytes": self.saved_bytes, "saved_bytes_per_sample": self.saved_bytes_per_sample}

    @classmethod
    def from_dict(cls, d: dict) -> StepCost:
        return cls(
            batch_size=d["batch_size"], train=PhaseCost.from_dict(d["train"]),
            eval=PhaseCost.from_dict(d["eval"]), frozen=PhaseCost.from_dict(d["frozen"]),
            parameters=d["parameters"], trainable_head_parameters=d["trainable_head_parameters"],
            counting=d.get("counting", 1), saved_bytes=d.get("saved_bytes"),
            saved_bytes_per_sample=d.get("saved_bytes_per_sample"),
        )
