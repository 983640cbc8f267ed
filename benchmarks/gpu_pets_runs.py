"""The pets recipe on a GPU predicted from a CPU-only profile, against whole runs measured there.

The sweep file (default benchmarks/data/h200-sweep-2026-11-26.json) holds whole runs of the pets
recipe on an H200 (resnet34, 5912 training and 1478 validation images, 4 epochs, fp32 and
amp-bf16). Each is predicted as `advisor recommend --target H200` would from the 2-core CPU
profile in benchmarks/data/ (no GPU involved), but with the step model fitted without any
resnet34 step (benchmarks/gpu_step_model.py's fit over the other swept models, the other models'
validation passes in the reference profiles and the published figures): out of sample. The steady state (an epoch after the first) is compared apart
from the one-time set-up (the first epoch's excess over a steady one), whose constants were fitted
to other H200 runs. Writes benchmarks/results/gpu_pets_runs.md; about a minute, no GPU needed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from gpu_step_model import Row, fit, load_rows, published_rows, reference_eval_rows

from advisor import Estimator, Workload
from advisor.cloud.catalog import gpu_for_device_name, load_catalog
from advisor.measure.opcount import count_step
from advisor.predict.targets import gpu_estimate
from advisor.render.text import markdown_table
from advisor.store import load_profile

ROOT = Path(__file__).resolve().parent
VALID_BATCH = 128  # the runs' validation batch, as the sweep file's note on them says


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default=str(ROOT / "data" / "h200-sweep-2026-11-26.json"))
    parser.add_argument("--profile", default=str(ROOT / "data" / "cpu_profile_epyc-2-core.json"))
    args = parser.parse_args(argv)
    sweep = json.loads(Path(args.sweep).read_text())
    profile = load_profile(args.profile)
    catalog = load_catalog()
    spec = gpu_for_device_name(catalog.gpus, sweep["env"]["gpu"])
    # the step model without the model these runs train
    others = [Row(r, count_step(r["model"], 37, r["size"], r["batch"], r["precision"]), spec)
              for r in load_rows(sweep) if r["model"] != "resnet34"]
    passes = [r for r in reference_eval_rows(catalog) if r.row["model"] != "resnet34"]
    eff = fit(others + passes + [r for part in published_rows(catalog).values() for r in part])
    estimator = Estimator(profile)
    local = profile.calibrations[0]
    rows = []
    for run in sweep["pets_runs"]["runs"]:
        images = run["ntrain"] + run["nvalid"]
        w = Workload(model="resnet34", batch_size=run["batch"], dataset_size=images, epochs=run["epochs"],
                     valid_fraction=run["nvalid"] / images, precision=run["precision"],
                     valid_batch_size=run.get("valid_batch", VALID_BATCH))
        e = gpu_estimate(w, estimator.step_cost(w), spec, eff, local=local, vcpus=None, decode_images_per_s=None,
                         eval_cost=estimator.step_cost(w.eval_step_workload()))
        b = e.breakdown_seconds
        steady = (b["training"] + b["validation"]) / w.epochs
        measured_steady = sum(run["epoch_s"][1:]) / (len(run["epoch_s"]) - 1)
        measured_setup = run["epoch_s"][0] - measured_steady
        rows.append([run["precision"], round(run["total_s"], 2), round(e.seconds, 2),
                     f"{100 * (e.seconds / run['total_s'] - 1):+.0f}%", round(measured_steady, 2), round(steady, 2),
                     f"{100 * (steady / measured_steady - 1):+.0f}%", round(measured_setup, 2),
                     round(b["first_steps_overhead"], 2)])
    text = (f"The pets recipe on one {sweep['env']['gpu']}, measured whole (from {Path(args.sweep).name}), "
            f"against its prediction from the CPU-only profile {Path(args.profile).name} "
            f"({profile.device_name}), with the step model fitted without resnet34; predicted "
            f"{dt.date.today().isoformat()}. Validation at batch {VALID_BATCH}, as the runs had it.\n\n"
            + markdown_table(rows, ["precision", "measured s", "predicted s", "error", "steady epoch s",
                                    "predicted epoch s", "epoch error", "set-up s", "predicted set-up s"])
            + "\n")
    (ROOT / "results" / "gpu_pets_runs.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
