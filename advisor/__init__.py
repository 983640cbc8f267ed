"""advisor: how long will training take, on which hardware, at what cost.

    from advisor import Workload, Estimator, profile_machine, load_profile
    profile = load_profile()               # or profile_machine() to measure now
    estimate = Estimator(profile).estimate(Workload(dataset_size=7390, epochs=4))
"""

from advisor.errors import AdvisorError, RuntimeFailure, UsageError
from advisor.estimate import Estimate, Estimator
from advisor.profile import Profile, load_profile, save_profile
from advisor.workload import Workload

__version__ = "0.1.0"


def profile_machine(*args, **kwargs):
    """Measure this machine (see advisor.profiling.profile_machine); imports torch."""
    from advisor.profiling import profile_machine as _profile_machine

    return _profile_machine(*args, **kwargs)


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
    "AdvisorError", "Estimate", "Estimator", "Profile", "RuntimeFailure", "UsageError",
    "Workload", "load_profile", "profile_machine", "save_profile", "to_dataframe",
]
