"""Cross-hardware accuracy: predicted training throughput on GPUs against public measurements.

Counts a ResNet-50 training step (batch 128, 224 px) on the meta device, predicts its throughput
on each GPU of benchmarks/data/public_resnet50.toml from the catalog's datasheet figures, and
compares with the published images/s. The efficiencies (fractions of the peaks reached) are
fitted here; the accuracy reported is leave-one-GPU-out: each GPU is predicted with
efficiencies fitted to the other GPUs only. Then the efficiencies fitted to all ResNet-50
points predict other models (benchmarks/data/public_other_models.toml: EfficientNet-B0,
ResNeXt-101 32x4d) at their published batch sizes, a test on models the fit never saw.
Writes benchmarks/results/cross_hardware.md.

    python benchmarks/cross_hardware.py
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import statistics
import sys
import tomllib
from dataclasses import replace
from pathlib import Path

from advisor.cloud.catalog import load_catalog
from advisor.measure.opcount import count_step
from advisor.predict.gpu import DEFAULT_GPU_EFFICIENCY, Efficiency, gpu_phase_seconds
from advisor.render.text import markdown_table

HERE = Path(__file__).parent
BATCH = 128
PRECISIONS = {"fp32": "fp32", "amp": "amp-fp16"}
GRID = [round(0.05 * i, 2) for i in range(1, 21)]
TRANSPOSE_GRID = [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0]


def predicted_images_per_s(costs, spec, precision, batch, eff, channels_last=False):
    return batch / gpu_phase_seconds(costs[precision, batch].train, spec, precision, eff, channels_last)


def fit(points, costs, gpus) -> Efficiency:
    """The grid point minimising the mean absolute log error over `points`."""
    best = None
    for tensor, simt, memory, transpose in itertools.product(GRID, GRID, GRID, TRANSPOSE_GRID):
        eff = replace(DEFAULT_GPU_EFFICIENCY, tensor=tensor, simt=simt, memory=memory,
                      nchw_transpose=transpose)
        err = statistics.fmean(
            abs(math.log(predicted_images_per_s(costs, gpus[g], p, b, eff, nhwc) / measured))
            for g, p, measured, _, nhwc, b in points)
        if best is None or err < best[0]:
            best = (err, eff)
    return best[1]


def main() -> int:
    catalog = load_catalog()
    data = tomllib.loads((HERE / "data" / "public_resnet50.toml").read_text())
    # (gpu, precision, images/s, source, channels_last, batch): the source's batch where known
    points = [(p["gpu"], PRECISIONS[k], p[k], p["source"], k in p.get("channels_last", []),
               p.get("batch", {}).get(k, BATCH))
              for p in data["point"] for k in PRECISIONS]
    counted = {prec: count_step("resnet50", 1000, 224, BATCH, prec) for prec in set(PRECISIONS.values())}
    costs = {(prec, b): counted[prec].at_batch(b) for _, prec, *_, b in points}
    overall = fit(points, costs, catalog.gpus)
    print(f"fitted on all points: tensor {overall.tensor}, simt {overall.simt}, memory {overall.memory}, "
          f"nchw transpose {overall.nchw_transpose}")
    rows, errors = [], []
    for gpu in sorted({g for g, *_ in points}):
        eff = fit([pt for pt in points if pt[0] != gpu], costs, catalog.gpus)
        for g, prec, measured, source, nhwc, b in points:
            if g != gpu:
                continue
            pred = predicted_images_per_s(costs, catalog.gpus[g], prec, b, eff, nhwc)
            err = pred / measured - 1
            errors.append(abs(err))
            rows.append([catalog.gpus[g].name, prec + (" nhwc" if nhwc else ""), source.split(" (")[0], b,
                         measured, round(pred), f"{100 * err:+.0f}%"])
    table = markdown_table(rows, ["GPU", "precision", "source", "batch", "measured img/s",
                                  "predicted (leave-one-GPU-out)", "error"])
    summary = (f"Leave-one-GPU-out: median |error| {100 * statistics.median(errors):.0f} %, "
               f"max {100 * max(errors):.0f} % over {len(errors)} points. Fitted on all points: "
               f"tensor-core efficiency {overall.tensor}, FP32 efficiency {overall.simt}, memory "
               f"efficiency {overall.memory}, NCHW transpose traffic {overall.nchw_transpose}x the "
               f"convolutions' own (16-bit), {overall.launch_s * 1e6:.0f} µs per op; each fold "
               "fits all four.")
    text = (f"ResNet-50, 224 px, at the source's batch where it is published (else {BATCH}); predictions "
            f"from datasheet figures in "
            f"advisor/cloud/data/gpus.toml; table made {dt.date.today().isoformat()} (no GPU needed).\n\n"
            f"{table}\n\n{summary}\n")
    print(text)
    text += "\n" + other_models(overall, catalog)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "cross_hardware.md").write_text(text)
    return 0


def other_models(eff: Efficiency, catalog) -> str:
    """Models the efficiencies were not fitted to, each at its published batch size."""
    data = tomllib.loads((HERE / "data" / "public_other_models.toml").read_text())
    counted = {}
    rows, errors = [], []
    for p in data["point"]:
        spec = catalog.gpus[p["gpu"]]
        for key, precision in PRECISIONS.items():
            batch = p["batch"][key]
            base_key = (p["model"], p["image_size"], precision)
            if base_key not in counted:
                counted[base_key] = count_step(p["model"], 1000, p["image_size"], 64, precision)
            cost = counted[base_key].at_batch(batch)
            nhwc = key in p.get("channels_last", [])
            pred = batch / gpu_phase_seconds(cost.train, spec, precision, eff, nhwc)
            err = pred / p[key] - 1
            errors.append(abs(err))
            name = p["model"].split(":")[-1]
            rows.append([name, spec.name, precision + (" nhwc" if nhwc else ""), batch, p[key],
                         round(pred), f"{100 * err:+.0f}%"])
    table = markdown_table(rows, ["model", "GPU", "precision", "batch", "measured img/s",
                                  "predicted", "error"])
    return (f"Other models, predicted with the efficiencies fitted to all ResNet-50 points "
            f"(sources in benchmarks/data/public_other_models.toml):\n\n{table}\n\n"
            f"Other models: median |error| {100 * statistics.median(errors):.0f} %, max "
            f"{100 * max(errors):.0f} % over {len(errors)} points.\n")


if __name__ == "__main__":
    sys.exit(main())
