"""Long trainings against the prediction made before them: the reference story, scaled down.

The accuracy suite's runs last seconds, so that fifteen fit in a quarter of an hour; users train
for many minutes or hours, which the estimate extrapolates from a calibration of a few dozen
steps. This benchmark checks that extrapolation as a user meets it: it profiles the machine
(`advisor profile`, default budget), predicts each workload below as `advisor recommend` does
(a spot calibration of 30 s where the profile lacks the workload: here the JPEG one), then
trains it for several minutes in a fresh process and compares the whole run and each epoch.

Workloads: resnet34 at 224 px, batch 64, 4 epochs (the pets example's recipe), on synthetic
tensors and on an ImageFolder of pets-sized JPEGs (500x375) decoded by 2 DataLoader workers.
About 15 minutes on a 2-core CPU. Writes benchmarks/results/long_runs.{md,csv}.

    python benchmarks/long_runs.py [--device cpu] [--scale 1.0] [--save-profile FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from accuracy import error_summary, save_results

from advisor import Estimator, Workload
from advisor.app.profiling import add_calibration, profile_machine
from advisor.measure.sampledata import write_image_folder
from advisor.measure.training import run_training_in_fresh_process
from advisor.store import save_profile

SPOT_BUDGET_S = 30.0  # `advisor recommend --budget-s` default (cli.DEFAULT_RECALIBRATE_BUDGET_S)
PROFILE_BUDGET_S = 60.0  # `advisor profile --budget-s` default


def workloads(data_dir: str, scale: float) -> list[Workload]:
    images = lambda n: max(64, int(n * scale))  # noqa: E731
    return [
        Workload(model="resnet34", image_size=224, batch_size=64, dataset_size=images(1500), epochs=4),
        Workload(model="resnet34", image_size=224, batch_size=64, dataset_size=images(1110), epochs=4,
                 data_dir=data_dir, workers=2),
    ]


def steady_epoch_seconds(est) -> float:
    """The estimate's time of one unfrozen epoch without the one-time set-up."""
    b = est.breakdown_seconds
    return (b["training"] + b["validation"] + b.get("loader_start", 0.0)) / est.workload.epochs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the datasets' sizes (0.1 for a quick try of the script)")
    parser.add_argument("--save-profile", type=Path,
                        help="keep the profile, with the spot calibrations, in this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="advisor-long-") as tmp:
        # the pets dataset's 37 classes, 30 pictures each (the real one has about 200)
        data_dir = write_image_folder(Path(tmp) / "images", classes=37, per_class=max(2, int(30 * args.scale)))
        return run(args, str(data_dir))


def run(args, data_dir: str) -> int:
    t0 = time.perf_counter()
    profile = profile_machine(Workload(), device=args.device, budget_s=PROFILE_BUDGET_S)
    print(f"profiled in {time.perf_counter() - t0:.0f} s: {profile.device_name}", flush=True)
    rows = []
    for w in workloads(data_dir, args.scale):
        spot = Estimator(profile).calibration_for(w) is None
        if spot:
            profile = add_calibration(profile, w, SPOT_BUDGET_S)
        if args.save_profile:
            save_profile(profile, args.save_profile, create_dirs=True)
        est = Estimator(profile).estimate(w)
        predicted_at = dt.datetime.now(dt.timezone.utc)
        print(f"{w.model} {w.data_source}: predicted {est.seconds:.0f} s; training", flush=True)
        trained = run_training_in_fresh_process(w, profile.device)
        epochs = trained.epoch_seconds
        steady = steady_epoch_seconds(est)
        later = statistics.median(epochs[1:]) if len(epochs) > 1 else None
        err = (est.seconds - trained.seconds) / trained.seconds
        rows.append({
            "model": w.model, "image_size": w.image_size, "batch": w.batch_size, "precision": w.precision,
            "data": w.data_source + (f"/{w.workers}w" if w.data_dir else ""),
            "images": w.dataset_size, "epochs": w.epochs,
            "calibration": f"spot {SPOT_BUDGET_S:.0f} s" if spot else "profile",
            "predicted_s": round(est.seconds, 1), "low_s": round(est.seconds_low, 1),
            "high_s": round(est.seconds_high, 1), "measured_s": round(trained.seconds, 1),
            "error_pct": round(100 * err, 1),
            "inside_band": est.seconds_low <= trained.seconds <= est.seconds_high,
            "predicted_epoch_s": round(steady, 1),
            "epoch_s": " / ".join(f"{s:.1f}" for s in epochs),
            # later epochs against the steady epoch the estimate assumed: drift over a long run
            "later_epochs_error_pct": None if later is None else round(100 * (steady - later) / later, 1),
            "minutes_after_prediction": round((dt.datetime.now(dt.timezone.utc) - predicted_at).total_seconds() / 60, 1),
        })
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    cpu = profile.machine.cpu
    header = (f"Measured {dt.date.today().isoformat()} on {profile.device_name} ({cpu.usable_cores} usable cores, "
              f"torch {profile.machine.torch_version}); profile: resnet34 224 px batch 64, "
              f"{PROFILE_BUDGET_S:.0f} s; a workload the profile lacks calibrated for {SPOT_BUDGET_S:.0f} s; "
              "each calibration and each training in a fresh process of its own.")
    summary = f"Whole runs: {error_summary(df)} the band; {time.perf_counter() - t0:.0f} s in all."
    save_results(df, "long_runs", header, summary)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
