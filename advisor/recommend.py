"""Options and the recommendation, as plain data. Pure: no torch, no I/O.

An option is one place the training could run. This machine is option "local"; cloud offers
join the list when the catalog exists. The JSON contract of `advisor recommend --format json`
is built here: {"workload": {...}, "options": [...], "recommendation": {...}}.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from advisor.estimate import Estimate

# The seed's rule of thumb: a GPU that is not at least this much faster is not worth the move.
WORTHWHILE_SPEEDUP = 3.0


@dataclass(frozen=True)
class Option:
    id: str
    provider: str
    accelerator: str
    count: int
    estimate: Estimate
    cost_usd: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        e = self.estimate
        return {
            "id": self.id,
            "provider": self.provider,
            "accelerator": self.accelerator,
            "count": self.count,
            "seconds": round(e.seconds, 3),
            "seconds_low": round(e.seconds_low, 3),
            "seconds_high": round(e.seconds_high, 3),
            "train_images_per_s": round(e.train_images_per_s, 3),
            "eval_images_per_s": round(e.eval_images_per_s, 3),
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 4),
            "fits_memory": e.fits_memory,
            "bottleneck": e.bottleneck,
            "basis": e.basis,
            "peak_memory_bytes": e.peak_memory_bytes,
            "breakdown_seconds": e.breakdown_seconds,
            "notes": list(self.notes) + list(e.notes),
        }


def local_option(estimate: Estimate) -> Option:
    return Option(id="local", provider="this machine", accelerator=estimate.accelerator, count=1,
                  estimate=estimate, cost_usd=None)


@dataclass(frozen=True)
class Recommendation:
    best: str | None
    fastest: str | None
    cheapest: str | None
    reason: str

    def to_dict(self) -> dict:
        return {"best": self.best, "fastest": self.fastest, "cheapest": self.cheapest,
                "reason": self.reason}


def recommend_impl(options: list[Option]) -> Recommendation:
    """Fastest, cheapest (priced options only) and best, with one sentence of reasoning."""
    usable = [o for o in options if o.estimate.fits_memory]
    if not usable:
        return Recommendation(None, None, None, "no option fits the workload in memory; lower --batch-size.")
    fastest = min(usable, key=lambda o: o.estimate.seconds)
    priced = [o for o in usable if o.cost_usd is not None]
    cheapest = min(priced, key=lambda o: o.cost_usd) if priced else None
    local = next((o for o in usable if o.id == "local"), None)
    if local is None:
        best = fastest
        reason = f"{fastest.id} is the fastest option that fits."
    elif fastest is local:
        best = local
        reason = "this machine is the fastest option available: train here."
    else:
        speedup = local.estimate.seconds / fastest.estimate.seconds
        if speedup < WORTHWHILE_SPEEDUP:
            best = local
            reason = (f"{fastest.id} is only {speedup:.1f}x faster than this machine "
                      f"(under {WORTHWHILE_SPEEDUP:.0f}x): stay here.")
        else:
            best = fastest
            reason = f"{fastest.id} is {speedup:.1f}x faster than this machine."
    return Recommendation(best.id, fastest.id, cheapest.id if cheapest else None, reason)
