"""How well a workload's step time is predicted from another workload's calibration.

With --calibrate, profiles this machine (resnet34, 224 px, batch 64) and calibrates the
workloads below into FILE (about 5 minutes here); without it, reads FILE as it is. Then takes
the resnet34 calibration as the only reference and, for every other calibration, compares the
throughput the estimator predicts by scaling (what `--no-calibrate` does) with the throughput
that calibration measured. Writes benchmarks/results/scaling.md.

    python benchmarks/scaling.py --calibrate --profile /tmp/scaling-profile.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from advisor import Estimator, Workload, load_profile, save_profile
from advisor.render.text import markdown_table

WORKLOADS = [  # (model, image size, batch)
    ("resnet18", 112, 32), ("resnet34", 160, 16), ("resnet34", 224, 16), ("resnet18", 224, 128),
    ("resnet50", 64, 48), ("mobilenet_v3_small", 128, 64), ("mobilenet_v3_large", 224, 32),
    ("efficientnet_b0", 96, 32), ("convnext_tiny", 64, 16), ("vgg11", 64, 32),
]
OUT = Path(__file__).parent / "results"


def calibrate_all(path: str) -> None:
    from advisor.app.profiling import add_calibration, profile_machine

    profile = profile_machine(Workload(), device="auto", budget_s=60)
    for model, size, batch in WORKLOADS:
        w = Workload(model=model, image_size=size, batch_size=batch)
        profile = add_calibration(profile, w, 20)
        print(f"calibrated {model} {size} {batch}", flush=True)
    save_profile(profile, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None)
    parser.add_argument("--calibrate", action="store_true", help="measure the profile first")
    parser.add_argument("--reference-model", default="resnet34")
    args = parser.parse_args()
    if args.calibrate:
        calibrate_all(args.profile)
    profile = load_profile(args.profile)
    refs = [c for c in profile.calibrations
            if c.key.model == args.reference_model and c.key.image_size == 224 and c.key.batch_size == 64]
    if not refs:
        print("the profile has no resnet34 224 px batch 64 calibration", file=sys.stderr)
        return 2
    ref = refs[0]
    only_ref = replace(profile, calibrations=(ref,))
    rows, errors = [], []
    for c in profile.calibrations:
        k = c.key
        if c is ref or k.data_source != "synthetic":
            continue
        w = Workload(model=k.model, num_classes=k.num_classes, image_size=k.image_size,
                     batch_size=k.batch_size, precision=k.precision, dataset_size=1000)
        e = Estimator(only_ref).estimate(w)
        train_err = e.train_images_per_s / c.train_images_per_s - 1
        eval_err = e.eval_images_per_s / c.eval_images_per_s - 1
        errors.append(abs(train_err))
        rows.append([k.model, k.image_size, k.batch_size, round(c.train_images_per_s, 1),
                     round(e.train_images_per_s, 1), f"{100 * train_err:+.0f}%",
                     round(c.eval_images_per_s, 1), round(e.eval_images_per_s, 1),
                     f"{100 * eval_err:+.0f}%"])
    table = markdown_table(rows, ["model", "size", "batch", "train img/s measured", "predicted",
                                  "error", "eval img/s measured", "predicted", "error"])
    summary = (f"median |train error| {100 * statistics.median(errors):.0f} %, "
               f"max {100 * max(errors):.0f} % over {len(errors)} workloads") if errors else ""
    cpu = profile.machine.cpu
    header = (f"Profile measured {profile.created_at[:10]} on {profile.device_name} "
              f"({profile.machine.os}, torch {profile.machine.torch_version}); reference: "
              f"{ref.key.model} {ref.key.image_size} px batch {ref.key.batch_size}; "
              f"table made {dt.date.today().isoformat()}. RAM {cpu.ram_bytes / 2**30:.0f} GiB.")
    text = f"{header}\n\n{table}\n\n{summary}\n"
    print(text)
    if args.calibrate:
        OUT.mkdir(exist_ok=True)
        (OUT / "scaling.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
