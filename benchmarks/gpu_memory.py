"""Peak GPU memory predicted from counted work, against allocator peaks measured on GPUs.

Every calibration of the reference profiles in advisor/cloud/data/measured/ (measured on an H200
and an H100 with `advisor profile` and benchmarks/gpu_accuracy.py) recorded the CUDA allocator's
peak over its steps, the first ones (cuDNN's autotuning) included; calibrations since also record
the timed steps' peak alone (`steady_peak_memory_bytes`), which is scored where present. Each is predicted as a GPU
option of `advisor recommend` is (advisor.predict.memory.counted_memory_bytes: the training state
and the activations autograd keeps for backward, counted on the meta device; no GPU needed).
The one fitted constant, the share of the FP32-counted activations autocast keeps, is fitted to
the mixed-precision rows and each model's rows are scored with it fitted without them. Writes
benchmarks/results/gpu_memory.md; about a minute on 2 cores.

    python benchmarks/gpu_memory.py [--profiles FILE ...] [--sweep FILE ...]

A sweep of benchmarks/gpu_sweep.py (with `steady_peak_memory_bytes`: the timed steps' peak,
without the warm-up's autotuning) is scored as well when given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
from pathlib import Path

from advisor.cloud.catalog import measured_profiles_dir
from advisor.measure.opcount import count_step
from advisor.predict import memory
from advisor.render.text import markdown_table

ROOT = Path(__file__).resolve().parent


def rows_of(profiles: list[Path], sweeps: list[Path]) -> list[dict]:
    rows = []
    for path in profiles:
        d = json.loads(path.read_text())
        for c in d["calibrations"]:
            k = c["key"]
            steady = c.get("steady_peak_memory_bytes")
            if steady or c.get("peak_memory_bytes"):
                rows.append(dict(gpu=d["device_name"], source=path.name, model=k["model"], size=k["image_size"],
                                 batch=k["batch_size"], precision=k["precision"],
                                 nhwc=bool(k.get("channels_last")), measured=steady or c["peak_memory_bytes"],
                                 what="steady steps" if steady else "first steps included"))
    for path in sweeps:
        d = json.loads(path.read_text())
        for r in d["throughput"]:
            if r.get("steady_peak_memory_bytes") and not r.get("frozen"):
                rows.append(dict(gpu=d["env"]["gpu"], source=path.name, model=r["model"], size=r["size"],
                                 batch=r["batch"], precision=r["precision"], nhwc=False,
                                 measured=r["steady_peak_memory_bytes"], what="steady steps"))
    return rows


def amp_factor(rows: list[dict]) -> float:
    """The share of counted activations that makes the median mixed-precision row exact (the
    shipped one where no row is in mixed precision)."""
    shares = [(r["measured"] - r["state"]) / r["saved"] for r in rows if r["precision"].startswith("amp")]
    return statistics.median(shares) if shares else memory.AMP_SAVED_FACTOR


def predicted(r: dict, factor: float) -> float:
    return r["state"] + r["saved"] * (factor if r["precision"].startswith("amp") else 1.0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="*", type=Path,
                        default=sorted(measured_profiles_dir().glob("*.json")))
    parser.add_argument("--sweep", nargs="*", type=Path, default=[])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "gpu_memory.md")
    args = parser.parse_args(argv)
    rows = rows_of(args.profiles, args.sweep)
    counted = {}
    for r in rows:
        key = (r["model"], r["size"], r["batch"], r["precision"])
        if key not in counted:
            counted[key] = count_step(r["model"], 37, r["size"], r["batch"], r["precision"])
        cost = counted[key]
        amp = r["precision"].startswith("amp")
        r["state"] = (memory.STATE_BYTES_PER_PARAMETER
                      + (memory.AMP_WEIGHT_COPY_BYTES_PER_PARAMETER if amp else 0)) * cost.parameters
        r["saved"] = cost.saved_bytes
    overall = amp_factor(rows)
    body, errors = [], {"amp": [], "fp32": []}
    for r in rows:
        held = amp_factor([o for o in rows if o["model"] != r["model"]])
        pred = predicted(r, held)
        err = pred / r["measured"] - 1
        errors["amp" if r["precision"].startswith("amp") else "fp32"].append(abs(err))
        body.append([r["gpu"], r["model"], r["size"], r["batch"], r["precision"] + (" nhwc" if r["nhwc"] else ""),
                     r["what"], round(r["measured"] / 2**30, 2), round(pred / 2**30, 2), f"{100 * err:+.0f}%"])
    table = markdown_table(body, ["GPU", "model", "px", "batch", "precision", "measured", "measured GiB",
                                  "predicted GiB", "error"])

    def summary(errs):
        return (f"median |error| {100 * statistics.median(errs):.0f} %, max {100 * max(errs):.0f} % over {len(errs)}"
                if errs else "none")

    text = (f"Peak GPU memory of training, predicted from counted work (advisor.predict.memory."
            f"counted_memory_bytes) against the CUDA allocator's peak measured on GPUs "
            f"({', '.join(p.name for p in args.profiles + args.sweep)}); scored {dt.date.today().isoformat()}, "
            "no GPU needed. Each row's autocast share was fitted without its model's rows.\n\n"
            f"{table}\n\nMixed precision: {summary(errors['amp'])}. FP32: {summary(errors['fp32'])}; "
            "peaks that include the first steps hold cuDNN's autotuning workspace (TF32 convolutions "
            "try algorithms with gigabytes of workspace while memory is free), which the prediction "
            f"leaves out.\n\nAutocast keeps {overall:.3f} of the FP32-counted activations (all rows; "
            f"advisor.predict.memory.AMP_SAVED_FACTOR).\n")
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
