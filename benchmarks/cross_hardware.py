"""Cross-hardware accuracy: the GPU step model against public training throughputs.

Counts a ResNet-50 training step on the meta device and predicts its throughput on each GPU of
benchmarks/data/public_resnet50.toml from the catalog's datasheet figures, with the step model's
constants as shipped; then other models at their published batch sizes (benchmarks/data/
public_other_models.toml: EfficientNet-B0, ResNeXt-101 32x4d). The constants were fitted to all
these points among others, so here they are in sample: benchmarks/gpu_step_model.py scores each
GPU left out of the fit. Writes benchmarks/results/cross_hardware.md.

    python benchmarks/cross_hardware.py
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tomllib
from pathlib import Path

from advisor.cloud.catalog import load_catalog
from advisor.measure.opcount import count_step
from advisor.predict.gpu import DEFAULT_GPU_EFFICIENCY, Efficiency, autocast_ops, gpu_phase_seconds
from advisor.render.text import markdown_table

HERE = Path(__file__).parent
BATCH = 128
PRECISIONS = {"fp32": "fp32", "amp": "amp-fp16"}


def predicted_images_per_s(cost, spec, precision, batch, eff, channels_last=False):
    casts = autocast_ops(cost.eval, precision, eff)
    return batch / gpu_phase_seconds(cost.train, spec, precision, eff, channels_last, cast_ops=casts)


def main() -> int:
    catalog = load_catalog()
    eff = DEFAULT_GPU_EFFICIENCY
    data = tomllib.loads((HERE / "data" / "public_resnet50.toml").read_text())
    # (gpu, precision, images/s, source, channels_last, batch): the source's batch where known
    points = [(p["gpu"], PRECISIONS[k], p[k], p["source"], k in p.get("channels_last", []),
               p.get("batch", {}).get(k, BATCH))
              for p in data["point"] for k in PRECISIONS]
    counted = {prec: count_step("resnet50", 1000, 224, BATCH, prec) for prec in set(PRECISIONS.values())}
    rows, errors = [], []
    for g, prec, measured, source, nhwc, b in sorted(points):
        pred = predicted_images_per_s(counted[prec].at_batch(b), catalog.gpus[g], prec, b, eff, nhwc)
        err = pred / measured - 1
        errors.append(abs(err))
        rows.append([catalog.gpus[g].name, prec + (" nhwc" if nhwc else ""), source.split(" (")[0], b,
                     measured, round(pred), f"{100 * err:+.0f}%"])
    table = markdown_table(rows, ["GPU", "precision", "source", "batch", "measured img/s", "predicted",
                                  "error"])
    summary = (f"ResNet-50: median |error| {100 * statistics.median(errors):.0f} %, max "
               f"{100 * max(errors):.0f} % over {len(errors)} points, in sample (the constants were fitted to "
               "them among others; benchmarks/results/gpu_step_model.md scores each GPU left out).")
    text = (f"ResNet-50, 224 px, at the source's batch where it is published (else {BATCH}); predictions "
            f"from datasheet figures in advisor/cloud/data/gpus.toml and the step model's constants "
            f"({eff.source}); table made {dt.date.today().isoformat()} (no GPU needed).\n\n"
            f"{table}\n\n{summary}\n")
    print(text)
    text += "\n" + other_models(eff, catalog)
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
            pred = predicted_images_per_s(cost, spec, precision, batch, eff, nhwc)
            err = pred / p[key] - 1
            errors.append(abs(err))
            name = p["model"].split(":")[-1]
            rows.append([name, spec.name, precision + (" nhwc" if nhwc else ""), batch, p[key],
                         round(pred), f"{100 * err:+.0f}%"])
    table = markdown_table(rows, ["model", "GPU", "precision", "batch", "measured img/s",
                                  "predicted", "error"])
    return (f"Other models, predicted with the same constants, in sample too (sources in "
            f"benchmarks/data/public_other_models.toml; benchmarks/results/gpu_step_model.md scores each "
            f"GPU left out):\n\n{table}\n\n"
            f"Other models: median |error| {100 * statistics.median(errors):.0f} %, max "
            f"{100 * max(errors):.0f} % over {len(errors)} points.\n")


if __name__ == "__main__":
    sys.exit(main())
