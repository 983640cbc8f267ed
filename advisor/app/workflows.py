"""Workflows the command line and Python share: profile if missing, calibrate on the spot,
estimate, recommend over the catalog, validate by training.

Nothing here prints. What a workflow has to say while it runs (profiling first, calibrating
now) goes to a `Reporter`; the CLI passes one that writes to the terminal, Python callers get
a quiet one unless they pass their own.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import time
from dataclasses import dataclass
from pathlib import Path

from advisor.advise import Advice, advise
from advisor.app.profiling import (
    add_calibration,
    add_distributed,
    check_scaled_workload,
    check_workload_runs,
    distributed_budget_s,
    profile_machine,
    recount,
    spot_calibration_seconds,
    stale_counts,
)
from advisor.cloud.catalog import load_catalog
from advisor.errors import Interrupted, RuntimeFailure, UsageError
from advisor.model.estimate import Estimate
from advisor.model.parallel import DataParallel
from advisor.model.profile import Profile
from advisor.model.run import Validation, completed_workload
from advisor.model.workload import Workload
from advisor.predict import local
from advisor.store import (
    carried_over,
    default_profile_path,
    load_profile,
    load_reference_profiles,
    same_setup,
    save_profile,
)

DEFAULT_PROFILE_BUDGET_S = 60.0
DEFAULT_SPOT_BUDGET_S = 30.0


class _Silent:
    """A progress display that shows nothing."""

    def __call__(self, stage: str, fraction: float) -> None:
        pass

    def expect(self, seconds_left: float) -> None:
        pass

    def done(self, message: str = "") -> None:
        pass


class Reporter:
    """Where a workflow's running commentary goes; this one keeps quiet."""

    def tell(self, event: str, text: str) -> None:
        """One sentence about what happens next (`event` names it for programs)."""

    def progress(self, budget_s: float, expected_s: float | None = None, then_s: float = 0.0):
        """A progress callable (stage, fraction of the budget) with `expect` and `done`."""
        return _Silent()


QUIET = Reporter()


class _Tracked:
    """A progress callable that remembers the stage it was last told, so that an interruption
    can say what had been measured."""

    def __init__(self, progress):
        self.progress = progress
        self.stage = "starting"
        self.start = time.perf_counter()

    def __call__(self, stage: str, fraction: float) -> None:
        self.stage = stage
        self.progress(stage, fraction)

    def expect(self, seconds_left: float) -> None:
        expect = getattr(self.progress, "expect", None)
        if expect is not None:
            expect(seconds_left)

    def done(self, message: str = "") -> None:
        self.progress.done(message)

    @contextlib.contextmanager
    def measuring(self, what: str, done: str):
        """Close the progress line however measuring ends; Ctrl-C becomes an Interrupted that
        says how far it got."""
        try:
            yield
        except KeyboardInterrupt:
            self.done(f"{what} stopped")
            raise Interrupted(f"{what} stopped at {self.stage!r} after "
                              f"{time.perf_counter() - self.start:.0f} s") from None
        except BaseException:
            self.done(f"{what} stopped")
            raise
        self.done(done)


def _count_step(*key):
    from advisor.measure.opcount import count_step

    return count_step(*key)


class Estimator(local.Estimator):
    """The estimator of advisor.predict.local, counting a workload the profile has not
    calibrated with torch (imported only then), and scaling a GPU profile's workloads by the
    catalog's entry for its GPU (`gpu`, found by the device's name in `catalog`, the built-in
    one unless given)."""

    def __init__(self, profile: Profile, count=None, gpu=None, catalog=None):
        if gpu is None and profile.device.startswith("cuda"):
            gpu = local.profiled_gpu(profile, (catalog or load_catalog()).gpus)
        super().__init__(profile, count or _count_step, gpu=gpu)


# -- profiles --------------------------------------------------------------------------------

def default_nproc(nproc: int | None, device: str) -> int | None:
    """`nproc` as given (checked before measuring), else the GPU count of a multi-GPU machine."""
    from advisor.measure.ddp import check_nproc
    from advisor.measure.probe import usable_cores
    from advisor.measure.training import resolve_device

    resolved = resolve_device(device)
    gpus = 0
    if resolved.startswith("cuda"):
        import torch

        gpus = torch.cuda.device_count()
    if nproc is None:
        return gpus if gpus > 1 else None
    check_nproc(nproc, resolved, usable_cores(), gpus)
    return nproc


def measure_machine(workload: Workload | None = None, device: str = "auto",
                    budget_s: float = DEFAULT_PROFILE_BUDGET_S, nproc: int | None = None,
                    reporter: Reporter = QUIET) -> Profile:
    """Profile this machine (and `nproc` data-parallel processes when asked)."""
    extra = distributed_budget_s(budget_s) if nproc else 0.0
    progress = _Tracked(reporter.progress(budget_s + extra, then_s=extra))
    with progress.measuring("profiling", "profile measured"):
        prof = profile_machine(workload, device=device, budget_s=budget_s, progress=progress)
        if nproc:
            prof = add_distributed(prof, nproc, None, extra, progress)
    return prof


@dataclass(frozen=True)
class Saved:
    """Where a profile was written, what it kept from the one it replaced, and where a replaced
    profile of other hardware or software was moved."""

    path: Path
    kept: tuple[str, ...] = ()
    backup: Path | None = None


def save_measured(prof: Profile, output: str | None = None) -> Saved:
    """Save a newly measured profile over `output` (default: this machine's), keeping what the
    one it replaces measured beyond it; a replaced profile of other hardware or software is
    kept beside it as `<name>.previous.json`."""
    target = Path(output) if output is not None else default_profile_path()
    backup = None
    kept: list[str] = []
    old = None
    if target.exists():
        try:
            old = load_profile(target)
        except (UsageError, RuntimeFailure):
            old = None  # unreadable: nothing to carry over
    if old is not None and not same_setup(prof, old):
        backup = save_profile(old, target.with_name(target.stem + ".previous.json"))
    elif old is not None:
        merged = carried_over(prof, old)
        kept = [c.key.describe() for c in merged.calibrations[len(prof.calibrations):]]
        if merged.distributed is not None and prof.distributed is None:
            kept.append(f"the data-parallel measurement on {merged.distributed.world} processes")
        prof = merged
    return Saved(save_profile(prof, output), tuple(kept), backup)


def _profile_for(workload: Workload, profile: Profile | str | None, device: str | None,
                 reporter: Reporter) -> Profile:
    """The profile given, or the one at a path, or this machine's (measured now if it has none)."""
    if isinstance(profile, Profile):
        return profile
    if profile is None and not default_profile_path().exists():
        reporter.tell("profiling", "No saved profile for this machine: profiling it first (once; "
                      "`advisor profile` repeats it).")
        prof = measure_machine(workload, device or "auto", DEFAULT_PROFILE_BUDGET_S, reporter=reporter)
        save_profile(prof)
        return prof
    prof = load_profile(profile)
    stale = stale_counts(prof)
    if stale:
        reporter.tell("recounting", f"Counting the work of {len(stale)} calibrated workload(s) again: this "
                      "advisor counts in-place ops and the optimizer's steady step, which the profile's "
                      "counts lack (once; the measurements are kept).")
        prof = recount(prof)
        save_profile(prof, profile)
    return prof


def estimator_for(workload: Workload, profile: Profile | str | None = None, *, calibrate: bool = True,
                  budget_s: float = DEFAULT_SPOT_BUDGET_S, device: str | None = None,
                  reporter: Reporter = QUIET, catalog=None) -> tuple[Estimator, Workload]:
    """An Estimator for `workload` and the workload with `auto` precision resolved.

    `profile` is a Profile, a path, or None for this machine's saved profile (measured first
    when there is none). A workload the profile lacks is calibrated on the spot and saved back
    into the profile file, keeping every calibration it had; with `calibrate=False` it is
    scaled from the closest calibration instead (on a GPU, with that GPU's entry in `catalog`).
    """
    prof = _profile_for(workload, profile, device, reporter)
    if device is not None:
        from advisor.measure.training import resolve_device

        wanted = resolve_device(device)
        if wanted != prof.device:
            raise UsageError(
                f"--device {device}: the profile was measured on {prof.device}; profile "
                f"{wanted} first (`advisor profile --device {wanted} --output FILE`, then --profile FILE).")
    estimator = Estimator(prof, catalog=catalog)
    workload = estimator.resolve(workload)
    if estimator.calibration_for(workload) is not None:
        return estimator, workload
    if not calibrate:
        check_scaled_workload(prof, workload)
        return estimator, workload
    check_workload_runs(workload)  # a misspelt model or a missing folder fails before any promise
    try:
        expected_s, slowest_s, limit_s = spot_calibration_seconds(estimator, workload, budget_s)
    except UsageError as exc:
        if exc.code not in ("emulated-precision", "calibration-too-long"):
            raise
        # other hardware is predicted the same either way: scale this machine instead of refusing
        reporter.tell("scaling", f"Not calibrating here: {exc} This machine's estimate is scaled instead; "
                      "other hardware is predicted as usual.")
        return estimator, workload
    from advisor.model.units import span

    about = span(expected_s) + (f" to {span(slowest_s)}" if slowest_s > 1.25 * expected_s else "")
    reporter.tell("calibrating", f"This workload is not in the profile: calibrating it now (about {about}).")
    progress = _Tracked(reporter.progress(budget_s, expected_s=expected_s))
    with progress.measuring("calibrating the workload", "calibrated"):
        prof = add_calibration(prof, workload, budget_s, progress, max_seconds=limit_s)
    if not isinstance(profile, Profile):
        save_profile(prof, profile)
    return Estimator(prof, catalog=catalog), workload


# -- answers ---------------------------------------------------------------------------------

def estimate(workload: Workload | None = None, profile: Profile | str | None = None, *,
             calibrate: bool = True, budget_s: float = DEFAULT_SPOT_BUDGET_S,
             reporter: Reporter = QUIET) -> Estimate:
    """This machine's full training time for `workload` (default: the pets recipe)."""
    estimator, workload = estimator_for(workload or Workload(), profile, calibrate=calibrate,
                                        budget_s=budget_s, reporter=reporter)
    return estimator.estimate(workload)


def recommend(workload: Workload | None = None, profile: Profile | str | None = None, *,
              catalog_files: tuple[str, ...] = (), providers=(), targets=(), spot: bool = False,
              objective: str = "balanced", max_cost_usd: float | None = None,
              deadline_seconds: float | None = None, include_offers: bool = True,
              gpus: int | None = None, nodes: int = 1, global_batch: int | None = None,
              calibrate: bool = True, budget_s: float = DEFAULT_SPOT_BUDGET_S,
              today: _dt.date | None = None, reporter: Reporter = QUIET) -> Advice:
    """Every place `workload` could train (this machine, the catalog's offers, bare `targets`),
    with time, cost and the recommendation. `Advice.to_frame()` gives one row per option."""
    workload = workload or Workload()
    if max_cost_usd is not None and not max_cost_usd >= 0:
        raise UsageError(f"the cost limit {max_cost_usd:g} must be zero or more US dollars.")
    DataParallel(1 if gpus is None else gpus, nodes, global_batch).check()
    catalog = load_catalog(tuple(catalog_files))
    for t in targets:
        catalog.gpu(t)  # unknown names fail before any measuring
    estimator, workload = estimator_for(workload, profile, calibrate=calibrate, budget_s=budget_s,
                                        reporter=reporter, catalog=catalog)
    return advise(estimator.profile, workload, catalog, providers=providers, targets=targets, spot=spot,
                  objective=objective, max_cost=max_cost_usd, deadline_s=deadline_seconds,
                  include_offers=include_offers, references=load_reference_profiles(),
                  estimator=estimator, gpus=gpus, nodes=nodes, global_batch=global_batch, today=today)


def validate(workload: Workload, profile: Profile | str | None = None, *, device: str | None = None,
             calibrate: bool = True, budget_s: float = DEFAULT_SPOT_BUDGET_S,
             max_seconds: float | None = None, training_progress=None,
             reporter: Reporter = QUIET) -> Validation:
    """Predict `workload` here, train it for real, and compare. With `max_seconds`, refuse
    (usage error) a training predicted to take longer. An interrupted training is compared
    with the prediction for the epochs that completed."""
    from advisor.measure.training import run_training
    from advisor.model.units import hms

    estimator, workload = estimator_for(workload, profile, calibrate=calibrate, budget_s=budget_s,
                                        device=device, reporter=reporter)
    predicted = estimator.estimate(workload)
    if max_seconds is not None and predicted.seconds > max_seconds:
        raise UsageError(f"the estimate is {hms(predicted.seconds)} ({predicted.seconds:.0f} s), over the "
                         f"limit of {max_seconds:.0f} s.", code="over-limit")
    reporter.tell("training", f"Predicted: {hms(predicted.seconds)} (band {hms(predicted.seconds_low)} to "
                  f"{hms(predicted.seconds_high)}) on {predicted.accelerator}; training now "
                  "(Ctrl-C stops and compares what ran).")
    run = run_training(workload, estimator.profile.device, training_progress)
    if run.epochs_completed == 0:
        raise Interrupted("training stopped before its first epoch ended: nothing to compare")
    if run.interrupted:
        predicted = estimator.estimate(completed_workload(workload, run.epochs_completed))
    return Validation(predicted, run)
