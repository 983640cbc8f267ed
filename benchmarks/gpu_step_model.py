"""Fit the GPU step model to steady-state training steps, and score it out of sample.

Reads a sweep of steady-state steps measured on a GPU (default: benchmarks/data/
h200-sweep-2026-11-26.json, 8 torchvision models in fp32 and amp-bf16 at batch 64 / 224 px,
resnet34 at batch 16-256 and 128-320 px, fp32-strict and amp-fp16, a frozen-body step; each
timed over 30 steps between two synchronisations). Each workload's work is counted here on the
meta device (no GPU needed), the step model (advisor.predict.gpu) is fitted to all rows, and then
once more for each model left out, which is predicted by constants fitted to the other seven.
Writes benchmarks/results/gpu_step_model.md. About a minute on 2 cores.

    python benchmarks/gpu_step_model.py [--sweep FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import statistics
import sys
from pathlib import Path

from advisor.cloud.catalog import gpu_for_device_name, load_catalog
from advisor.measure.opcount import count_step
from advisor.predict.gpu import DEFAULT_GPU_EFFICIENCY, Efficiency, autocast_ops, gpu_phase
from advisor.render.text import markdown_table

ROOT = Path(__file__).resolve().parent
FITTED = ("conv_tensor", "matmul_tensor", "simt", "memory", "half_intensity", "kernel_s", "host_op_s",
          "host_step_s", "overlap", "cast_ops", "nchw_transpose")
# peaks are not exceeded; counted bytes overstate what fused, cached kernels move, hence memory above 1
UPPER = {"conv_tensor": 1.0, "matmul_tensor": 1.0, "simt": 1.0, "memory": 2.0, "overlap": 30.0}


def load_rows(sweep: dict) -> list[dict]:
    rows = [dict(r, phase="train") for r in sweep["throughput"]]
    frozen = sweep.get("frozen_resnet34")
    if frozen:
        rows.append(dict(model="resnet34", batch=64, size=224, precision="fp32", step_s=frozen["step_s"],
                         phase="frozen"))
    return rows


def predict(row: dict, cost, spec, eff: Efficiency) -> float:
    phase = getattr(cost, row["phase"])
    return gpu_phase(phase, spec, row["precision"], eff,
                     cast_ops=autocast_ops(cost.eval, row["precision"], eff)).seconds


def loss(eff: Efficiency, rows, costs, spec) -> float:
    return sum(math.log(predict(r, costs[i], spec, eff) / r["step_s"]) ** 2 for i, r in rows)


def to_eff(x, base: Efficiency) -> Efficiency | None:
    values = {name: math.exp(v) for name, v in zip(FITTED, x)}
    if any(values[n] > u for n, u in UPPER.items()) or values["overlap"] < 1:
        return None
    return dataclasses.replace(base, **values)


def nelder_mead(f, x0: list[float], iterations: int = 1500, step: float = 0.3) -> list[float]:
    """Minimise `f` from `x0` (the downhill simplex, enough for a dozen smooth parameters)."""
    n = len(x0)
    simplex = [list(x0)] + [[v + (step if i == j else 0.0) for j, v in enumerate(x0)] for i in range(n)]
    values = [f(x) for x in simplex]
    for _ in range(iterations):
        order = sorted(range(n + 1), key=values.__getitem__)
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        centre = [sum(p[j] for p in simplex[:-1]) / n for j in range(n)]
        worst = simplex[-1]
        reflected = [c + (c - w) for c, w in zip(centre, worst)]
        fr = f(reflected)
        if fr < values[0]:
            expanded = [c + 2 * (c - w) for c, w in zip(centre, worst)]
            fe = f(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            contracted = [c + 0.5 * (w - c) for c, w in zip(centre, worst)]
            fc = f(contracted)
            if fc < values[-1]:
                simplex[-1], values[-1] = contracted, fc
            else:
                best = simplex[0]
                simplex = [best] + [[b + 0.5 * (v - b) for b, v in zip(best, p)] for p in simplex[1:]]
                values = [values[0]] + [f(p) for p in simplex[1:]]
    return simplex[min(range(n + 1), key=values.__getitem__)]


def fit(rows, costs, spec, start: Efficiency) -> Efficiency:
    def objective(x):
        eff = to_eff(x, start)
        return 1e9 if eff is None else loss(eff, rows, costs, spec)

    x = [math.log(max(getattr(start, n), 1e-12)) for n in FITTED]
    for _ in range(2):  # a restart shakes the simplex out of flat valleys
        x = nelder_mead(objective, x)
    return to_eff(x, start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default=str(ROOT / "data" / "h200-sweep-2026-11-26.json"))
    parser.add_argument("--out", default=str(ROOT / "results" / "gpu_step_model.md"))
    args = parser.parse_args(argv)
    sweep = json.loads(Path(args.sweep).read_text())
    spec = gpu_for_device_name(load_catalog().gpus, sweep["env"]["gpu"])
    rows = load_rows(sweep)
    costs = [count_step(r["model"], 37, r["size"], r["batch"], r["precision"]) for r in rows]
    indexed = list(enumerate(rows))
    start = dataclasses.replace(DEFAULT_GPU_EFFICIENCY, kernel_s=max(DEFAULT_GPU_EFFICIENCY.kernel_s, 1e-6),
                                nchw_transpose=max(DEFAULT_GPU_EFFICIENCY.nchw_transpose, 0.1))
    overall = fit(indexed, costs, spec, start)
    table, held = [], []
    for model in sorted({r["model"] for r in rows}):
        eff = fit([(i, r) for i, r in indexed if r["model"] != model], costs, spec, overall)
        for i, r in indexed:
            if r["model"] == model:
                held.append((i, predict(r, costs[i], spec, eff)))
    held = dict(held)
    errors, in_errors = [], []
    for i, r in indexed:
        fitted = predict(r, costs[i], spec, overall)
        parts = gpu_phase(getattr(costs[i], r["phase"]), spec, r["precision"], overall,
                          cast_ops=autocast_ops(costs[i].eval, r["precision"], overall))
        out = held[i] / r["step_s"] - 1
        errors.append(abs(out))
        in_errors.append(abs(fitted / r["step_s"] - 1))
        table.append([r["model"] + (" (frozen body)" if r["phase"] == "frozen" else ""), r["size"], r["batch"],
                      r["precision"], round(1000 * r["step_s"], 2), round(1000 * fitted, 2),
                      round(1000 * held[i], 2), f"{100 * out:+.1f}%", parts.bound,
                      round(1000 * parts.host_s, 1), round(1000 * parts.device_s, 1)])
    constants = ", ".join(f"{n} {getattr(overall, n):.3g}" for n in FITTED)
    text = (f"Steady-state training steps measured on one {sweep['env']['gpu']} (torch {sweep['env']['torch']}, "
            f"host {sweep['env']['cpu_model']} with {sweep['env']['cpus']} vCPUs), from {Path(args.sweep).name}; "
            f"fitted and scored {dt.date.today().isoformat()} on a machine without a GPU.\n\n"
            + markdown_table(table, ["model", "px", "batch", "precision", "measured ms", "fitted ms",
                                     "left out ms", "left-out error", "bound", "host ms", "device ms"])
            + f"\n\nLeave-one-model-out (each model predicted by constants fitted to the other "
              f"{len({r['model'] for r in rows}) - 1}): median |error| {100 * statistics.median(errors):.1f} %, "
              f"max {100 * max(errors):.1f} % over {len(errors)} steps. Fitted to all: median "
              f"{100 * statistics.median(in_errors):.1f} %, max {100 * max(in_errors):.1f} %.\n\n"
              f"Constants fitted to all rows: {constants}.\n")
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
