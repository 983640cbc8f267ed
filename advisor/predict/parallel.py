"""Data-parallel training (DistributedDataParallel) on several GPUs and machines. Pure.

A DDP step is the step of one GPU at its per-GPU batch plus the part of the gradient all-reduce
that backward does not hide. DDP all-reduces the gradients in buckets as backward produces them,
so all but the last bucket can overlap with the rest of backward; the last one cannot. The
all-reduce's latency and bus bandwidth come from `advisor profile --nproc N` when the profile
has them, else from the catalog's interconnect figures and the assumptions below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from advisor.errors import UsageError
from advisor.model.notes import Note
from advisor.model.notes import info as info_note
from advisor.model.parallel import BACKWARD_SHARE, CommModel, DataParallel, ddp_buckets
from advisor.model.workload import Workload

# Assumptions until measured: the share of one direction of a link's datasheet bandwidth that
# a ring all-reduce achieves as bus bandwidth, and the latency each ring hop adds.
LINK_EFFICIENCY = {"nvlink": 0.75, "pcie": 0.6, "network": 0.7}
HOP_LATENCY_S = {"nvlink": 5e-6, "pcie": 10e-6, "network": 30e-6}


# What the all-reduce alone does not explain: ranks waiting for the slowest one each step,
# NCCL kernels taking SMs and memory bandwidth from backward. As a share of a step's compute on
# 8 GPUs, growing with log2(GPUs); fitted by benchmarks/multi_gpu_public.py to NVIDIA's
# published 1- and 8-GPU TF32/FP32 ResNet-50 throughputs (DGX A100, DGX-1). Their mixed-precision
# runs scaled worse (84-87 %), probably bound by JPEG decoding on the host at those rates, which
# is not DDP's cost. Catalog estimates only: a measured DDP step (profile --nproc) contains it.
SYNC_SHARE_AT_8_GPUS = 0.029


def catalog_comm(link_kind: str, link_bytes_per_s: float, gpus_per_node: int, nodes: int = 1,
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


def ddp_step(compute_seconds: float, gradient_bytes: int, comm: CommModel) -> DdpStep:
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


def shard_workload(workload: Workload, dp: DataParallel) -> Workload:
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


def parallel_info(dp: DataParallel, shard: Workload, step: DdpStep, single_step_s: float,
                  comm: CommModel, extra: dict | None = None) -> dict:
    """The fields a data-parallel option reports (JSON and notes)."""
    efficiency = single_step_s / step.seconds if step.seconds else 1.0
    return {
        "gpus_per_node": dp.gpus_per_node, "nodes": dp.nodes, "world": dp.world,
        "per_gpu_batch": shard.batch_size, "global_batch": shard.batch_size * dp.world,
        "scaling_efficiency": round(efficiency, 4),
        "communication_share": round(step.communication_share, 4),
        "allreduce_seconds_per_step": round(step.communication_seconds, 6),
        "exposed_communication_seconds_per_step": round(step.exposed_seconds, 6),
        "communication_basis": comm.basis, "communication_source": comm.source,
        **(extra or {}),
    }


def parallel_note(info: dict) -> Note:
    return info_note("data-parallel", f"data-parallel (DDP) on {info['world']} ranks ({info['gpus_per_node']} per "
                     f"machine x {info['nodes']}), batch {info['per_gpu_batch']} per rank ({info['global_batch']} "
                     f"global): scaling efficiency {100 * info['scaling_efficiency']:.0f} %, communication "
                     f"{100 * info['communication_share']:.0f} % of a step ({info['communication_basis']}: "
                     f"{info['communication_source']})")