"""GPU accuracy: predictions against real training on a GPU, same-device and cross-device.

On a machine with a CUDA GPU (on an H100, 2026-11-26: 4.5 minutes, `--quick` 3, `--holdout`
over 3; a workload's calibration and run took 22-90 s; the calibrations now time one more new
shape, some seconds each; `--all`: about 8):
1. profiles the GPU (resnet34, 224 px, batch 64) and keeps it as the reference profile
   advisor/cloud/data/measured/<gpu>.json;
2. for each workload below, predicts its training time as `advisor recommend` does on that GPU
   (a short calibration, then the estimator), trains it for real and compares;
3. cross-device: predicts the same workloads for this GPU model from a CPU-only profile (this
   machine's CPU, default efficiencies) and, where advisor/cloud/data/measured/ holds a reference profile of
   another GPU, from that one; both are compared with what this GPU measured.
Writes benchmarks/results/gpu_accuracy_<gpu>.{md,csv}, rewritten after every workload so a run
cut short keeps what it measured.

    python benchmarks/gpu_accuracy.py [--device cuda:0] [--quick | --all | --holdout]
        [--profile GPU.json] [--cpu-profile CPU.json] [--results-dir DIR]

--profile takes the GPU profile that `advisor profile --output` wrote (and adds the suite's
calibrations to it); --cpu-profile takes a CPU-only profile made on another machine, as a user
without a GPU has it, instead of profiling this machine's host CPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
import traceback
from pathlib import Path

import pandas as pd

from advisor import Estimator, Workload
from advisor.advise.advice import advise
from advisor.app.profiling import add_calibration, profile_machine
from advisor.cloud.catalog import gpu_for_device_name, load_catalog, measured_profiles_dir
from advisor.measure.training import run_training_in_fresh_process
from advisor.render.text import markdown_table
from advisor.store import load_profile, load_reference_profiles, save_profile

HERE = Path(__file__).parent

# Sized from the H200's measured steps for 3-4 s of steady training per epoch, two epochs, and
# the second epoch compared alone too (the last_epoch columns). The one-time set-up of a run
# (cuDNN autotuning: 1-8 s on the H200 for each new batch shape) would otherwise swamp seconds of
# training: most workloads here are whole batches in both splits, and two keep a partial last
# batch, whose shape pays the autotuning again. Six workloads (one the profile's own) took
# 4.5 minutes on an H100 with a 6-s calibration each: `--all` adds three more.
WORKLOADS = [
    Workload(model="resnet34", image_size=224, batch_size=64, dataset_size=12800, epochs=2),
    # channels_last: checks the NCHW-transpose share of the cross-device model (its NCHW twin: --all)
    Workload(model="resnet18", image_size=224, batch_size=128, dataset_size=32000, epochs=2, precision="amp-fp16",
             channels_last=True),
    Workload(model="resnet50", image_size=224, batch_size=64, dataset_size=10000, epochs=1, frozen_epochs=1,
             precision="amp-bf16"),  # partial validation batch
    Workload(model="resnet18", image_size=64, batch_size=16, dataset_size=8000, epochs=2),  # launch-bound
    Workload(model="mobilenet_v3_large", image_size=224, batch_size=128, dataset_size=12800, epochs=2),
    Workload(model="vit_b_16", image_size=224, batch_size=64, dataset_size=8000, epochs=2, precision="amp-bf16"),
]
MORE = [
    Workload(model="resnet18", image_size=224, batch_size=128, dataset_size=32000, epochs=2, precision="amp-fp16"),
    Workload(model="efficientnet_b0", image_size=224, batch_size=64, dataset_size=6000, epochs=2,
             precision="amp-bf16"),  # partial batches in both splits
    Workload(model="convnext_tiny", image_size=224, batch_size=64, dataset_size=6400, epochs=2,
             precision="amp-bf16"),
]

# Models that no GPU constant has seen (the host time per op and the set-up were fitted to
# H200 runs of resnet18/34/50, mobilenet_v3, efficientnet_b0 and vit_b_16): `--holdout`.
HOLDOUT = [
    Workload(model="densenet121", image_size=224, batch_size=64, dataset_size=6400, epochs=2),
    Workload(model="resnet101", image_size=224, batch_size=128, dataset_size=12800, epochs=2,
             precision="amp-bf16", channels_last=True),
    Workload(model="mobilenet_v2", image_size=224, batch_size=128, dataset_size=16000, epochs=2,
             precision="amp-fp16"),
]


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--quick", action="store_true", help="first four workloads only")
    parser.add_argument("--all", action="store_true", help="three more workloads (about 3 minutes more)")
    parser.add_argument("--holdout", action="store_true",
                        help="the workloads no model constant was fitted to (results get a _holdout suffix)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny versions of the workloads: checks the script itself, e.g. on a CPU")
    parser.add_argument("--calibration-budget-s", type=float, default=6.0)
    parser.add_argument("--profile", type=Path, help="this GPU's profile from `advisor profile --output`")
    parser.add_argument("--cpu-profile", type=Path, help="a CPU-only profile for the cross-device predictions")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    args = parser.parse_args()
    catalog = load_catalog()
    t0 = time.perf_counter()
    if args.profile:
        profile = load_profile(args.profile)
    else:
        first = Workload(image_size=64, batch_size=8) if args.smoke else Workload()
        profile = profile_machine(first, device=args.device, budget_s=30)
    name = profile.device_name
    spec = gpu_for_device_name(catalog.gpus, name) if profile.device.startswith("cuda") else None
    print(f"profiled {name} in {time.perf_counter() - t0:.0f} s", flush=True)
    others = [r for r in load_reference_profiles() if slug(r.device_name) != slug(name)]
    reference_path = args.profile or Path(str(measured_profiles_dir())) / f"{slug(name)}.json"
    if spec is not None and not args.smoke:
        save_profile(profile, reference_path, create_dirs=True)
    cpu_profile = None
    if spec is not None:
        cpu_profile = (load_profile(args.cpu_profile) if args.cpu_profile
                       else profile_machine(Workload(), device="cpu", budget_s=30))
    rows, text = [], "no workload measured\n"
    chosen = HOLDOUT if args.holdout else WORKLOADS[:4] if args.quick else WORKLOADS + MORE if args.all else WORKLOADS
    if args.smoke:
        chosen = [w.with_(image_size=64 if w.model != "vit_b_16" else 32, batch_size=8,
                          dataset_size=20, epochs=2) for w in chosen]
    for w in chosen:
        started = time.perf_counter()
        try:
            profile, row = measure(w, profile, cpu_profile, spec, others, catalog, args.calibration_budget_s)
        except Exception:  # noqa: BLE001 - one broken workload must not cost the others' measurements
            traceback.print_exc()
            print(f"FAILED {w}", flush=True)
            continue
        rows.append(row)
        print(row, f"({time.perf_counter() - started:.0f} s)", flush=True)
        if spec is not None and not args.smoke:  # the reference keeps every workload calibrated here
            save_profile(profile, reference_path)
        text = write_tables(rows, profile, others, args.results_dir if not args.smoke else None,
                            "_holdout" if args.holdout else "")
    print(text)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


def measure(w, profile, cpu_profile, spec, others, catalog, budget_s):
    if Estimator(profile).calibration_for(w) is None:
        profile = add_calibration(profile, w, budget_s)
    run = run_training_in_fresh_process(w, profile.device)
    # the last epoch, when it is not the first, has no set-up in it: the steady state alone
    last = run.epoch_seconds[-1] if w.epochs + w.frozen_epochs > 1 else None
    # ...and the first epoch's excess over it is the run's one-time set-up (epochs alike only)
    setup = run.epoch_seconds[0] - last if last is not None and not w.frozen_epochs else None
    return profile, score(w, profile, cpu_profile, spec, others, catalog, run.seconds, last, setup)


def last_epoch_seconds(est) -> float:
    """An unfrozen epoch of `est` without the run's one-time set-up."""
    b, w = est.breakdown_seconds, est.workload
    return b["training"] / w.epochs + (b["validation"] + b["loader_start"]) / (w.epochs + w.frozen_epochs)


def score(w, profile, cpu_profile, spec, others, catalog, measured_s, last_epoch_s=None,
          setup_s=None) -> dict:
    """Predictions for `w` against what a run measured: same device (from `profile`), and for
    GPU `spec` from the CPU-only profile and from reference profiles of other GPUs."""
    def error(predicted, measured):
        return round(100 * (predicted / measured - 1), 1)

    est = Estimator(profile).estimate(w)
    row = {"model": w.model, "image_size": w.image_size, "batch": w.batch_size,
           "precision": est.workload.precision + (" nhwc" if w.channels_last else ""),
           "images": w.dataset_size, "epochs": w.epochs,
           "frozen": w.frozen_epochs, "measured_s": round(measured_s, 2),
           "predicted_s": round(est.seconds, 2), "error_pct": error(est.seconds, measured_s),
           "inside_band": est.seconds_low <= measured_s <= est.seconds_high}
    if last_epoch_s:
        row.update(last_epoch_s=round(last_epoch_s, 2),
                   last_epoch_error_pct=error(last_epoch_seconds(est), last_epoch_s))
    if setup_s is not None:
        row.update(setup_s=round(setup_s, 2),
                   predicted_setup_s=round(est.breakdown_seconds["first_steps_overhead"], 2))
    if spec is None:
        return row
    sources = [("from_cpu_profile", None)] + ([("from_reference", others)] if others else [])
    for column, references in sources:
        advice = advise(cpu_profile, w, catalog, targets=(spec.id,), include_offers=False, references=references,
                        estimator=Estimator(cpu_profile))
        pred = next(o for o in advice.options if o.id == f"target:{spec.id}").estimate
        row[f"{column}_s"] = round(pred.seconds, 2)
        row[f"{column}_error_pct"] = error(pred.seconds, measured_s)
        row[f"{column}_inside_band"] = pred.seconds_low <= measured_s <= pred.seconds_high
        if last_epoch_s:
            row[f"{column}_last_epoch_error_pct"] = error(last_epoch_seconds(pred), last_epoch_s)
    return row


def write_tables(rows, profile, others, results_dir: Path | None, suffix: str = "") -> str:
    name = profile.device_name
    df = pd.DataFrame(rows)
    same = df["error_pct"].abs()
    lines = [f"Same device: median |error| {same.median():.1f} %, max {same.max():.1f} %, "
             f"{100 * df['inside_band'].mean():.0f} % inside the band."]
    if "last_epoch_error_pct" in df:
        e = df["last_epoch_error_pct"].dropna().abs()
        lines.append(f"Same device, last epoch (no set-up): median |error| {e.median():.1f} %, max {e.max():.1f} %.")
    if "setup_s" in df:
        both = df.dropna(subset=["setup_s"])
        ratio = (both["setup_s"] / both["predicted_setup_s"].where(both["predicted_setup_s"] > 0)).dropna()
        if len(ratio):
            lines.append(f"Set-up (first epoch over the last), measured / predicted: {ratio.min():.2f}-"
                         f"{ratio.max():.2f}x, median {ratio.median():.2f}x over {len(ratio)} runs.")
    if "from_cpu_profile_error_pct" in df:
        e = df["from_cpu_profile_error_pct"].abs()
        inside = 100 * df["from_cpu_profile_inside_band"].mean()
        lines.append(f"From a CPU-only profile: median |error| {e.median():.1f} %, max {e.max():.1f} %, "
                     f"{inside:.0f} % inside the band.")
    if "from_cpu_profile_last_epoch_error_pct" in df:
        e = df["from_cpu_profile_last_epoch_error_pct"].dropna().abs()
        lines.append(f"From a CPU-only profile, last epoch: median |error| {e.median():.1f} %, max {e.max():.1f} %.")
    if "from_reference_error_pct" in df:
        e = df["from_reference_error_pct"].abs()
        lines.append(f"From the reference profile of {others[0].device_name}: median |error| "
                     f"{e.median():.1f} %, max {e.max():.1f} %.")
    header = (f"Measured {dt.date.today().isoformat()} on {name} ({profile.device}), torch "
              f"{profile.machine.torch_version}, CUDA {profile.machine.cuda_runtime_version}, driver "
              f"{profile.machine.driver_version}; host CPU {profile.machine.cpu.model}.")
    text = f"{header}\n\n{markdown_table(df.values.tolist(), list(df.columns))}\n\n" + "\n".join(lines) + "\n"
    if results_dir is not None:  # a smoke run checks the script; its numbers are not results
        results_dir.mkdir(parents=True, exist_ok=True)
        (results_dir / f"gpu_accuracy_{slug(name)}{suffix}.md").write_text(text)
        df.to_csv(results_dir / f"gpu_accuracy_{slug(name)}{suffix}.csv", index=False)
    return text


if __name__ == "__main__":
    sys.exit(main())
