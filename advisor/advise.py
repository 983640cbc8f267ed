"""Putting it together: this machine's estimate, every offer's and target's, their cost, and
the recommendation. Reads the catalog and reference profiles; the arithmetic is in the pure
modules (estimate, targets, recommend)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from advisor.catalog import Catalog, Offer, check_providers_impl, filter_offers_impl, stale_prices_impl
from advisor.crosshw import DEFAULT_GPU_EFFICIENCY, Efficiency
from advisor.estimate import Estimator, closest_calibration
from advisor.profile import Profile
from advisor.recommend import (Option, Recommendation, apply_constraints_impl, cost_impl,
                               local_option, recommend_impl, sort_options_impl)
from advisor.targets import cpu_estimate, gpu_estimate
from advisor.workload import Workload


@dataclass(frozen=True)
class Advice:
    workload: Workload
    options: list[Option]
    recommendation: Recommendation
    excluded: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self, top: int | None = None) -> dict:
        shown = self.options[:top]
        # this machine stays in the listing however short: it is what everything is compared with
        shown += [o for o in self.options[len(shown):] if o.id == "local"]
        return {
            "workload": self.workload.to_dict(),
            "options": [o.to_dict() for o in shown],
            "recommendation": self.recommendation.to_dict(),
            "excluded": self.excluded,
            "warnings": self.warnings,
        }


def reference_efficiency(references: list[Profile], catalog: Catalog, spec_id: str) -> Efficiency | None:
    """Efficiencies fitted to a reference profile measured on a real GPU: the same GPU model
    first, else one of the same architecture."""
    from advisor.catalog import gpu_for_device_name
    from advisor.crosshw import fit_efficiency

    target = catalog.gpus[spec_id]
    candidates = []
    for ref in references:
        spec = gpu_for_device_name(catalog.gpus, ref.device_name)
        cal = next((c for c in ref.calibrations if c.step_cost is not None and c.key.data_source == "synthetic"), None)
        if spec is None or cal is None:
            continue
        rank = 0 if spec.id == target.id else 1 if spec.arch == target.arch else None
        if rank is None:
            continue
        overhead = ref.microbenchmarks.op_overhead_s
        candidates.append((rank, spec, ref, cal, overhead.median if overhead else DEFAULT_GPU_EFFICIENCY.launch_s))
    if not candidates:
        return None
    _, spec, ref, cal, launch = min(candidates, key=lambda c: c[0])
    return fit_efficiency(cal.step_cost.train, spec, cal.key.precision, cal.train_step_seconds.median,
                          cal.op_split, launch, f"efficiencies fitted to the reference profile of {ref.device_name}")


def advise(profile: Profile, workload: Workload, catalog: Catalog, *, providers=(), targets=(),
           spot: bool = False, objective: str = "balanced", max_cost: float | None = None,
           deadline_s: float | None = None, include_offers: bool = True,
           references: list[Profile] | None = None, today: _dt.date | None = None,
           estimator: Estimator | None = None) -> Advice:
    estimator = estimator or Estimator(profile)
    workload = estimator.resolve(workload)
    providers = check_providers_impl(providers)
    specs = [catalog.gpu(t) for t in targets]  # unknown names fail before any estimate
    local = estimator.estimate(workload)
    options = [local_option(local)]
    excluded: list[dict] = []
    warnings: list[str] = []
    offers = filter_offers_impl(catalog.offers, providers) if include_offers else ()
    if offers or specs:
        cost = estimator.step_cost(workload)
        local_cal = estimator.calibration_for(workload) or closest_calibration(profile, workload)
        decode = None
        if local_cal is not None and local_cal.decode_images_per_s is not None:
            decode = local_cal.decode_images_per_s.median
        refs = references or []

        def efficiency(spec_id: str) -> Efficiency:
            return reference_efficiency(refs, catalog, spec_id) or DEFAULT_GPU_EFFICIENCY

        for offer in offers:
            option, reason = _offer_option(offer, workload, cost, local, local_cal, decode, profile,
                                           catalog, efficiency, spot)
            if option is None:
                excluded.append({"id": offer.key, "reason": reason})
            else:
                options.append(option)
        for spec in specs:
            e = gpu_estimate(workload, cost, spec, efficiency(spec.id), local=local_cal, vcpus=None,
                             decode_images_per_s=decode)
            options.append(Option(id=f"target:{spec.id}", provider="any", accelerator=spec.name,
                                  count=1, estimate=e, notes=("a bare GPU: no price, no host limits",)))
        stale = stale_prices_impl(offers, today or _dt.date.today())
        if stale:
            warnings.append(stale)
    kept, dropped = apply_constraints_impl(options, max_cost, deadline_s)
    excluded.extend(dropped)
    ordered = sort_options_impl(kept, objective)
    recommendation = recommend_impl(ordered, objective, excluded)
    return Advice(workload, ordered, recommendation, excluded, warnings)


def _offer_option(offer: Offer, workload, cost, local, local_cal, decode, profile, catalog,
                  efficiency, spot):
    if offer.gpu is not None:
        spec = catalog.gpus[offer.gpu]
        e = gpu_estimate(workload, cost, spec, efficiency(spec.id), local=local_cal,
                         vcpus=offer.vcpus, decode_images_per_s=decode)
    else:
        if profile.device != "cpu":
            return None, "a CPU-only machine, and this profile has no CPU calibration to scale from"
        if not offer.vcpus:
            return None, "a CPU machine whose vCPU count is not published"
        cores = profile.machine.cpu.usable_cores or profile.machine.cpu.logical_cores or 1
        e = cpu_estimate(local, cores, offer.vcpus, offer.ram_bytes)
    usd, sessions, notes = cost_impl(offer, e.seconds, spot)
    if offer.provider == "colab" and offer.gpu is not None:
        notes.append("Colab assigns GPUs by availability and paid balance: not guaranteed")
    accelerator = e.accelerator if offer.gpu is None else f"{e.accelerator}"
    return Option(id=offer.key, provider=offer.provider_name, accelerator=accelerator,
                  count=offer.gpu_count if offer.gpu else 1, estimate=e, cost_usd=usd, offer=offer,
                  sessions=sessions, spot=spot, notes=tuple(notes)), None
