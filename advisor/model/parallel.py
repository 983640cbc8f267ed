"""Data-parallel training (DistributedDataParallel): the request, DDP's bucketing and the
all-reduce records, measured or assumed.

A ring all-reduce of S bytes among n ranks moves 2(n-1)/n x S bytes through each rank's link,
so with nccl-tests' "bus bandwidth" B and a per-call latency a it takes a + S x 2(n-1)/n / B.
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor.errors import UsageError
from advisor.model.calibration import CalibrationKey
from advisor.model.stats import Samples
from advisor.model.workload import Workload

DDP_FIRST_BUCKET_BYTES = 1 * 2**20  # torch.distributed's _DEFAULT_FIRST_BUCKET_BYTES
DDP_BUCKET_BYTES = 25 * 2**20  # DistributedDataParallel(bucket_cap_mb=25), the default
GRADIENT_BYTES_PER_PARAMETER = 4  # fp32 gradients, also under autocast
BACKWARD_SHARE = 2 / 3  # of a training step's compute: backward costs about twice forward


# On GPUs the all-reduce runs on its own stream while backward computes; measured overlap on a
# machine (profile --nproc) replaces this.
GPU_OVERLAP = 1.0


@dataclass(frozen=True)
class CommModel:
    """What an all-reduce among `world` ranks costs, and where the figures come from."""

    world: int
    bus_bytes_per_s: float
    latency_s: float  # per all-reduce call
    basis: str  # "measured" or "catalog"
    source: str
    overlap: float = GPU_OVERLAP  # share of backward time that can hide communication
    sync_share_at_8: float = 0.0  # per-step synchronisation cost, see SYNC_SHARE_AT_8_GPUS

    def allreduce_seconds(self, nbytes: float) -> float:
        if self.world <= 1 or nbytes <= 0:
            return 0.0
        return self.latency_s + nbytes * 2 * (self.world - 1) / self.world / self.bus_bytes_per_s


def ddp_buckets(gradient_bytes: int) -> list[int]:
    """Bucket sizes in the order DDP all-reduces them (the last layers' gradients first)."""
    if gradient_bytes <= 0:
        return []
    first = min(gradient_bytes, DDP_FIRST_BUCKET_BYTES)
    rest = gradient_bytes - first
    full, tail = divmod(rest, DDP_BUCKET_BYTES)
    return [first] + [DDP_BUCKET_BYTES] * full + ([tail] if tail else [])


@dataclass(frozen=True)
class DataParallel:
    """N GPUs on each of M machines, and the batch semantics."""

    gpus_per_node: int = 1
    nodes: int = 1
    global_batch: int | None = None  # fixed global batch; None: --batch-size is per GPU

    @property
    def world(self) -> int:
        return self.gpus_per_node * self.nodes

    def per_gpu_batch(self, workload: Workload) -> int:
        if self.global_batch is None:
            return workload.batch_size
        return self.global_batch // self.world

    def check(self) -> None:
        if self.gpus_per_node < 1:
            raise UsageError(f"--gpus {self.gpus_per_node}: give 1 or more GPUs per machine.")
        if self.nodes < 1:
            raise UsageError(f"--nodes {self.nodes}: give 1 or more machines.")
        if self.global_batch is not None and self.global_batch % self.world:
            raise UsageError(
                f"--global-batch {self.global_batch} is not divisible by {self.world} GPUs; "
                f"use a multiple of {self.world} (e.g. {self.world * max(1, self.global_batch // self.world)}).")


def gradient_bytes(parameters: int) -> int:
    return parameters * GRADIENT_BYTES_PER_PARAMETER


@dataclass(frozen=True)
class AllReducePoint:
    nbytes: int
    seconds: Samples

    def to_dict(self) -> dict:
        return {"nbytes": self.nbytes, "seconds": {"values": self.seconds.to_list(), "median": self.seconds.median}}

    @classmethod
    def from_dict(cls, d: dict) -> AllReducePoint:
        return cls(d["nbytes"], Samples(tuple(d["seconds"]["values"])))


@dataclass(frozen=True)
class DistributedMeasurement:
    """What `advisor profile --nproc N` (or under torchrun) measured on this machine or cluster."""

    world: int
    nodes: int
    backend: str
    hosts: tuple[str, ...]  # one per rank
    threads_per_rank: int | None  # CPU ranks share the cores; None on GPUs
    allreduce: tuple[AllReducePoint, ...]
    latency_s: float  # fitted: seconds = latency + bytes x 2(n-1)/n / bus bandwidth
    bus_bytes_per_s: float
    key: CalibrationKey | None = None  # the workload whose steps were timed, per-rank batch
    compute_step_seconds: Samples | None = None  # plain steps, all ranks at once
    ddp_step_seconds: Samples | None = None  # the same under DDP
    eval_step_seconds: Samples | None = None
    warmup_ddp_step_seconds: tuple[float, ...] = ()
    gradient_bytes: int = 0
    overlap: float | None = None  # fitted: share of backward that hid communication
    measured_at: str = ""
    notes: tuple[str, ...] = ()

    def comm_model(self, world: int | None = None) -> CommModel:
        """The measured all-reduce, for this world size (the fitted bus bandwidth holds for a
        ring of another size on the same links; the latency grows with the hops)."""
        n = world or self.world
        latency = self.latency_s * (n - 1) / (self.world - 1) if self.world > 1 else self.latency_s
        return CommModel(world=n, bus_bytes_per_s=self.bus_bytes_per_s, latency_s=latency,
                         basis="measured", overlap=1.0 if self.overlap is None else self.overlap,
                         source=f"all-reduce measured with {self.backend} on {self.world} ranks "
                                f"({self.nodes} machine(s)), {self.measured_at[:10]}")

    def to_dict(self) -> dict:
        d = {}
        for name, value in self.__dict__.items():
            if isinstance(value, Samples):
                d[name] = {"values": value.to_list(), "median": value.median}
            elif name == "allreduce":
                d[name] = [p.to_dict() for p in value]
            elif name == "key":
                d[name] = None if value is None else dict(value.__dict__)
            elif isinstance(value, tuple):
                d[name] = list(value)
            else:
                d[name] = value
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DistributedMeasurement:
        kwargs = {}
        for name in cls.__dataclass_fields__:
            if name not in d:
                continue
            value = d[name]
            if name == "allreduce":
                value = tuple(AllReducePoint.from_dict(p) for p in value)
            elif name == "key":
                value = None if value is None else CalibrationKey(**value)
            elif name.endswith("_step_seconds") and not name.startswith("warmup") and value is not None:
                value = Samples(tuple(value["values"]))
            elif name in ("hosts", "warmup_ddp_step_seconds", "notes"):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)
