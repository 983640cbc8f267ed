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

from advisor.app.workflows import Estimator, Reporter, estimate, estimator_for, recommend, validate
from advisor.cloud.catalog import load_catalog
from advisor.errors import AdvisorError, Interrupted, RuntimeFailure, UsageError
from advisor.model.estimate import Estimate
from advisor.model.notes import Note
from advisor.model.profile import Profile
from advisor.model.workload import Workload
from advisor.store import load_profile, save_profile

__version__ = "0.1.0"


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
    "profile_machine", "recommend", "save_profile", "to_dataframe", "validate",
]
