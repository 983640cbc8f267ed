"""The accuracy suite: predicted against measured full training time on this machine.

Profiles this machine with the default workload (resnet34, 224 px, batch 64), then for each
workload below: predicts its training time the way `advisor recommend` and `advisor validate`
do (a short calibration of that workload unless the profile has it, then the estimator), also
predicts it without calibrating (scaled from the default calibration by counted work, what
`--no-calibrate` does; for JPEG rows that ignores decoding), really trains it, and compares.
Writes benchmarks/results/accuracy.{md,csv}, with the set-up each estimate counted beside the
one each run paid (its first epoch's excess over its last, where a run has two or more alike),
and the kernel's share of each calibration's step CPU time (page faults, README).
About 13 minutes on a 2-core CPU.

    python benchmarks/accuracy.py [--quick] [--device cpu] [--save-profile FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from advisor import Estimator, Workload
from advisor.app.profiling import add_calibration, profile_machine
from advisor.measure.sampledata import write_image_folder
from advisor.measure.training import run_training_in_fresh_process
from advisor.render.text import markdown_table
from advisor.store import save_profile

OUT = Path(__file__).parent / "results"


def workloads(data_dir: str) -> list[Workload]:
    synthetic = [
        # the profiled workload itself (no extra calibration needed), on a smaller dataset
        Workload(model="resnet34", image_size=224, batch_size=64, dataset_size=700, epochs=1),
        Workload(model="resnet18", image_size=112, batch_size=32, dataset_size=1000, epochs=2),
        Workload(model="resnet18", image_size=320, batch_size=8, dataset_size=200, epochs=1),
        Workload(model="resnet34", image_size=160, batch_size=16, dataset_size=300, epochs=1, frozen_epochs=1),
        Workload(model="resnet50", image_size=64, batch_size=48, dataset_size=900, epochs=2, valid_fraction=0.25),
        Workload(model="mobilenet_v3_small", image_size=128, batch_size=64, dataset_size=2500, epochs=2),
        Workload(model="mobilenet_v3_large", image_size=160, batch_size=256, dataset_size=1280, epochs=1),
        Workload(model="efficientnet_b0", image_size=96, batch_size=32, dataset_size=700, epochs=2),
        Workload(model="convnext_tiny", image_size=64, batch_size=16, dataset_size=400, epochs=1, frozen_epochs=1),
        Workload(model="vit_b_16", image_size=224, batch_size=8, dataset_size=96, epochs=1),
        Workload(model="resnet18", image_size=128, batch_size=32, dataset_size=600, epochs=1, precision="amp-bf16"),
        Workload(model="resnet18", image_size=112, batch_size=32, dataset_size=1000, epochs=2, channels_last=True),
    ]
    jpeg = [
        Workload(model="resnet18", image_size=64, batch_size=32, dataset_size=600, epochs=2,
                 data_dir=data_dir, workers=w)
        for w in (0, 1, 2)
    ]
    return synthetic + jpeg


def error_summary(df: pd.DataFrame, error: str = "error_pct", inside: str = "inside_band") -> str:
    """'median |error| a %, max b %, c % inside' of a results table (the band is the caller's to name)."""
    e = df[error].abs()
    return f"median |error| {e.median():.1f} %, max {e.max():.1f} %, {100 * df[inside].mean():.0f} % inside"


def save_results(df: pd.DataFrame, stem: str, header: str, summary: str) -> None:
    """benchmarks/results/<stem>.csv, and <stem>.md: the header, the table, the summary."""
    OUT.mkdir(exist_ok=True)
    df.to_csv(OUT / f"{stem}.csv", index=False)
    table = markdown_table(df.values.tolist(), list(df.columns))
    (OUT / f"{stem}.md").write_text(f"{header}\n\n{table}\n\n{summary}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="first two workloads only")
    parser.add_argument("--calibration-budget-s", type=float, default=20.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--save-profile", type=Path,
                        help="keep the suite's profile, with every workload's calibration, in this file")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="advisor-bench-")
    data_dir = str(write_image_folder(Path(tmp) / "images", classes=4, per_class=40))
    t0 = time.perf_counter()
    load_start = os.getloadavg()[0]
    profile = profile_machine(Workload(), device=args.device, budget_s=60)
    print(f"profiled in {time.perf_counter() - t0:.0f} s: {profile.device_name}", flush=True)
    base_profile = profile
    rows = []
    chosen = workloads(data_dir)[:2] if args.quick else workloads(data_dir)
    for w in chosen:
        scaled = Estimator(base_profile).estimate(w.with_(data_dir=None, workers=0) if w.data_dir else w)
        if Estimator(profile).calibration_for(w) is None:
            profile = add_calibration(profile, w, args.calibration_budget_s)
        est = Estimator(profile).estimate(w)
        kernel = Estimator(profile).calibration_for(w).kernel_time_share
        run = run_training_in_fresh_process(w, profile.device)
        if args.save_profile:
            save_profile(profile, args.save_profile, create_dirs=True)
        err = (est.seconds - run.seconds) / run.seconds
        # the first epoch's excess over the last: the run's one-time set-up (epochs alike only)
        setup = run.epoch_seconds[0] - run.epoch_seconds[-1] if w.epochs > 1 and not w.frozen_epochs else None
        scaled_err = (scaled.seconds - run.seconds) / run.seconds
        rows.append({
            "model": w.model, "image_size": w.image_size, "batch": w.batch_size,
            "precision": w.precision + (" nhwc" if w.channels_last else ""),
            "data": w.data_source + (f"/{w.workers}w" if w.data_dir else ""),
            "images": w.dataset_size, "epochs": w.epochs, "frozen": w.frozen_epochs,
            "predicted_s": round(est.seconds, 1), "low_s": round(est.seconds_low, 1),
            "high_s": round(est.seconds_high, 1), "measured_s": round(run.seconds, 1),
            "error_pct": round(100 * err, 1),
            "inside_band": est.seconds_low <= run.seconds <= est.seconds_high,
            "scaled_predicted_s": round(scaled.seconds, 1), "scaled_error_pct": round(100 * scaled_err, 1),
            "scaled_inside_band": scaled.seconds_low <= run.seconds <= scaled.seconds_high,
            "predicted_setup_s": round(est.breakdown_seconds["first_steps_overhead"], 1),
            "setup_s": None if setup is None else round(setup, 1),
            # the kernel's share of the calibration's step CPU time (page faults, mostly)
            "kernel_pct": None if kernel is None else round(100 * kernel),
        })
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    cpu = profile.machine.cpu
    header = (f"Measured {dt.date.today().isoformat()} on {profile.device_name} ({cpu.usable_cores} "
              f"CPU cores, {platform.system()}, torch {profile.machine.torch_version}); profile: "
              f"resnet34 224 px batch 64; calibration budget {args.calibration_budget_s:.0f} s per workload; "
              f"each workload calibrated, and then trained, in a fresh process of its own, as "
              f"`advisor recommend` and a user's script run.")
    summary = (f"Predicted as `advisor recommend` does: {error_summary(df)} the band. Scaled without calibrating: "
               f"{error_summary(df, 'scaled_error_pct', 'scaled_inside_band')} its band.")
    save_results(df, "accuracy", header, summary)
    print(summary)
    print(f"load average at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}; "
          f"{(time.perf_counter() - t0) / 60:.0f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
