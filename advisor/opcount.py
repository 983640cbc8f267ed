"""Counting a training step's work per op class without running it.

A TorchDispatchMode sees every aten op of forward, backward and the optimizer step on the meta
device (no memory, no arithmetic). FLOPs come from torch.utils.flop_counter's formula registry;
bytes are the sizes of each op's tensor inputs and outputs (what it would move through memory if
nothing stayed in cache). Ops fall into two classes, the split that cross-hardware scaling needs:
`compute` (convolution and matmul, which scale with arithmetic throughput) and `memory`
(normalisation, activations, elementwise, pooling, optimizer: these scale with bandwidth).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

COMPUTE_OPS = frozenset({
    "convolution", "convolution_backward", "mm", "addmm", "bmm", "baddbmm", "_convolution",
    "cudnn_convolution", "mkldnn_convolution", "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention_for_cpu_backward",
    "_scaled_dot_product_efficient_attention_backward", "_scaled_dot_product_flash_attention_backward",
})


@dataclass(frozen=True)
class PhaseCost:
    """Work of one phase of a step for the whole batch."""

    compute_flops: float = 0.0
    compute_bytes: float = 0.0
    memory_flops: float = 0.0
    memory_bytes: float = 0.0
    ops: int = 0

    def __add__(self, other: PhaseCost) -> PhaseCost:
        return PhaseCost(*(a + b for a, b in zip(astuple_(self), astuple_(other))))


def astuple_(c: PhaseCost) -> tuple:
    return (c.compute_flops, c.compute_bytes, c.memory_flops, c.memory_bytes, c.ops)


@dataclass(frozen=True)
class StepCost:
    """Counted work of one training step and one evaluation step at a batch size."""

    batch_size: int
    train: PhaseCost  # forward + backward + optimizer, train mode
    eval: PhaseCost  # forward only, eval mode, no grad
    frozen: PhaseCost  # forward + head backward + head optimizer
    parameters: int
    trainable_head_parameters: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> StepCost:
        return cls(
            batch_size=d["batch_size"], train=PhaseCost(**d["train"]), eval=PhaseCost(**d["eval"]),
            frozen=PhaseCost(**d["frozen"]), parameters=d["parameters"],
            trainable_head_parameters=d["trainable_head_parameters"],
        )


def _counting_mode():
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten
    from torch.utils.flop_counter import flop_registry

    class _Counter(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.totals = dict(compute_flops=0.0, compute_bytes=0.0, memory_flops=0.0,
                               memory_bytes=0.0, ops=0)

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
            if packet in flop_registry:
                flops = float(flop_registry[packet](*args, **kwargs, out_val=out))
            name = packet.__name__
            cls = "compute" if name in COMPUTE_OPS else "memory"
            if cls == "memory" and not flops:
                # elementwise work: about one operation per output element
                flops = float(sum(t.numel() for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)))
            self.totals[f"{cls}_flops"] += flops
            self.totals[f"{cls}_bytes"] += nbytes
            self.totals["ops"] += 1
            return out

    return _Counter


def count_step(model_name: str, num_classes: int, image_size: int, batch_size: int,
               precision: str = "fp32") -> StepCost:
    """Count one training, one eval and one frozen-body step of the workload on the meta device."""
    import torch

    from advisor.models import build_model, classifier_head
    from advisor.precision import PRECISIONS

    counter_cls = _counting_mode()
    spec = PRECISIONS.get(precision)
    dtype = getattr(torch, spec.autocast_dtype) if spec and spec.autocast_dtype else None

    def run(mode: str) -> PhaseCost:
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
        counter = counter_cls()
        # autocast on meta is not available; cast the cost afterwards (bytes halve for 16-bit)
        with counter:
            if mode == "eval":
                with torch.no_grad():
                    model(x)
            else:
                loss = torch.nn.functional.cross_entropy(model(x), y)
                loss.backward()
                if opt is not None:
                    opt.step()
        t = counter.totals
        scale = 0.5 if dtype is not None else 1.0
        return PhaseCost(t["compute_flops"], t["compute_bytes"] * scale, t["memory_flops"],
                         t["memory_bytes"] * scale, int(t["ops"]))

    model = build_model(model_name, num_classes, image_size, device="meta")
    head = classifier_head(model)
    return StepCost(
        batch_size=batch_size, train=run("train"), eval=run("eval"), frozen=run("frozen"),
        parameters=sum(p.numel() for p in model.parameters()),
        trainable_head_parameters=sum(p.numel() for p in head.parameters()) if head else 0,
    )
