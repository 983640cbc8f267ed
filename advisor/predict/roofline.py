"""A roofline over counted work: how long a phase takes at given FLOP and byte rates. Pure.

Each intensity bin of a PhaseCost is bound either by arithmetic (FLOPs / FLOP rate) or by memory
traffic (bytes / byte rate), whichever is longer (Paleo's per-layer model, evaluated per bin);
each op also pays a fixed dispatch overhead. The effective rates are not datasheet peaks: they
are fitted so that the model reproduces what the profiler measured on a reference step, which
absorbs kernel efficiency, caches and threading of the machine at hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor.model.cost import PhaseCost, in_class


@dataclass(frozen=True)
class Rates:
    flops_per_s: float
    bytes_per_s: float
    op_overhead_s: float = 0.0


def class_seconds(cost: PhaseCost, rates: Rates, op_class: str | None = None) -> float:
    """Roofline time of the bins of one op class (all bins when None), overhead excluded."""
    return sum(max(b.flops / rates.flops_per_s, b.bytes / rates.bytes_per_s)
               for b in cost.bins if in_class(b, op_class))


def phase_seconds(cost: PhaseCost, rates: Rates) -> float:
    return class_seconds(cost, rates) + cost.ops * rates.op_overhead_s


def fit_rates(cost: PhaseCost, compute_s: float, memory_s: float, op_overhead_s: float = 0.0,
              iterations: int = 50) -> Rates:
    """Effective rates under which `cost` takes `compute_s` in its compute-class ops and
    `memory_s` in its memory-class ops (the profiler's split of a measured step).

    Start from the plain ratios (all compute ops FLOP-bound, all memory ops byte-bound) and
    correct for bins on the other side of the ridge by fixed-point iteration.
    """
    flops = cost.compute_flops or 1.0
    nbytes = cost.memory_bytes or cost.compute_bytes or 1.0
    compute_s = max(compute_s, 1e-9)
    memory_s = max(memory_s, 1e-9)
    rates = Rates(flops / compute_s, nbytes / memory_s, op_overhead_s)
    for _ in range(iterations):
        model_c = class_seconds(cost, rates, "compute") or compute_s
        model_m = class_seconds(cost, rates, "memory") or memory_s
        f = rates.flops_per_s * model_c / compute_s
        b = rates.bytes_per_s * model_m / memory_s
        if abs(f / rates.flops_per_s - 1) < 1e-6 and abs(b / rates.bytes_per_s - 1) < 1e-6:
            break
        rates = Rates(f, b, op_overhead_s)
    return rates
