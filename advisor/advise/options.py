"""Options, their cost, the constraints and the recommendation, as plain data. Pure.

An option is one place the training could run: this machine ("local"), a cloud offer
("gcp:a2-highgpu-1g"), or a bare GPU named with --target ("target:h200", unpriced). The JSON
contract of `advisor recommend --format json` is built from these:
{"workload": {...}, "options": [...], "recommendation": {...}}.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from advisor.cloud.catalog import Offer
from advisor.errors import UsageError
from advisor.model.estimate import Estimate
from advisor.model.notes import Note
from advisor.model.units import hms, money

# The seed's rule of thumb: a GPU that is not at least this much faster is not worth the move.
WORTHWHILE_SPEEDUP = 3.0
OBJECTIVES = ("time", "cost", "balanced")
# Moving a run elsewhere costs time its training time does not show: starting the machine or
# runtime, installing the libraries, copying the data there. Assumed (a few minutes), not
# measured; it decides only for runs short enough that those minutes matter.
MOVE_OVERHEAD_S = 300.0
# Balanced ranking weighs time and cost alike in ratio: it minimises time x cost, so an option
# twice as fast is worth twice the price. This many dollars are added to every cost first, so
# that a free option is not infinitely better than a cheap one whatever its time.
BALANCED_COST_FLOOR_USD = 0.10

# options a recommendation's reader sees by default: the table's first rows
ANSWER_OPTIONS = 10


@dataclass(frozen=True)
class Option:
    id: str
    provider: str
    accelerator: str
    count: int
    estimate: Estimate
    cost_usd: float | None = None
    offer: Offer | None = None
    sessions: int = 1
    spot: bool = False
    notes: tuple[Note, ...] = field(default_factory=tuple)

    @property
    def all_notes(self) -> tuple[Note, ...]:
        """The option's own notes (price, sessions) and then its estimate's."""
        return self.notes + self.estimate.notes

    @property
    def ranking_cost(self) -> float:
        """Cost for ranking: this machine counts as free, an unpriced offer as unaffordable."""
        if self.cost_usd is not None:
            return self.cost_usd
        return 0.0 if self.id == "local" else math.inf

    def to_dict(self) -> dict:
        e = self.estimate
        d = {
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
            "sessions": self.sessions,
            "bound": e.bound,
            # the steady state apart from the one-time set-up
            "train_step_seconds": round(e.train_step_seconds, 6),
            "setup_seconds": round(e.setup_seconds, 3),
            "notes": [n.text for n in self.all_notes],
            "note_details": [n.to_dict() for n in self.all_notes],
        }
        par = e.parallel or {}
        d.update(
            gpus_per_node=par.get("gpus_per_node", self.count if self.offer is not None else 1),
            nodes=par.get("nodes", 1),
            per_gpu_batch=par.get("per_gpu_batch", e.workload.batch_size),
            global_batch=par.get("global_batch", e.workload.batch_size),
            scaling_efficiency=par.get("scaling_efficiency"),
            communication_share=par.get("communication_share"),
            communication_basis=par.get("communication_basis"),
            parallel=e.parallel,
        )
        if self.offer is not None:
            o = self.offer
            hourly = o.hourly_usd(self.spot)
            d.update(instance=o.instance, vcpus=o.vcpus, region=o.region, billing=o.billing,
                     usd_per_hour=None if hourly is None else round(hourly, 6), spot=self.spot,
                     runtime_limit_hours=o.runtime_limit_hours, price_as_of=o.as_of.isoformat(),
                     price_source=o.source)
        return d


def local_option(estimate: Estimate) -> Option:
    return Option(id="local", provider="this machine", accelerator=estimate.accelerator, count=1,
                  estimate=estimate, cost_usd=None)


DURATION = re.compile(r"^\s*(?:(?P<d>\d+(?:\.\d+)?)d)?\s*(?:(?P<h>\d+(?:\.\d+)?)h)?\s*"
                      r"(?:(?P<m>\d+(?:\.\d+)?)m(?:in)?)?\s*(?:(?P<s>\d+(?:\.\d+)?)s)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds in '2h30m', '90m', '45s', '1d', '1:30:00', '0:45' or a plain number of seconds."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return float(t)
    if re.fullmatch(r"\d+(:\d{1,2}){1,2}", t):
        parts = [int(p) for p in t.split(":")]
        while len(parts) < 3:
            parts.insert(0, 0)
        return float(parts[0] * 3600 + parts[1] * 60 + parts[2])
    m = DURATION.match(t)
    if t and m and any(m.groupdict().values()):
        g = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
        return g["d"] * 86400 + g["h"] * 3600 + g["m"] * 60 + g["s"]
    raise UsageError(f"deadline {text!r} is not a duration; use e.g. 2h30m, 90m, 45s or 1:30:00.")


def apply_constraints(options: list[Option], max_cost: float | None,
                           deadline_s: float | None) -> tuple[list[Option], list[dict]]:
    """Options that meet the constraints, and {id, reason} for each one excluded."""
    kept, excluded = [], []
    for o in options:
        reason = None
        if max_cost is not None and o.id != "local":
            if o.cost_usd is None:
                reason = f"cost unknown, cannot check the cost limit of ${max_cost:g}"
            elif o.cost_usd > max_cost:
                reason = f"costs {money(o.cost_usd)}, over the cost limit of ${max_cost:g}"
        if reason is None and deadline_s is not None and o.estimate.seconds > deadline_s:
            reason = f"takes {hms(o.estimate.seconds)}, past the deadline of {hms(deadline_s)}"
        if reason:
            excluded.append({"id": o.id, "reason": reason})
        else:
            kept.append(o)
    return kept, excluded


def sort_options(options: list[Option], objective: str) -> list[Option]:
    if objective not in OBJECTIVES:
        raise UsageError(f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}.")
    if not options:
        return []

    def key(o: Option):
        t, c = o.estimate.seconds, o.ranking_cost
        if objective == "time":
            primary = (t, c)
        elif objective == "cost":
            primary = (c, t)
        else:
            primary = (t * (c + BALANCED_COST_FLOOR_USD), t)
        return (not o.estimate.fits_memory, *primary)

    return sorted(options, key=key)


@dataclass(frozen=True)
class Recommendation:
    best: str | None
    fastest: str | None
    cheapest: str | None
    reason: str
    objective: str = "balanced"
    # one big GPU against several smaller ones, when the options have both
    gpu_count_comparison: str | None = None

    def to_dict(self) -> dict:
        return {"best": self.best, "fastest": self.fastest, "cheapest": self.cheapest,
                "objective": self.objective, "reason": self.reason,
                "gpu_count_comparison": self.gpu_count_comparison,
                "worthwhile_speedup": WORTHWHILE_SPEEDUP, "move_overhead_seconds": MOVE_OVERHEAD_S}


def compare_gpu_counts(options: list[Option], objective: str = "balanced") -> str | None:
    """One sentence setting the best single-GPU option beside the best multi-GPU one."""
    usable = [o for o in options if o.estimate.fits_memory and o.offer is not None and o.offer.gpu]
    single = [o for o in usable if o.count == 1]
    several = [o for o in usable if o.count > 1]
    if not single or not several:
        return None
    one = sort_options(single, objective)[0]
    many = sort_options(several, objective)[0]
    eff = (many.estimate.parallel or {}).get("scaling_efficiency")

    def describe(o: Option) -> str:
        return f"{o.id} ({o.accelerator}) {hms(o.estimate.seconds)} for {money(o.cost_usd)}"

    faster = one.estimate.seconds / many.estimate.seconds
    text = f"one GPU at best: {describe(one)}; several at best: {describe(many)}"
    if eff is not None:
        text += f", scaling {100 * eff:.0f} %"
    if faster >= 1:
        text += f": {faster:.1f}x sooner"
        subject, other = many, one
    else:
        text += f": the single GPU is {1 / faster:.1f}x sooner"
        subject, other = one, many
    if subject.cost_usd and other.cost_usd:
        ratio = subject.cost_usd / other.cost_usd
        text += f", at {ratio:.1f}x the cost" if ratio >= 1 else f" and {1 / ratio:.1f}x cheaper"
    return text + "."


def recommend_options(options: list[Option], objective: str = "balanced",
                   excluded: list[dict] | None = None) -> Recommendation:
    """Fastest, cheapest (among priced options) and best by the objective, with one sentence
    of reasoning; the seed's rule keeps the work here unless a GPU is 3x faster."""
    usable = [o for o in options if o.estimate.fits_memory]
    if not usable:
        if excluded:
            return Recommendation(None, None, None, "no option meets the constraints: "
                                  + "; ".join(f"{x['id']} {x['reason']}" for x in excluded[:3])
                                  + ("; ..." if len(excluded) > 3 else "."), objective)
        return Recommendation(None, None, None,
                              "no option fits the workload in memory; a smaller batch would.", objective)
    fastest = min(usable, key=lambda o: o.estimate.seconds)
    priced = [o for o in usable if o.cost_usd is not None]
    cheapest = min(priced, key=lambda o: (o.cost_usd, o.estimate.seconds)) if priced else None
    best = sort_options(usable, objective)[0]
    local = next((o for o in usable if o.id == "local"), None)
    if local is not None and best is not local:
        speedup = local.estimate.seconds / best.estimate.seconds
        overall = local.estimate.seconds / (best.estimate.seconds + MOVE_OVERHEAD_S)
        if speedup < WORTHWHILE_SPEEDUP:
            reason = (f"train on this machine: {best.id} would be only {speedup:.1f}x faster (under "
                      f"{WORTHWHILE_SPEEDUP:.0f}x).")
            best = local
        elif overall < WORTHWHILE_SPEEDUP:
            reason = (f"train on this machine: {best.id} would train in {hms(best.estimate.seconds)} against "
                      f"{hms(local.estimate.seconds)} here, but starting a machine there and bringing code and "
                      f"data takes minutes (about {MOVE_OVERHEAD_S / 60:.0f} assumed): "
                      + (f"{overall:.1f}x sooner in all, under {WORTHWHILE_SPEEDUP:.0f}x." if overall >= 1
                         else "done later in all."))
            best = local
        else:
            cost = "unpriced" if best.cost_usd is None else money(best.cost_usd)
            reason = (f"train on {best.id} ({best.accelerator}): {speedup:.0f}x faster than this machine "
                      f"({overall:.0f}x counting {MOVE_OVERHEAD_S / 60:.0f} minutes to move there), {cost}, "
                      f"best by {objective}.")
    elif best is local:
        reason = f"train on this machine: it is the best option by {objective}."
        unpriced = [o for o in usable if o.cost_usd is None and o is not local]
        quicker = min(unpriced, key=lambda o: o.estimate.seconds, default=None)
        if quicker and local.estimate.seconds >= WORTHWHILE_SPEEDUP * (quicker.estimate.seconds + MOVE_OVERHEAD_S):
            # a bare GPU ranks as unaffordable: say what it would change, and how to price it
            reason = (f"train on this machine: it is the best priced option by {objective}; {quicker.id} "
                      f"({quicker.accelerator}) would be {local.estimate.seconds / quicker.estimate.seconds:.0f}x "
                      "faster, but has no price as a bare GPU; the offers that rent it are priced "
                      "(`advisor catalog offers`).")
    else:
        reason = f"train on {best.id} ({best.accelerator}): the best option by {objective}."
    return Recommendation(best.id, fastest.id, cheapest.id if cheapest else None, reason, objective,
                          compare_gpu_counts(options, objective))
