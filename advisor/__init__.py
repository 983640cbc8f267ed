"""advisor: how long will training take, on which hardware, at what cost.

    import advisor
    w = advisor.Workload(dataset_size=7390, epochs=4)       # the pets recipe
    advisor.estimate(w).seconds                             # this machine (profiled if need be)
    advice = advisor.recommend(w)                           # here, the catalog's offers, ranked
    advice.recommendation.best, advice.to_frame()
    advisor.load_catalog().offers_frame()                   # what `advisor catalog offers` lists

Importing advisor does not import torch; measuring does (profile, on-the-spot calibration,
validate).
"""

from advisor._version import __version__ as __version__
from advisor.app.workflows import Estimator, Reporter, estimate, estimator_for, recommend, validate
from advisor.cloud.catalog import load_catalog
from advisor.errors import AdvisorError, Interrupted, RuntimeFailure, UsageError
from advisor.model.estimate import Estimate
from advisor.model.notes import Note
from advisor.model.profile import Profile
from advisor.model.workload import Workload
from advisor.store import load_profile, save_profile


def profile_machine(*args, **kwargs) -> Profile:
    """Measure this machine (see advisor.app.profiling.profile_machine); imports torch."""
    from advisor.app.profiling import profile_machine as _profile_machine

    return _profile_machine(*args, **kwargs)


def profile(workload: Workload | None = None, device: str = "auto", budget_s: float = 60.0,
            output: str | None = None, save: bool = True) -> Profile:
    """Measure this machine for `workload` and (by default) save the profile where
    `advisor recommend` finds it, keeping what the previous profile measured beyond it."""
    from advisor.app.workflows import measure_machine, save_measured

    prof = measure_machine(workload, device, budget_s)
    if save:
        save_measured(prof, output)
    return prof


def track(model=None, loader=None, *, epochs: float | None = None, total_steps: int | None = None,
          budget_s: float = 60.0, calibrate_only: bool = False, cloud: bool = True, providers=(),
          quiet: bool = False):
    """Measure a training loop of your own and predict its whole run, here and elsewhere.

        with advisor.track(model, train_loader, epochs=4) as t:
            for epoch in range(4):
                ...                                  # your loop, unchanged
        t.prediction.predicted_seconds, t.result.measured_seconds, t.advice.to_frame()

    After `budget_s` seconds of training (and a few warm-up steps) the prediction is made once,
    printed (unless `quiet`) and kept in `t.prediction`; `t.advice` has the cloud options
    predicted from the model's counted step (`cloud=False` skips them); when the block ends,
    `t.result` has the measured time beside the prediction. `calibrate_only=True` ends the loop
    once predicted. `model` and `loader` are optional: the steps, the batches and the model are
    found through PyTorch's hooks; a model given is the one watched (its input, its forward), a
    loader given is the training one (its length known from the start). Imports torch.
    """
    from advisor.integrations.track import Track

    return Track(model, loader, epochs=epochs, total_steps=total_steps, budget_s=budget_s, calibrate_only=calibrate_only,
                 cloud=cloud, providers=providers, quiet=quiet)


def to_dataframe(estimates):
    """One row per Estimate, as a pandas DataFrame."""
    import pandas as pd

    rows = []
    for e in estimates:
        d = e.to_dict()
        w = d.pop("workload")
        breakdown = d.pop("breakdown_seconds")
        d["notes"] = "; ".join(d["notes"])
        rows.append({**{f"workload_{k}": v for k, v in w.items()}, **d,
                     **{f"seconds_{k}": v for k, v in breakdown.items()}})
    return pd.DataFrame(rows)


__all__ = [
    "AdvisorError", "Estimate", "Estimator", "Interrupted", "Note", "Profile", "Reporter", "RuntimeFailure",
    "UsageError", "Workload", "estimate", "estimator_for", "load_catalog", "load_profile", "profile",
    "profile_machine", "recommend", "save_profile", "to_dataframe", "track", "validate",
]
