"""GPU accuracy: predictions against real training on a GPU, same-device and cross-device.

On a machine with a CUDA GPU (about 5 minutes):
1. profiles the GPU (resnet34, 224 px, batch 64) and keeps it as the reference profile
   profiles/measured/<gpu>.json;
2. for each workload below, predicts its training time as `advisor recommend` does on that GPU
   (a short calibration, then the estimator), trains it for real and compares;
3. cross-device: predicts the same workloads for this GPU model from a CPU-only profile (this
   machine's CPU, default efficiencies) and, where profiles/measured/ holds a reference profile of
   another GPU, from that one; both are compared with what this GPU measured.
Writes benchmarks/results/gpu_accuracy_<gpu>.{md,csv}.

    python benchmarks/gpu_accuracy.py [--device cuda:0] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
from pathlib import Path

import pandas as pd

from advisor import Estimator, Workload
from advisor.advise import advise
from advisor.catalog import gpu_for_device_name, load_catalog
from advisor.profile import load_reference_profiles, save_profile
from advisor.profiling import add_calibration, profile_machine
from advisor.report import markdown_table
from advisor.training import run_training_in_fresh_process

HERE = Path(__file__).parent

WORKLOADS = [
    Workload(model="resnet34", image_size=224, batch_size=64, dataset_size=4000, epochs=2),
    Workload(model="resnet34", image_size=224, batch_size=64, dataset_size=4000, epochs=2, precision="amp-bf16"),
    Workload(model="resnet18", image_size=224, batch_size=128, dataset_size=6000, epochs=2, precision="amp-fp16"),
    # the same in channels_last: checks the NCHW-transpose share of the cross-device model
    Workload(model="resnet18", image_size=224, batch_size=128, dataset_size=6000, epochs=2, precision="amp-fp16",
             channels_last=True),
    Workload(model="resnet50", image_size=224, batch_size=64, dataset_size=3000, epochs=1, frozen_epochs=1,
             precision="amp-bf16"),
    Workload(model="resnet18", image_size=64, batch_size=16, dataset_size=3000, epochs=1),  # launch-bound
    Workload(model="mobilenet_v3_large", image_size=224, batch_size=128, dataset_size=4000, epochs=2),
    Workload(model="efficientnet_b0", image_size=224, batch_size=64, dataset_size=3000, epochs=1,
             precision="amp-bf16"),
    Workload(model="convnext_tiny", image_size=224, batch_size=64, dataset_size=2000, epochs=1,
             precision="amp-bf16"),
    Workload(model="vit_b_16", image_size=224, batch_size=64, dataset_size=2000, epochs=1, precision="amp-bf16"),
]


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--quick", action="store_true", help="first four workloads only")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny versions of the workloads: checks the script itself, e.g. on a CPU")
    parser.add_argument("--calibration-budget-s", type=float, default=10.0)
    args = parser.parse_args()
    catalog = load_catalog()
    t0 = time.perf_counter()
    first = Workload(image_size=64, batch_size=8) if args.smoke else Workload()
    profile = profile_machine(first, device=args.device, budget_s=30)
    name = profile.device_name
    spec = gpu_for_device_name(catalog.gpus, name) if profile.device.startswith("cuda") else None
    print(f"profiled {name} in {time.perf_counter() - t0:.0f} s", flush=True)
    others = [r for r in load_reference_profiles() if slug(r.device_name) != slug(name)]
    if spec is not None and not args.smoke:
        measured_dir = HERE.parent / "profiles" / "measured"
        measured_dir.mkdir(parents=True, exist_ok=True)
        save_profile(profile, measured_dir / f"{slug(name)}.json")
    cpu_profile = profile_machine(Workload(), device="cpu", budget_s=30) if spec is not None else None
    rows = []
    chosen = WORKLOADS[:4] if args.quick else WORKLOADS
    if args.smoke:
        chosen = [w.with_(image_size=64 if w.model != "vit_b_16" else 32, batch_size=8,
                          dataset_size=20, epochs=1) for w in chosen]
    for w in chosen:
        if Estimator(profile).calibration_for(w) is None:
            profile = add_calibration(profile, w, args.calibration_budget_s)
        est = Estimator(profile).estimate(w)
        run = run_training_in_fresh_process(w, profile.device)
        row = {"model": w.model, "image_size": w.image_size, "batch": w.batch_size,
               "precision": est.workload.precision + (" nhwc" if w.channels_last else ""),
               "images": w.dataset_size, "epochs": w.epochs,
               "frozen": w.frozen_epochs, "measured_s": round(run.seconds, 2),
               "predicted_s": round(est.seconds, 2), "error_pct": round(100 * (est.seconds / run.seconds - 1), 1),
               "inside_band": est.seconds_low <= run.seconds <= est.seconds_high}
        if spec is not None:
            from_cpu = advise(cpu_profile, w, catalog, targets=(spec.id,), include_offers=False)
            cpu_pred = next(o for o in from_cpu.options if o.id == f"target:{spec.id}").estimate.seconds
            row.update(from_cpu_profile_s=round(cpu_pred, 2),
                       from_cpu_error_pct=round(100 * (cpu_pred / run.seconds - 1), 1))
            if others:
                ref = advise(cpu_profile, w, catalog, targets=(spec.id,), include_offers=False, references=others)
                ref_pred = next(o for o in ref.options if o.id == f"target:{spec.id}").estimate.seconds
                row.update(from_reference_s=round(ref_pred, 2),
                           from_reference_error_pct=round(100 * (ref_pred / run.seconds - 1), 1))
        rows.append(row)
        print(row, flush=True)
    if spec is not None and not args.smoke:  # the reference keeps every workload calibrated here
        save_profile(profile, HERE.parent / "profiles" / "measured" / f"{slug(name)}.json")
    df = pd.DataFrame(rows)
    same = df["error_pct"].abs()
    lines = [f"Same device: median |error| {same.median():.1f} %, max {same.max():.1f} %, "
             f"{100 * df['inside_band'].mean():.0f} % inside the band."]
    if "from_cpu_error_pct" in df:
        e = df["from_cpu_error_pct"].abs()
        lines.append(f"From a CPU-only profile: median |error| {e.median():.1f} %, max {e.max():.1f} %.")
    if "from_reference_error_pct" in df:
        e = df["from_reference_error_pct"].abs()
        lines.append(f"From the reference profile of {others[0].device_name}: median |error| "
                     f"{e.median():.1f} %, max {e.max():.1f} %.")
    header = (f"Measured {dt.date.today().isoformat()} on {name} ({profile.device}), torch "
              f"{profile.machine.torch_version}, CUDA {profile.machine.cuda_runtime_version}, driver "
              f"{profile.machine.driver_version}; host CPU {profile.machine.cpu.model}.")
    text = f"{header}\n\n{markdown_table(df.values.tolist(), list(df.columns))}\n\n" + "\n".join(lines) + "\n"
    print(text)
    if not args.smoke:  # a smoke run checks the script; its numbers are not results
        out = HERE / "results"
        out.mkdir(exist_ok=True)
        (out / f"gpu_accuracy_{slug(name)}.md").write_text(text)
        df.to_csv(out / f"gpu_accuracy_{slug(name)}.csv", index=False)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
