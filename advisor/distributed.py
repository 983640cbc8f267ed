"""Data-parallel training (torch DistributedDataParallel) on several GPUs and machines. Pure.

A DDP step is the step of one GPU at its per-GPU batch plus the part of the gradient all-reduce
that backward does not hide. DDP all-reduces the gradients in buckets (the first 1 MiB, then
25 MiB each, in reverse layer order) as backward produces them, so all but the last bucket can
overlap with the rest of backward; the last one (the first layers' gradients) cannot.

A ring all-reduce of S bytes among n ranks moves 2(n-1)/n x S bytes through each rank's link,
so with nccl-tests' "bus bandwidth" B and a per-call latency a it takes
    a + S x 2(n-1)/n / B.
B and a come from `advisor profile --nproc N` (an all-reduce sweep on the machine) when the
profile has them, else from the catalog's interconnect figures and the assumptions below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from advisor.errors import UsageError
from advisor.workload import Workload

DDP_FIRST_BUCKET_BYTES = 1 * 2**20  # torch.distributed's _DEFAULT_FIRST_BUCKET_BYTES
DDP_BUCKET_BYTES = 25 * 2**20  # DistributedDataParallel(bucket_cap_mb=25), the default
GRADIENT_BYTES_PER_PARAMETER = 4  # fp32 gradients, also under autocast
BACKWARD_SHARE = 2 / 3  # of a training step's compute: backward costs about twice forward

# Assumptions until measured: the share of one direction of a link's datasheet bandwidth that
# a ring all-reduce achieves as bus bandwidth, and the latency each ring hop adds.
LINK_EFFICIENCY = {"nvlink": 0.75, "pcie": 0.6, "network": 0.7}
HOP_LATENCY_S = {"nvlink": 5e-6, "pcie": 10e-6, "network": 30e-6}
# On GPUs the all-reduce runs on its own stream while backward computes; measured overlap on a
# machine (profile --nproc) replaces this.
GPU_OVERLAP = 1.0
# What the all-reduce alone does not explain: ranks waiting for the slowest one each step,
# NCCL kernels taking SMs and memory bandwidth from backward. As a share of a step's compute on
# 8 GPUs, growing with log2(GPUs); fitted by benchmarks/multi_gpu_public.py to NVIDIA's
# published 1- and 8-GPU TF32/FP32 ResNet-50 throughputs (DGX A100, DGX-1). Their mixed-precision
# runs scaled worse (84-87 %), probably bound by JPEG decoding on the host at those rates, which
# is not DDP's cost. Catalog estimates only: a measured DDP step (profile --nproc) contains it.
SYNC_SHARE_AT_8_GPUS = 0.029
MIN_OVERLAP = -3.0


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


def catalog_comm_impl(link_kind: str, link_bytes_per_s: float, gpus_per_node: int, nodes: int = 1,
                      network_bits_per_s: float | None = None, source: str = "") -> CommModel:
    """An all-reduce model from datasheet figures: within a machine over its GPU links, across
    machines bound by the network (a ring crossing machines is as fast as its slowest hop)."""
    world = gpus_per_node * nodes
    bus = link_bytes_per_s / 2 * LINK_EFFICIENCY[link_kind]
    hop = HOP_LATENCY_S[link_kind]
    if nodes > 1:
        if not network_bits_per_s:
            raise UsageError("several machines need the network bandwidth between them, and the "
                             "catalog has none for this machine; add network_gbps with --catalog.")
        bus = min(bus, network_bits_per_s / 8 * LINK_EFFICIENCY["network"])
        hop = HOP_LATENCY_S["network"]
    return CommModel(world=world, bus_bytes_per_s=bus, latency_s=2 * (world - 1) * hop,
                     basis="catalog", source=source, sync_share_at_8=SYNC_SHARE_AT_8_GPUS)


def fit_allreduce_impl(points: list[tuple[int, float]], world: int) -> tuple[float, float]:
    """(latency_s, bus_bytes_per_s) fitting seconds = a + b x bytes over a sweep, by least
    squares of the relative error (weights 1/seconds^2), so that 4 KiB and 64 MiB count alike."""
    if world < 2 or len(points) < 2:
        raise ValueError("an all-reduce fit needs two ranks and two message sizes")
    w = [1.0 / t ** 2 for _, t in points]
    sw = sum(w)
    mx = sum(wi * n for wi, (n, _) in zip(w, points)) / sw
    my = sum(wi * t for wi, (_, t) in zip(w, points)) / sw
    sxx = sum(wi * (n - mx) ** 2 for wi, (n, _) in zip(w, points))
    slope = sum(wi * (n - mx) * (t - my) for wi, (n, t) in zip(w, points)) / sxx
    if slope <= 0:  # all sizes equally fast: bandwidth beyond what the sweep can resolve
        slope = min(t for _, t in points) / max(n for n, _ in points)
    latency = max(0.0, my - slope * mx)
    return latency, 2 * (world - 1) / world / slope


def ddp_buckets(gradient_bytes: int) -> list[int]:
    """Bucket sizes in the order DDP all-reduces them (the last layers' gradients first)."""
    if gradient_bytes <= 0:
        return []
    first = min(gradient_bytes, DDP_FIRST_BUCKET_BYTES)
    rest = gradient_bytes - first
    full, tail = divmod(rest, DDP_BUCKET_BYTES)
    return [first] + [DDP_BUCKET_BYTES] * full + ([tail] if tail else [])


@dataclass(frozen=True)
class DdpStep:
    compute_seconds: float  # one GPU's step at its per-GPU batch
    communication_seconds: float  # all buckets' all-reduce
    exposed_seconds: float  # what backward did not hide

    @property
    def seconds(self) -> float:
        return self.compute_seconds + self.exposed_seconds

    @property
    def communication_share(self) -> float:
        return self.exposed_seconds / self.seconds if self.seconds else 0.0


def ddp_step_impl(compute_seconds: float, gradient_bytes: int, comm: CommModel) -> DdpStep:
    buckets = ddp_buckets(gradient_bytes)
    if comm.world <= 1 or not buckets:
        return DdpStep(compute_seconds, 0.0, 0.0)
    times = [comm.allreduce_seconds(b) for b in buckets]
    total = sum(times)
    hideable = comm.overlap * BACKWARD_SHARE * compute_seconds
    exposed = max(times[-1], total - hideable)
    exposed += sync_seconds(compute_seconds, comm.world, comm.sync_share_at_8)
    return DdpStep(compute_seconds, total, exposed)


def sync_seconds(compute_seconds: float, world: int, share_at_8: float) -> float:
    """Per-step synchronisation cost beyond the all-reduce (see SYNC_SHARE_AT_8_GPUS)."""
    return share_at_8 * compute_seconds * math.log2(world) / 3 if world > 1 else 0.0


def fit_overlap_impl(compute_seconds: float, ddp_seconds: float, gradient_bytes: int,
                     comm: CommModel) -> float:
    """The overlap that makes ddp_step_impl reproduce a measured DDP step: 1 = backward hid
    all it could, 0 = nothing, below 0 = communication and computation competed for the same
    cores (gloo on a CPU), so a step lost more than the all-reduce itself."""
    times = [comm.allreduce_seconds(b) for b in ddp_buckets(gradient_bytes)]
    backward = BACKWARD_SHARE * compute_seconds
    if not times or not backward:
        return GPU_OVERLAP
    exposed = max(ddp_seconds - compute_seconds, times[-1])
    return max(MIN_OVERLAP, min(1.0, (sum(times) - exposed) / backward))


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


def shard_workload_impl(workload: Workload, dp: DataParallel) -> Workload:
    """What one rank trains: its DistributedSampler shard (ceil(N / world) images of each split)
    at the per-GPU batch. Steps per epoch thereby follow from the global batch."""
    world = dp.world
    if world == 1 and dp.global_batch is None:
        return workload
    train = math.ceil(workload.train_images / world)
    valid = math.ceil(workload.valid_images / world)
    size = train + valid
    return workload.with_(batch_size=dp.per_gpu_batch(workload), dataset_size=size,
                          valid_fraction=valid / size)


def gradient_bytes(parameters: int) -> int:
    return parameters * GRADIENT_BYTES_PER_PARAMETER
