"""Re-score measured GPU runs with the current estimator (no GPU needed).

The runs' measured times come from gpu_accuracy.py's CSV files; the same-device predictions from
the calibrations in the GPU's reference profile, the cross-device ones from a CPU-only profile.
Each input keeps the provenance line of its markdown twin. A change to the estimator can so be
checked against every GPU measurement already made.

    python benchmarks/gpu_rescore.py benchmarks/results/gpu_accuracy_nvidia-h200_run1.csv \\
        benchmarks/results/gpu_accuracy_nvidia-h200_run2.csv \\
        --profile advisor/cloud/data/measured/nvidia-h200.json \\
        --cpu-profile benchmarks/data/cpu_profile_epyc-2-core.json

Writes benchmarks/results/gpu_accuracy_<gpu>_rescored.{md,csv}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import pandas as pd
from gpu_accuracy import HERE, score, slug, write_tables

from advisor import Workload
from advisor.cloud.catalog import gpu_for_device_name, load_catalog
from advisor.store import load_profile, load_reference_profiles


def workload_of(row) -> Workload:
    precision, _, layout = str(row["precision"]).partition(" ")
    return Workload(model=row["model"], image_size=int(row["image_size"]), batch_size=int(row["batch"]),
                    precision=precision, channels_last=layout == "nhwc", dataset_size=int(row["images"]),
                    epochs=int(row["epochs"]), frozen_epochs=int(row["frozen"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="gpu_accuracy CSV files")
    parser.add_argument("--profile", type=Path, required=True, help="the GPU's reference profile")
    parser.add_argument("--cpu-profile", type=Path, required=True)
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    args = parser.parse_args()
    catalog = load_catalog()
    profile, cpu_profile = load_profile(args.profile), load_profile(args.cpu_profile)
    spec = gpu_for_device_name(catalog.gpus, profile.device_name)
    others = [r for r in load_reference_profiles() if slug(r.device_name) != slug(profile.device_name)]
    rows, sources = [], []
    for path in args.results:
        twin = path.with_suffix(".md")
        sources.append(f"{path.name}: {twin.read_text().splitlines()[0]}" if twin.exists() else path.name)
        for _, r in pd.read_csv(path).iterrows():
            last, setup = r.get("last_epoch_s"), r.get("setup_s")
            row = score(workload_of(r), profile, cpu_profile, spec, others, catalog, float(r["measured_s"]),
                        None if last is None or pd.isna(last) else float(last),
                        None if setup is None or pd.isna(setup) else float(setup))
            rows.append({"run": path.stem.removeprefix(f"gpu_accuracy_{slug(profile.device_name)}").lstrip("_")
                         or "suite", **row})
    text = write_tables(rows, profile, others, None)
    body = text.split("\n", 2)[2]  # the table and summary without a measurement header
    out = args.results_dir / f"gpu_accuracy_{slug(profile.device_name)}_rescored"
    header = (f"Predictions recomputed {dt.date.today().isoformat()} by the current estimator from "
              f"{args.profile.name} and {args.cpu_profile.name}, against times measured earlier:\n"
              + "".join(f"- {s}\n" for s in sources))
    out.with_suffix(".md").write_text(f"{header}\n{body}")
    pd.DataFrame(rows).to_csv(out.with_suffix(".csv"), index=False)
    print(f"{header}\n{body}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
