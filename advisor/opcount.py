"""Counting a training step's work per op class without running it.

A TorchDispatchMode sees every aten op of forward, backward and the optimizer step on the meta
device (no memory, no arithmetic). FLOPs come from torch.utils.flop_counter's formula registry;
bytes are the sizes of each op's tensor inputs and outputs (what it would move through memory if
nothing stayed in cache). Ops fall into two classes, the split that cross-hardware scaling needs:
`compute` (convolution and matmul, which scale with arithmetic throughput) and `memory`
(normalisation, activations, elementwise, pooling, optimizer: these scale with bandwidth).

Every op's FLOPs and bytes are affine in the batch size (weights and optimizer state are fixed,
activations grow with each image), so a step counted at two batch sizes gives each op's fixed and
per-image parts; bins keep the per-image parts and a StepCost answers for any batch without torch.
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
COMPUTE_CLASSES = ("conv", "matmul")


MIN_BIN, MAX_BIN = -12, 16  # log2 of arithmetic intensity (FLOPs per byte)


def intensity_bin(flops: float, nbytes: float) -> int:
    """log2 bucket of an op's arithmetic intensity; pure data movement goes to the lowest."""
    if flops <= 0 or nbytes <= 0:
        return MIN_BIN if flops <= 0 else MAX_BIN
    return max(MIN_BIN, min(MAX_BIN, math.floor(math.log2(flops / nbytes))))


@dataclass(frozen=True)
class OpBin:
    """Ops of one class whose arithmetic intensity falls in one log2 bucket, summed."""

    op_class: str  # "conv", "matmul" (together: compute-heavy) or "memory"
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
class PhaseCost:
    """Work of one phase of a step for the whole batch, binned by op class and intensity.

    Bins keep what a roofline needs (an op is bound by FLOPs or by bytes depending on its
    intensity) at a size independent of the model's depth.
    """

    bins: tuple[OpBin, ...] = ()

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
        return PhaseCost(tuple(b.at_batch(delta) for b in self.bins))

    def to_dict(self) -> dict:
        return {"bins": [[b.op_class, b.log2_intensity, b.flops, b.bytes, b.ops]
                         + ([b.flops_per_sample, b.bytes_per_sample] if b.flops_per_sample is not None else [])
                         for b in self.bins]}

    @classmethod
    def from_dict(cls, d: dict) -> PhaseCost:
        def opbin(c, i, f, n, o, fs=None, bs=None):
            return OpBin(c, int(i), float(f), float(n), int(o),
                         None if fs is None else float(fs), None if bs is None else float(bs))

        return cls(tuple(opbin(*row) for row in d["bins"]))


@dataclass(frozen=True)
class StepCost:
    """Counted work of one training step and one evaluation step at a batch size."""

    batch_size: int
    train: PhaseCost  # forward + backward + optimizer, train mode
    eval: PhaseCost  # forward only, eval mode, no grad
    frozen: PhaseCost  # forward + head backward + head optimizer
    parameters: int
    trainable_head_parameters: int

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
        return StepCost(batch_size, self.train.at_batch(delta), self.eval.at_batch(delta),
                        self.frozen.at_batch(delta), self.parameters, self.trainable_head_parameters)

    def to_dict(self) -> dict:
        return {"batch_size": self.batch_size, "train": self.train.to_dict(),
                "eval": self.eval.to_dict(), "frozen": self.frozen.to_dict(),
                "parameters": self.parameters,
                "trainable_head_parameters": self.trainable_head_parameters}

    @classmethod
    def from_dict(cls, d: dict) -> StepCost:
        return cls(
            batch_size=d["batch_size"], train=PhaseCost.from_dict(d["train"]),
            eval=PhaseCost.from_dict(d["eval"]), frozen=PhaseCost.from_dict(d["frozen"]),
            parameters=d["parameters"], trainable_head_parameters=d["trainable_head_parameters"],
        )


def _conv_backward_flops(grad_out, x, weight, _bias_sizes, _stride, _padding, _dilation,
                         transposed, _output_padding, _groups, output_mask) -> float:
    """Each requested gradient (input, weight) costs one forward convolution.

    torch.utils.flop_counter's own formula ignores groups for the weight gradient and counts
    depthwise convolutions (MobileNet, EfficientNet) tens of times over; the forward formula
    handles groups through the weight's shape, so it is used for both gradients.
    """
    from torch.utils.flop_counter import conv_flop_count

    forward = conv_flop_count(tuple(x.shape), tuple(weight.shape), tuple(grad_out.shape), transposed)
    return float(forward * (int(bool(output_mask[0])) + int(bool(output_mask[1]))))


def _counting_mode():
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten
    from torch.utils.flop_counter import flop_registry

    class _Counter(TorchDispatchMode):
        def __init__(self, byte_scale: float):
            super().__init__()
            self.byte_scale = byte_scale
            self.ops: list[tuple[str, str, float, float]] = []  # (class, op, flops, bytes) in dispatch order

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            packet = func._overloadpacket
            schema = func._schema
            if schema.returns and all(r.alias_info is not None for r in schema.returns):
                return out  # views move no data
            tensors = [t for t in tree_flatten((args, kwargs, out))[0] if isinstance(t, torch.Tensor)]
            nbytes = float(sum(t.numel() * t.element_size() for t in tensors))
            flops = 0.0
            if packet is torch.ops.aten.convolution_backward:
                flops = _conv_backward_flops(*args)
            elif packet in flop_registry:
                flops = float(flop_registry[packet](*args, **kwargs, out_val=out))
            name = packet.__name__
            cls = "conv" if name in CONV_OPS else "matmul" if name in MATMUL_OPS else "memory"
            if cls == "memory" and not flops:
                # elementwise work: about one operation per output element
                flops = float(sum(t.numel() for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)))
            self.ops.append((cls, name, flops, nbytes * self.byte_scale))
            return out

    return _Counter


def bin_ops_impl(ops, ops_more, extra_images: int) -> PhaseCost:
    """Bin the ops of one phase, (class, op name, FLOPs, bytes) in dispatch order, counted at a
    batch (`ops`) and at `extra_images` more (`ops_more`), keeping each bin's per-image parts.
    Where the two counts dispatched different ops (reshapes turn some addmm into mm depending on
    the batch), the bins have no per-image parts."""
    paired = len(ops) == len(ops_more) and all(a[:2] == b[:2] for a, b in zip(ops, ops_more))
    if not paired:
        bins = {}
        for cls, _, flops, nbytes in ops:
            acc = bins.setdefault((cls, intensity_bin(flops, nbytes)), [0.0, 0.0, 0])
            acc[0] += flops
            acc[1] += nbytes
            acc[2] += 1
        return PhaseCost(tuple(OpBin(c, i, f, n, o) for (c, i), (f, n, o) in sorted(bins.items())))
    bins: dict[tuple[str, int], list] = {}
    for (cls, _, flops, nbytes), (_, _, flops_more, nbytes_more) in zip(ops, ops_more):
        acc = bins.setdefault((cls, intensity_bin(flops, nbytes)), [0.0, 0.0, 0, 0.0, 0.0])
        acc[0] += flops
        acc[1] += nbytes
        acc[2] += 1
        acc[3] += (flops_more - flops) / extra_images
        acc[4] += (nbytes_more - nbytes) / extra_images
    return PhaseCost(tuple(OpBin(c, i, f, n, o, fs, bs) for (c, i), (f, n, o, fs, bs) in sorted(bins.items())))


def count_step(model_name: str, num_classes: int, image_size: int, batch_size: int,
               precision: str = "fp32") -> StepCost:
    """Count one training, one eval and one frozen-body step of the workload on the meta device."""
    import torch

    from advisor.models import build_model, classifier_head
    from advisor.precision import PRECISIONS

    counter_cls = _counting_mode()
    spec = PRECISIONS.get(precision)
    dtype = getattr(torch, spec.autocast_dtype) if spec and spec.autocast_dtype else None

    def run(mode: str, batch_size: int) -> list:
        model = build_model(model_name, num_classes, image_size, device="meta")
        head = classifier_head(model)
        if mode == "frozen":
            for p in model.parameters():
                p.requires_grad_(False)
            if head is not None:
                for p in head.parameters():
                    p.requires_grad_(True)
        model.train(mode != "eval")
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=0.01, momentum=0.9) if params and mode != "eval" else None
        x = torch.empty(batch_size, 3, image_size, image_size, device="meta")
        y = torch.zeros(batch_size, dtype=torch.long, device="meta")
        # autocast does not run on meta tensors: 16-bit precisions move half the bytes
        counter = counter_cls(0.5 if dtype is not None else 1.0)
        with counter:
            if mode == "eval":
                with torch.no_grad():
                    model(x)
            else:
                loss = torch.nn.functional.cross_entropy(model(x), y)
                loss.backward()
                if opt is not None:
                    opt.step()
        return counter.ops

    def phase(mode: str) -> PhaseCost:
        # counted at twice the batch too: the difference is what each image adds
        return bin_ops_impl(run(mode, batch_size), run(mode, 2 * batch_size), batch_size)

    model = build_model(model_name, num_classes, image_size, device="meta")
    head = classifier_head(model)
    return StepCost(
        batch_size=batch_size, train=phase("train"), eval=phase("eval"), frozen=phase("frozen"),
        parameters=sum(p.numel() for p in model.parameters()),
        trainable_head_parameters=sum(p.numel() for p in head.parameters()) if head else 0,
    )
