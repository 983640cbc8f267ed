"""What a data-parallel measurement means: the all-reduce's latency and bus bandwidth fitted to
a sweep, and how much of it backward hid in the DDP steps."""

from __future__ import annotations

from advisor.model.parallel import (
    BACKWARD_SHARE,
    GPU_OVERLAP,
    CommModel,
    ddp_buckets,
)

MIN_OVERLAP = -3.0


def fit_allreduce(points: list[tuple[int, float]], world: int) -> tuple[float, float]:
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


def fit_overlap(compute_seconds: float, ddp_seconds: float, gradient_bytes: int,
                     comm: CommModel) -> float:
    """The overlap that makes ddp_step reproduce a measured DDP step: 1 = backward hid
    all it could, 0 = nothing, below 0 = communication and computation competed for the same
    cores (gloo on a CPU), so a step lost more than the all-reduce itself."""
    times = [comm.allreduce_seconds(b) for b in ddp_buckets(gradient_bytes)]
    backward = BACKWARD_SHARE * compute_seconds
    if not times or not backward:
        return GPU_OVERLAP
    exposed = max(ddp_seconds - compute_seconds, times[-1])
    return max(MIN_OVERLAP, min(1.0, (sum(times) - exposed) / backward))
