"""Putting it together: this machine's estimate, every offer's and target's, their cost, and
the recommendation. Reads the catalog and reference profiles; the arithmetic is in the pure
modules (estimate, targets, recommend).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from advisor.advise.options import (
    ANSWER_OPTIONS,
    Option,
    Recommendation,
    apply_constraints,
    local_option,
    recommend_options,
    sort_options,
)
from advisor.cloud.catalog import (
    Catalog,
    Offer,
    check_providers,
    filter_offers,
    gpu_for_device_name,
    stale_offers,
    stale_warning,
)
from advisor.cloud.pricing import offer_cost
from advisor.errors import UsageError
from advisor.model.calibration import Calibration
from advisor.model.cost import StepCost
from advisor.model.estimate import Estimate
from advisor.model.notes import info, warning
from advisor.model.parallel import CommModel, DataParallel
from advisor.model.profile import Profile
from advisor.model.units import money
from advisor.model.workload import Workload
from advisor.predict.gpu import DEFAULT_GPU_EFFICIENCY, Efficiency
from advisor.predict.local import Estimator, closest_calibration, profiled_gpu
from advisor.predict.targets import cpu_estimate, gpu_estimate


@dataclass(frozen=True)
class Advice:
    workload: Workload
    options: list[Option]
    recommendation: Recommendation
    excluded: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self, top: int | None = None) -> dict:
        shown = self.options[:top]
        # this machine stays in the listing however short: it is what everything is compared with;
        # so do the GPUs asked for by name
        shown += [o for o in self.options[len(shown):] if o.id == "local" or o.id.startswith("target:")]
        return {
            "workload": self.workload.to_dict(),
            "options": [o.to_dict() for o in shown],
            "recommendation": self.recommendation.to_dict(),
            "excluded": self.excluded,
            "warnings": self.warnings,
        }

    def to_frame(self):
        """One row per option (the JSON's fields, notes joined), best first, as a pandas DataFrame."""
        import pandas as pd

        rows = []
        for o in self.options:
            d = o.to_dict()
            d.pop("note_details")
            d.pop("parallel")
            breakdown = d.pop("breakdown_seconds")
            d["notes"] = "; ".join(d["notes"])
            d["mark"] = "".join(k[0].upper() for k in ("best", "fastest", "cheapest")
                                if getattr(self.recommendation, k) == o.id)
            rows.append({**d, **{f"seconds_{k}": v for k, v in breakdown.items()}})
        return pd.DataFrame(rows)


def advise(profile: Profile, workload: Workload, catalog: Catalog, *, providers=(), targets=(),
           spot: bool = False, objective: str = "balanced", max_cost: float | None = None,
           deadline_s: float | None = None, include_offers: bool = True,
           references: list[Profile] | None = None, today: _dt.date | None = None,
           estimator: Estimator | None = None, gpus: int | None = None, nodes: int = 1,
           global_batch: int | None = None) -> Advice:
    """Every option for `workload`. `gpus` (per machine) and `nodes` ask for data-parallel
    training: only offers with that many GPUs, on `nodes` machines each. Without `gpus`, every
    offer is predicted with all its GPUs. `global_batch` fixes the global batch (per-GPU batch =
    global / GPUs); otherwise the workload's batch is per GPU."""
    estimator = estimator or Estimator(profile, gpu=profiled_gpu(profile, catalog.gpus))
    workload = estimator.resolve(workload)
    providers = check_providers(providers)
    specs = [catalog.gpu(t) for t in targets]  # unknown names fail before any estimate
    requested = DataParallel(gpus or 1, nodes, global_batch)
    requested.check()
    offers = filter_offers(catalog.offers, providers) if include_offers else ()
    offers = _offers_for_gpus(offers, gpus, nodes)
    local = _local_estimate(estimator, workload, requested, gpus)
    options = [local_option(local)]
    excluded: list[dict] = []
    warnings: list[str] = []
    if offers or specs:
        local_cal = estimator.calibration_for(workload) or closest_calibration(profile, workload)
        decode = None
        if local_cal is not None and local_cal.decode_images_per_s is not None:
            decode = local_cal.decode_images_per_s.median
        cpu = profile.machine.cpu
        ctx = _Context(workload, estimator.step_cost, catalog, tuple(references or ()), local, local_cal, decode,
                       profile.device, cpu.usable_cores or cpu.logical_cores or 1,
                       spot, nodes, global_batch, today or _dt.date.today())
        for offer in offers:
            option, reason = _offer_option(offer, ctx)
            if option is None:
                excluded.append({"id": offer.key, "reason": reason})
            else:
                options.append(option)
        for spec in specs:
            single = workload if global_batch is None else workload.with_(batch_size=global_batch)
            e = gpu_estimate(single, estimator.step_cost(single), spec, ctx.efficiency(spec.id),
                             local=local_cal, vcpus=None, decode_images_per_s=decode,
                             eval_cost=_eval_cost(estimator.step_cost, single))
            options.append(Option(id=f"target:{spec.id}", provider="any", accelerator=spec.name, count=1,
                                  estimate=e, notes=(info("bare-gpu", "a bare GPU: no price, no host limits"),)))
    return _ranked(workload, options, excluded, warnings, objective, max_cost, deadline_s, today)


def advise_measured(local: Estimate, cost: StepCost, catalog: Catalog, *, local_device: str = "cpu",
                    local_cores: int = 1, providers=(), spot: bool = False, objective: str = "balanced",
                    max_cost: float | None = None, deadline_s: float | None = None,
                    today: _dt.date | None = None) -> Advice:
    """Every option for a run measured here as it trained (`local`, its workload inside), its
    step counted as `cost`: the catalog's offers predicted from that count, one GPU or machine
    each (as the run was)."""
    workload = local.workload
    offers = _offers_for_gpus(filter_offers(catalog.offers, check_providers(providers)), None, 1)
    ctx = _Context(workload, lambda w: cost.at_batch(w.batch_size) or cost, catalog, (), local, None, None,
                   local_device, local_cores, spot, today=today or _dt.date.today())
    options, excluded = [local_option(local)], []
    for offer in offers:
        if offer.gpu_count > 1:
            continue  # the script trains on one device; more GPUs would need its code changed
        option, reason = _offer_option(offer, ctx)
        if option is None:
            excluded.append({"id": offer.key, "reason": reason})
        else:
            options.append(option)
    return _ranked(workload, options, excluded, [], objective, max_cost, deadline_s, today)


def _ranked(workload, options, excluded, warnings, objective, max_cost, deadline_s, today) -> Advice:
    """The options within the constraints, ranked, recommended, with the stale prices among them."""
    kept, dropped = apply_constraints(options, max_cost, deadline_s)
    excluded.extend(dropped)
    ordered = sort_options(kept, objective)
    recommendation = recommend_options(ordered, objective, excluded)
    stale = stale_warning(_offers_in_answer(ordered, recommendation), today or _dt.date.today())
    if stale:
        warnings.append(stale)
    return Advice(workload, ordered, recommendation, excluded, warnings)


def _offers_in_answer(ordered: list[Option], rec, first: int = ANSWER_OPTIONS) -> list[Offer]:
    """The offers a reader of this answer sees: the recommended ones and the first `first`."""
    named = {rec.best, rec.fastest, rec.cheapest}
    return [o.offer for i, o in enumerate(ordered) if o.offer is not None and (i < first or o.id in named)]


def _offers_for_gpus(offers, gpus: int | None, nodes: int) -> tuple[Offer, ...]:
    """Offers with `gpus` GPUs per machine (all GPU offers when None); a count no offer has is
    a usage error naming the counts there are."""
    if gpus is None:
        return tuple(offers) if nodes == 1 else tuple(o for o in offers if o.gpu is not None)
    kept = tuple(o for o in offers if o.gpu is not None and o.gpu_count == gpus)
    if offers and not kept:
        counts = sorted({o.gpu_count for o in offers if o.gpu is not None})
        more = f"more GPUs than any offer has (at most {counts[-1]})" if counts and gpus > counts[-1] \
            else "no offer has that many GPUs in one machine"
        raise UsageError(f"--gpus {gpus}: {more}; offers have {', '.join(map(str, counts))} GPUs "
                         "per machine (`advisor catalog offers` lists them).")
    return kept


def _local_estimate(estimator: Estimator, workload: Workload, requested: DataParallel, gpus: int | None):
    """This machine: data-parallel when asked for and measured (profile --nproc), else one device."""
    d = estimator.profile.distributed
    if gpus is not None and requested.world > 1 and d is not None and d.world == requested.world:
        return estimator.estimate_data_parallel(workload, requested)
    single = workload if requested.global_batch is None else workload.with_(batch_size=requested.global_batch)
    e = estimator.estimate(single)
    if gpus is not None and requested.world > 1:
        e = replace(e, notes=e.notes + (warning("one-device", f"one device: this machine's profile has no "
                                                f"measurement of {requested.world} data-parallel processes"),))
    return e


def offer_comm(offer: Offer, catalog: Catalog, spec_id: str, nodes: int,
                    references: list[Profile]) -> CommModel:
    """The all-reduce model for `nodes` machines of `offer`: measured by a reference profile of
    the same GPU on one machine (profile --nproc), else the catalog's interconnect figures."""
    from advisor.predict.parallel import catalog_comm

    world = offer.gpu_count * nodes
    if nodes == 1:
        for ref in references:
            d = ref.distributed
            spec = gpu_for_device_name(catalog.gpus, ref.device_name)
            if d is not None and d.nodes == 1 and d.backend == "nccl" and spec is not None and spec.id == spec_id:
                return d.comm_model(world)
    if offer.interconnect is None:
        raise UsageError(f"{offer.key}: the catalog does not say how its {offer.gpu_count} GPUs are "
                         "connected; add `interconnect` to the offer with --catalog.")
    ic = catalog.interconnects[offer.interconnect]
    source = ic.name + (" (assumed: not published for this machine)" if offer.interconnect_assumed else "")
    if nodes > 1:
        source += f" and {offer.network_bits_per_s / 1e9:g} Gbit/s between machines" if offer.network_bits_per_s else ""
    return catalog_comm(ic.kind, ic.link_bytes_per_s, offer.gpu_count, nodes,
                             offer.network_bits_per_s, source)


def _price_notes(offer: Offer, usd: float | None, today: _dt.date) -> list:
    """How sure the price is: its age, why an old one is kept, and how far a drifting rate moved."""
    notes = []
    if stale_offers([offer], today):
        kept = f"; kept because {offer.last_known}" if offer.last_known else ""
        notes.append(warning("stale-price", f"price as of {offer.as_of}, {offer.age_days(today)} days old{kept}"))
    seen = offer.rate_range()
    if seen and usd:
        low, high = seen
        used = offer.compute_units_per_hour or 1.0
        cheap, dear = (money(usd * r.compute_units_per_hour / used) for r in (low, high))
        notes.append(info("rate-drift", f"its rate was seen at {low.compute_units_per_hour:g} CU/h ({low.source}, "
                          f"{low.as_of}) and {high.compute_units_per_hour:g} ({high.source}, {high.as_of}); priced "
                          f"at {used:g}" + (f", the run costs {cheap} to {dear}" if cheap != dear else "")))
    return notes


@dataclass(frozen=True)
class _Context:
    """What every offer's option is estimated from: the workload, this machine's estimate and
    calibration, the catalog, the reference profiles and the data-parallel request."""

    workload: Workload
    step_cost: Callable[[Workload], StepCost]
    catalog: Catalog
    references: tuple[Profile, ...]
    local: Estimate  # this machine's
    local_cal: Calibration | None  # the calibration closest to the workload
    decode_images_per_s: float | None  # JPEG decoding measured here, one process
    local_device: str  # the device this machine's estimate is for: CPU offers scale from a CPU one
    local_cores: int
    spot: bool = False
    nodes: int = 1
    global_batch: int | None = None
    today: _dt.date = field(default_factory=_dt.date.today)

    def efficiency(self, spec_id: str) -> Efficiency:
        """The step model's constants for a GPU: fitted to steady-state steps measured on an
        H200, for every GPU (reference profiles timed a synchronisation after every step, which
        training never does, so they no longer scale the model)."""
        return DEFAULT_GPU_EFFICIENCY


def _eval_cost(step_cost: Callable[[Workload], StepCost], workload: Workload) -> StepCost | None:
    """The step counted at the workload's validation batch, where that is not its training batch."""
    if workload.eval_batch_size == workload.batch_size:
        return None
    return step_cost(workload.eval_step_workload())


def _offer_option(offer: Offer, ctx: _Context) -> tuple[Option | None, str | None]:
    """The option of renting `offer` (`ctx.nodes` of it), or None and why it cannot be one."""
    workload, nodes, global_batch = ctx.workload, ctx.nodes, ctx.global_batch
    if offer.gpu is not None:
        spec = ctx.catalog.gpus[offer.gpu]
        dp = DataParallel(offer.gpu_count, nodes, global_batch)
        comm = None
        if dp.world > 1:
            if global_batch is not None and global_batch % dp.world:
                return None, f"a global batch of {global_batch} is not divisible by its {dp.world} GPUs"
            if nodes > 1 and not offer.network_bits_per_s:
                return None, "no published network bandwidth between machines of this type"
            try:
                comm = offer_comm(offer, ctx.catalog, spec.id, nodes, list(ctx.references))
            except UsageError as exc:
                return None, str(exc)
        per_gpu = workload.with_(batch_size=dp.per_gpu_batch(workload))
        e = gpu_estimate(workload, ctx.step_cost(per_gpu), spec, ctx.efficiency(spec.id), local=ctx.local_cal,
                         vcpus=offer.vcpus, decode_images_per_s=ctx.decode_images_per_s, dp=dp, comm=comm,
                         eval_cost=_eval_cost(ctx.step_cost, per_gpu))
    else:
        if ctx.local_device != "cpu":
            return None, "a CPU-only machine, and this machine's estimate is not a CPU's to scale from"
        if not offer.vcpus:
            return None, "a CPU machine whose vCPU count is not published"
        e = cpu_estimate(ctx.local, ctx.local_cores, offer.vcpus, offer.ram_bytes)
    spot = ctx.spot
    usd, sessions, notes = offer_cost(offer, e.seconds, spot)
    if usd is not None and nodes > 1 and offer.gpu is not None:
        usd *= nodes
        notes.append(info("nodes-billed", f"{nodes} machines, each billed"))
    if offer.provider == "colab" and offer.gpu is not None:
        notes.append(info("colab-availability", "Colab assigns GPUs by availability and paid balance: not guaranteed"))
    notes.extend(_price_notes(offer, usd, ctx.today))
    count = offer.gpu_count * nodes if offer.gpu else 1
    option_id = offer.key if nodes == 1 or offer.gpu is None else f"{offer.key}:{nodes}-nodes"
    return Option(id=option_id, provider=offer.provider_name,
                  accelerator=e.accelerator, count=count, estimate=e, cost_usd=usd, offer=offer,
                  sessions=sessions, spot=spot, notes=tuple(notes)), None
