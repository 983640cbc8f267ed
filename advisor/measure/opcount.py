"""Counting a training step's work per op class without running it.

A TorchDispatchMode sees every aten op of forward, backward and the optimizer step on the meta
device (no memory, no arithmetic). FLOPs come from torch.utils.flop_counter's formula registry;
bytes are the sizes of each op's tensor inputs and outputs (what it would move through memory if
nothing stayed in cache); in-place ops count, views do not. Ops fall into classes, the split that
cross-hardware scaling needs: `compute` (convolution, depthwise convolution and matmul, which
scale with arithmetic throughput) and `memory` (normalisation, activations, elementwise,
pooling, optimizer: these scale with bandwidth). A training step also records its stages
(backward ops, the optimizer's ops and the tensors it updates: StageOps) and the activations
autograd keeps for backward (peak memory). The optimizer is counted at its second step, the one
training repeats.

Every op's FLOPs and bytes are affine in the batch size (weights and optimizer state are fixed,
activations grow with each image), so a step counted at two batch sizes gives each op's fixed and
per-image parts; bins keep the per-image parts and a StepCost answers for any batch without torch.
"""

from __future__ import annotations

import contextlib

from advisor.model.cost import CONV_OPS, MATMUL_OPS, OpBin, PhaseCost, StageOps, StepCost, intensity_bin

# Ops that reach the dispatcher but launch no kernel and move no data: allocations, and reshapes
# that return a new tensor over the same storage (their schema does not say it is a view).
NO_KERNEL_OPS = frozenset({"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided",
                           "_unsafe_view", "_reshape_alias", "lift_fresh",
                           # the profiler's markers around an optimizer step
                           "_record_function_enter", "_record_function_enter_new", "_record_function_exit"})


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


def _conv_class(schema, args, kwargs) -> str:
    """"depthwise" for a convolution (or its backward) with one input channel per group, else "conv"."""
    names = [a.name for a in schema.arguments]

    def arg(name):
        i = names.index(name)
        return args[i] if i < len(args) else kwargs.get(name)

    groups = arg("groups") if "groups" in names else 1
    weight = arg("weight") if "weight" in names else None
    return "depthwise" if groups and groups > 1 and weight is not None and weight.shape[1] == 1 else "conv"


@contextlib.contextmanager
def _saved_for_backward(model):
    """The storages autograd keeps for backward while the block runs, by storage (a ReLU's output
    is the next convolution's input: counted once) with their bytes, the model's parameters aside."""
    import torch

    params = {p.untyped_storage()._cdata for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage._cdata not in params:
            storages[storage._cdata] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield storages


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
            if schema.returns and all(r.alias_info is not None and not r.alias_info.is_write for r in schema.returns):
                return out  # views move no data (in-place ops, which alias what they write, do)
            name = packet.__name__
            if name in NO_KERNEL_OPS:  # dispatched (host time), but no kernel and no traffic
                self.ops.append(("memory", name, 0.0, 0.0))
                return out
            tensors = [t for t in tree_flatten((args, kwargs, out))[0] if isinstance(t, torch.Tensor)]
            nbytes = float(sum(t.numel() * t.element_size() for t in tensors))
            flops = 0.0
            if packet is torch.ops.aten.convolution_backward:
                flops = _conv_backward_flops(*args)
            elif packet in flop_registry:
                flops = float(flop_registry[packet](*args, **kwargs, out_val=out))
            cls = _conv_class(schema, args, kwargs) if name in CONV_OPS else "matmul" if name in MATMUL_OPS else "memory"
            if cls == "memory" and not flops:
                # elementwise work: about one operation per output element
                flops = float(sum(t.numel() for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)))
            self.ops.append((cls, name, flops, nbytes * self.byte_scale))
            return out

    return _Counter


def bin_ops(ops, ops_more, extra_images: int, stages: StageOps | None = None) -> PhaseCost:
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
        return PhaseCost(tuple(OpBin(c, i, f, n, o) for (c, i), (f, n, o) in sorted(bins.items())), stages)
    bins: dict[tuple[str, int], list] = {}
    for (cls, _, flops, nbytes), (_, _, flops_more, nbytes_more) in zip(ops, ops_more):
        acc = bins.setdefault((cls, intensity_bin(flops, nbytes)), [0.0, 0.0, 0, 0.0, 0.0])
        acc[0] += flops
        acc[1] += nbytes
        acc[2] += 1
        acc[3] += (flops_more - flops) / extra_images
        acc[4] += (nbytes_more - nbytes) / extra_images
    return PhaseCost(tuple(OpBin(c, i, f, n, o, fs, bs) for (c, i), (f, n, o, fs, bs) in sorted(bins.items())),
                     stages)


def count_step(model_name: str, num_classes: int, image_size: int, batch_size: int,
               precision: str = "fp32") -> StepCost:
    """Count one training, one eval and one frozen-body step of the workload on the meta device."""
    from advisor.measure.models import build_model

    return count_module(lambda: build_model(model_name, num_classes, image_size, device="meta"),
                        (3, image_size, image_size), batch_size, precision)


def meta_copy(model):
    """A copy of `model` on the meta device, made without copying its tensors' memory."""
    import copy
    import itertools

    import torch

    memo = {}
    for t in itertools.chain(model.parameters(), model.buffers()):
        empty = torch.empty_like(t, device="meta")
        memo[id(t)] = torch.nn.Parameter(empty, requires_grad=t.requires_grad) \
            if isinstance(t, torch.nn.Parameter) else empty
    # hooks (advisor's own, or the user's) are neither copied nor run while counting
    names = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    saved = [(m, name, getattr(m, name)) for m in model.modules() for name in names if getattr(m, name, None)]
    try:
        for m, name, _ in saved:
            setattr(m, name, type(getattr(m, name))())
        return copy.deepcopy(model, memo)
    finally:
        for m, name, hooks in saved:
            setattr(m, name, hooks)


def count_module(make_model, input_shape: tuple[int, ...], batch_size: int, precision: str = "fp32") -> StepCost:
    """Count the steps of the model `make_model()` returns (on the meta device) for inputs of
    `input_shape` (one image's), trained with cross-entropy on its logits (any other output:
    its mean, which still runs the whole backward)."""
    import torch

    from advisor.measure.models import classifier_head
    from advisor.model.precision import PRECISIONS

    counter_cls = _counting_mode()
    spec = PRECISIONS.get(precision)
    dtype = getattr(torch, spec.autocast_dtype) if spec and spec.autocast_dtype else None

    def loss_of(out, n):
        if isinstance(out, torch.Tensor) and out.ndim == 2:
            return torch.nn.functional.cross_entropy(out, torch.zeros(n, dtype=torch.long, device="meta"))
        tensors = [t for t in (out.values() if isinstance(out, dict) else out if isinstance(out, (tuple, list))
                               else (out,)) if isinstance(t, torch.Tensor) and t.is_floating_point()]
        return sum(t.mean() for t in tensors)

    def run(mode: str, batch_size: int) -> tuple[list, StageOps | None, float]:
        model = make_model()
        head = classifier_head(model)
        if mode == "frozen":
            for p in model.parameters():
                p.requires_grad_(False)
            if head is not None:
                for p in head.parameters():
                    p.requires_grad_(True)
        model.train(mode != "eval")
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, foreach=False) if params and mode != "eval" else None
        x = torch.empty(batch_size, *input_shape, device="meta")
        if opt is not None:
            # the optimizer's first step creates its state; training repeats the second
            loss_of(model(x), batch_size).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        # autocast does not run on meta tensors: 16-bit precisions move half the bytes
        counter = counter_cls(0.5 if dtype is not None else 1.0)
        with counter:
            if mode == "eval":
                with torch.no_grad():
                    model(x)
                return counter.ops, None, 0.0
            with _saved_for_backward(model) as kept:
                loss = loss_of(model(x), batch_size)
            forward = len(counter.ops)
            if not (isinstance(loss, torch.Tensor) and loss.requires_grad):
                return counter.ops, None, 0.0
            loss.backward()
            backward = len(counter.ops) - forward
            if opt is not None:
                opt.step()
        updated = [p for p in params if p.grad is not None]
        # the optimizer's ops that launch kernels: the ones multi-tensor kernels replace
        updates = sum(1 for _, name, _, _ in counter.ops[forward + backward:] if name not in NO_KERNEL_OPS)
        return counter.ops, StageOps(backward, updates, len(updated), sum(p.numel() for p in updated)), \
            float(sum(kept.values()))

    saved = {}

    def phase(mode: str) -> PhaseCost:
        # counted at twice the batch too: the difference is what each image adds
        (ops, stages, kept), (ops_more, _, kept_more) = run(mode, batch_size), run(mode, 2 * batch_size)
        saved[mode] = (kept, (kept_more - kept) / batch_size)  # bytes kept for backward, and per image
        return bin_ops(ops, ops_more, batch_size, stages)

    model = make_model()
    head = classifier_head(model)
    train, evaluation, frozen = phase("train"), phase("eval"), phase("frozen")
    return StepCost(
        batch_size=batch_size, train=train, eval=evaluation, frozen=frozen,
        parameters=sum(p.numel() for p in model.parameters()),
        trainable_head_parameters=sum(p.numel() for p in head.parameters()) if head else 0,
        saved_bytes=saved["train"][0], saved_bytes_per_sample=saved["train"][1],
    )
