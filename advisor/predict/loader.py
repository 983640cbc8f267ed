"""What a DataLoader delivers on a machine that is not here, from its vCPU count.

JPEG decoding does not scale with vCPUs: a cloud vCPU is one hyper-thread, two of them share a
core, and past a few cores memory bandwidth and the main process receiving the batches flatten
the curve. So throughput is read off a curve by physical cores, times what a core's second
thread adds, less the share of the vCPUs the training process itself keeps busy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# DataLoader throughput relative to one process (num_workers=0), by physical cores with one
# worker each, for pets-size JPEGs with RandomResizedCrop(224) + flip + normalize: measured on a
# 16-vCPU (8-core) cloud host, and 1.96 again with 2 workers on a 2-core VM (docs/method.md).
CORE_SCALING = ((1, 1.0), (2, 1.96), (4, 3.0), (8, 4.75))
# a core's second hyper-thread: 15 workers on those 8 cores delivered 5.93x, 1.25x the 8
HYPERTHREAD_GAIN = 5.93 / 4.75
# a cloud vCPU is one hardware hyper-thread (GCP documents it; Colab runs on GCE; assumed for
# the other providers)
CLOUD_THREADS_PER_CORE = 2
DEFAULT_DECODE_IMAGES_PER_S = 280.0  # one process on the 16-vCPU host, when nothing was measured here


def loader_scaling(vcpus: int, threads_per_core: int = CLOUD_THREADS_PER_CORE) -> float:
    """A DataLoader's throughput with workers on every vCPU, relative to one process.

    Interpolated in log-log between measured core counts; past 8 cores, the last measured
    segment's slope is extended (an assumption: nothing larger was measured)."""
    cores = max(1.0, vcpus / max(1, threads_per_core))
    points = CORE_SCALING
    if cores >= points[-1][0]:
        (n0, r0), (n1, r1) = points[-2], points[-1]
    else:
        (n0, r0), (n1, r1) = next((a, b) for a, b in zip(points, points[1:]) if a[0] <= cores <= b[0])
    ratio = r0 * (cores / n0) ** (math.log(r1 / r0) / math.log(n1 / n0))
    return ratio * (HYPERTHREAD_GAIN if threads_per_core > 1 and vcpus >= 2 else 1.0)


@dataclass(frozen=True)
class LoaderRate:
    """What a target's loader delivers, and what that figure assumes."""

    images_per_s: float
    vcpus: int
    cores: float
    per_core_images_per_s: float
    per_core_measured: bool  # this machine's decode rate, or the default
    main_busy_share: float  # of one vCPU, kept busy by the training process

    def describe(self) -> str:
        rate = f"{self.per_core_images_per_s:.0f} images/s per core " + \
            ("as measured here" if self.per_core_measured else "(a 16-vCPU cloud host's; none measured here)")
        return (f"JPEG decoding assumed: {self.vcpus} vCPUs as {self.cores:g} core(s) of 2 hyper-threads, {rate}, "
                f"{100 * self.main_busy_share:.0f} % of one vCPU driving the GPU: about {self.images_per_s:.0f} "
                "images/s")


def loader_rate(vcpus: int, per_process_images_per_s: float | None, main_busy_share: float = 0.0) -> LoaderRate:
    """The loader of a cloud machine with `vcpus`, decoding at `per_process_images_per_s` per core
    (this machine's, else the default), while the training process keeps `main_busy_share` of
    one vCPU busy dispatching work to the GPU."""
    per_core = per_process_images_per_s or DEFAULT_DECODE_IMAGES_PER_S
    busy = min(1.0, max(0.0, main_busy_share))
    rate = per_core * loader_scaling(vcpus) * (1.0 - busy / max(1, vcpus))
    return LoaderRate(rate, vcpus, max(1.0, vcpus / CLOUD_THREADS_PER_CORE), per_core,
                      per_process_images_per_s is not None, busy)


def loader_images_per_s(vcpus: int, per_process_images_per_s: float, threads_per_core: int = CLOUD_THREADS_PER_CORE) -> float:
    """What a DataLoader using every vCPU delivers, nothing else running."""
    return per_process_images_per_s * loader_scaling(vcpus, threads_per_core)
