"""Fit the GPU step model to steady-state training steps, and score it out of sample.

Reads sweeps of steady-state steps measured on GPUs (default: benchmarks/data/
h200-sweep-2026-11-26.json: 7 torchvision models in fp32 and amp-bf16 at batch 64 / 224 px,
resnet34 at batch 16-256 and 128-320 px, fp32-strict and amp-fp16, a frozen-body step; each
timed over 30 steps between two synchronisations), the published training throughputs of
benchmarks/data/public_resnet50.toml (ResNet-50 on 8 GPUs, batch 128-1280) and
public_other_models.toml (EfficientNet-B0/B4 and ResNeXt-101 on A100 and V100), and the
validation passes the reference profiles' calibrations timed (advisor/cloud/data/measured/: 19
on an H200 and an H100); then an evaluation pass's bandwidth share to those passes and to
published forward passes, as validation runs them (public_dle_inference.toml: EfficientNet on
A100 and V100; public_timm_inference.toml: 21 models on an RTX 4090 and an RTX 3090). timm's
RTX 3090 training table (public_timm_rtx3090.toml) is scored, never fitted. Each workload's work
is counted here on the meta device (no GPU needed), the step model (advisor.predict.gpu) is
fitted to all rows, and then once for each measured model and each public GPU left out: every
row is scored by constants fitted without it. Writes benchmarks/results/gpu_step_model.md. About 5 minutes on 2
cores; needs scipy (`pip install -e .[bench]`).

    python benchmarks/gpu_step_model.py [--sweep FILE [FILE ...]]   # several: each GPU left out too
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import statistics
import sys
import tomllib
from pathlib import Path

import numpy as np

from advisor.cloud.catalog import gpu_for_device_name, load_catalog, measured_profiles_dir
from advisor.measure.opcount import count_step
from advisor.model.cost import COMPUTE_CLASSES
from advisor.model.stats import Samples
from advisor.model.workload import Workload
from advisor.predict.gpu import (
    DEFAULT_GPU_EFFICIENCY,
    HALF_PRECISIONS,
    TENSOR_CLASSES,
    Efficiency,
    compute_path,
    eval_op_seconds,
    foreach_optimizer,
    gpu_steps,
    memory_share,
)
from advisor.predict.local import HOST_WAITED_SHARE
from advisor.render.text import markdown_table

ROOT = Path(__file__).resolve().parent
FITTED = ("conv_tensor", "half_conv_tensor", "matmul_tensor", "simt", "depthwise", "half_depthwise", "memory",
          "half_intensity", "host_step_s", "host_tensor_s", "overlap", "cast_ops", "nchw_transpose",
          "host_eval_op_s", "eval_overlap")
# fitted again to every evaluation pass once the rest is fitted, with a bandwidth share of its
# own: published forward passes (bound by the device) tell how an evaluation pass runs, not how a
# training step does (timm's 63 rows on two GeForce cards would otherwise pull the training
# step's shares towards those cards)
EVAL_FITTED = ("host_eval_op_s", "eval_overlap", "eval_memory")
OVERLAPS = ("overlap", "eval_overlap")  # exponents: above 1
# Set, not fitted: the sweep's host time follows the trained parameter tensors (each with its
# gradient's ops) and cannot tell a cost per op apart from them; an op costs about a dispatch
# (2 µs on the CPUs `advisor profile` has measured) and a CUDA launch, and each kernel a few µs
# of device time beyond its work (5 or 10 µs per op scored alike: docs/method.md).
FIXED = {"host_op_s": 5e-6, "kernel_s": 2e-6}
# peaks are not exceeded; counted bytes overstate what fused, cached kernels move, hence memory above 1
UPPER = {"conv_tensor": 1.0, "half_conv_tensor": 1.0, "matmul_tensor": 1.0, "simt": 1.0, "depthwise": 1.0,
         "half_depthwise": 1.0, "memory": 2.0, "eval_memory": 2.0}


def load_rows(sweep: dict) -> list[dict]:
    rows = [dict(r, phase="train") for r in sweep["throughput"]] + [dict(r, phase="eval") for r in sweep.get("eval", [])]
    frozen = sweep.get("frozen_resnet34")
    if frozen:
        rows.append(dict(model="resnet34", batch=64, size=224, precision="fp32", step_s=frozen["step_s"],
                         phase="frozen", host_issue_s=frozen.get("host_issue_s")))
    return rows


def predict(row: dict, cost, spec, eff: Efficiency) -> float:
    """The product's prediction of one row (advisor.predict.gpu.gpu_steps)."""
    return _phase(row, cost, spec, eff).seconds


def _phase(row: dict, cost, spec, eff: Efficiency):
    return gpu_steps(cost, spec, row["precision"], eff, channels_last=row.get("channels_last", False))[row["phase"]]


def public_rows(catalog, name: str) -> list[Row]:
    """Published single-GPU training throughputs (benchmarks/data/`name`) as steps: ResNet-50
    unless a point names its model."""
    data = tomllib.loads((ROOT / "data" / name).read_text())
    phase = data.get("phase", "train")
    counted = {}
    rows = []
    for point in data["point"]:
        model, size = point.get("model", "resnet50"), point.get("image_size", 224)
        for key, precision in (("fp32", "fp32"), ("amp", "amp-fp16")):
            batch = point.get("batch", {}).get(key, 128)
            if (model, size, precision) not in counted:
                counted[model, size, precision] = count_step(model, 1000, size, 128, precision)
            row = dict(model=model, gpu=point["gpu"], source=point["source"].split(" (")[0], size=size,
                       batch=batch, precision=precision, phase=phase, step_s=batch / point[key],
                       channels_last=key in point.get("channels_last", []))
            rows.append(Row(row, counted[model, size, precision].at_batch(batch), catalog.gpus[point["gpu"]]))
    return rows


# published throughputs scored, never fitted: (file, what the table calls them, how they were timed)
SCORED_ONLY = (
    ("public_timm_rtx3090.toml", "timm's RTX 3090 training benchmark",
     "each step synchronised, AMP on NCHW tensors and channels_last, the largest batch that fitted"),
    ("public_timm_blackwell.toml", "timm's inference benchmark on an RTX PRO 6000 Blackwell Max-Q, as validation passes",
     "forward only under no_grad, each step synchronised, AMP on NCHW tensors, batch 2048, PyTorch 2.9.1"),
)


def timm_rows(catalog, name: str) -> list[Row]:
    """A table of many models' AMP throughputs from timm's benchmark (benchmarks/data/`name`):
    training steps, or forward passes where the file's `phase` is "eval"."""
    data = tomllib.loads((ROOT / "data" / name).read_text())
    phase = data.get("phase", "train")
    counted, rows = {}, []
    for point in data["point"]:
        model, size = point["model"], point.get("image_size", 224)
        if (model, size) not in counted:
            counted[model, size] = count_step(model, 1000, size, 128, "amp-fp16")
        for key, batch_key, nhwc in (("amp", "batch", False), ("amp_nhwc", "batch_nhwc", True)):
            if key not in point:
                continue
            batch = point[batch_key]
            row = dict(model=model, gpu=point["gpu"], source=f"timm {point['timm']}", size=size, batch=batch,
                       precision="amp-fp16", phase=phase, step_s=batch / point[key], channels_last=nhwc)
            rows.append(Row(row, counted[model, size].at_batch(batch), catalog.gpus[point["gpu"]]))
    return rows


def reference_eval_rows(catalog) -> list[Row]:
    """The validation passes the GPUs' reference profiles (advisor/cloud/data/measured/) timed in
    their calibrations: forward-only steps, each synchronised, as a validation loop that reads
    its metrics every batch runs them."""
    rows = []
    for path in sorted(measured_profiles_dir().glob("*.json")):
        profile = json.loads(path.read_text())
        spec = gpu_for_device_name(catalog.gpus, profile["device_name"])
        for c in profile["calibrations"]:
            k = c["key"]
            row = dict(model=k["model"], gpu=spec.id, source=path.name, size=k["image_size"], batch=k["batch_size"],
                       precision=k["precision"], phase="eval", channels_last=bool(k.get("channels_last")),
                       step_s=c["eval_step_seconds"]["median"])
            rows.append(Row(row, count_step(k["model"], k["num_classes"], k["image_size"], k["batch_size"],
                                            k["precision"]), spec))
    return rows


# published throughputs fitted and scored each GPU left out: (file, what the table calls them,
# how they were measured, how the file is read)
PUBLIC = (
    ("public_resnet50.toml", "ResNet-50 training throughputs", "optimised containers, the source's batch",
     public_rows),
    ("public_other_models.toml", "other models' training throughputs", "optimised containers, the source's batch",
     public_rows),
    ("public_dle_inference.toml", "inference throughputs of EfficientNet-B0/B4 and ResNet-50, as validation passes",
     "forward only under no_grad, FP32/TF32 on NCHW tensors and AMP on channels_last, batch 128-256", public_rows),
    ("public_timm_inference.toml", "inference throughputs of 21 models on two GeForce cards, as validation passes",
     "timm's benchmark on an RTX 4090 and an RTX 3090: forward only under no_grad, each step synchronised, AMP on "
     "NCHW tensors and (RTX 3090) channels_last, batch 1024 where it fitted", timm_rows),
)


def published_rows(catalog) -> dict[str, list[Row]]:
    """Every published throughput that is fitted (PUBLIC), by the file it comes from."""
    out = {name: read(catalog, name) for name, _, _, read in PUBLIC}
    for r in (r for part in out.values() for r in part):
        r.eval_only = not r.training  # published forward passes: the evaluation constants alone
    return out


class Row:
    """One row's bins as arrays, so that a fit can evaluate the step model thousands of times;
    `check` proves it computes what gpu_steps does."""

    def __init__(self, row: dict, cost, spec):
        self.row, self.cost, self.spec, self.measured = row, cost, spec, row["step_s"]
        self.eval_only = False  # fitted only for the evaluation constants (EVAL_FITTED)
        nhwc = row.get("channels_last", False)
        phase = getattr(cost, row["phase"])
        kept = [b for b in phase.bins if b.flops > 0 or b.bytes > 0]
        paths = [compute_path(spec, b.op_class, row["precision"])[0] for b in kept]
        self.flops = np.array([b.flops for b in kept])
        self.bytes = np.array([b.bytes for b in kept])
        self.kernels = np.array([b.ops for b in kept])
        self.peak = np.array([p.peak_flops_per_s for p in paths])
        self.fp32_peak = spec.fp32_flops_per_s
        self.tensor = np.array([p.tensor for p in paths])
        self.conv = np.array([b.op_class == "conv" for b in kept])
        self.depthwise = np.array([b.op_class == "depthwise" for b in kept])
        self.compute = np.array([b.op_class in TENSOR_CLASSES for b in kept])
        self.transposed = self.tensor & self.conv & (row["precision"] in HALF_PRECISIONS) & (not nhwc)
        self.half = row["precision"] in HALF_PRECISIONS
        self.ops = phase.ops
        self.launches = float(self.kernels.sum())
        self.tensors = 0
        st = phase.stages
        if st is not None:
            calls, launched = foreach_optimizer(st)
            self.ops += calls - st.optimizer
            self.launches += launched - st.optimizer
            self.tensors = st.tensors
        self.training = row["phase"] != "eval"  # an evaluation pass: no optimizer, half the casts
        self.forward_compute = sum(b.ops for b in cost.eval.bins if b.op_class in COMPUTE_CLASSES) \
            * (1 if self.training else 0.5) if row["precision"] in HALF_PRECISIONS else 0
        self.bandwidth = spec.memory_bandwidth_bytes_per_s
        # the host's time to issue the step alone, where the sweep timed it and the host did not
        # wait on a full launch queue (advisor.predict.local.HOST_WAITED_SHARE)
        issued = row.get("host_issue_s")
        self.host_measured = issued if issued and issued < HOST_WAITED_SHARE * row["step_s"] else None

    def host(self, e: Efficiency) -> float:
        casts = e.host_op_s * e.cast_ops * self.forward_compute
        if not self.training:
            return eval_op_seconds(e) * self.ops + casts
        return e.host_op_s * self.ops + casts + e.host_step_s + e.host_tensor_s * self.tensors

    def seconds(self, e: Efficiency) -> float:
        conv = e.half_conv_tensor if self.half and e.half_conv_tensor is not None else e.conv_tensor
        depthwise = e.half_depthwise if self.half else e.depthwise
        share = np.where(self.depthwise, depthwise,
                         np.where(self.tensor, np.where(self.conv, conv, e.matmul_tensor), e.simt))
        rate = self.peak * share
        # convolutions on the FP32 units where those are faster (cuDNN's autotuning)
        simt = self.conv & self.tensor & (self.fp32_peak * e.simt > rate)
        rate = np.where(simt, self.fp32_peak * e.simt, rate)
        intensity = np.where(self.bytes > 0, self.flops / np.maximum(self.bytes, 1e-30), np.inf)
        rate = rate * np.where(self.compute & (self.bytes > 0), intensity / (intensity + e.half_intensity), 1.0)
        arithmetic = self.flops / rate
        traffic = self.bytes * (1 + e.nchw_transpose * (self.transposed & ~simt)) \
            / (self.bandwidth * memory_share(e, self.training))
        device = float(np.maximum(arithmetic, traffic).sum() + self.launches * e.kernel_s)
        host = self.host(e)
        p = e.overlap if self.training or e.eval_overlap is None else e.eval_overlap
        top = max(host, device)
        return top * ((host / top) ** p + (device / top) ** p) ** (1 / p)

    def check(self, e: Efficiency) -> None:
        assert math.isclose(self.seconds(e), predict(self.row, self.cost, self.spec, e), rel_tol=1e-9)
        assert math.isclose(self.host(e), _phase(self.row, self.cost, self.spec, e).host_s, rel_tol=1e-9)


# where every fit starts: round numbers, not the shipped constants (those were fitted to all rows)
NEUTRAL = Efficiency(conv_tensor=0.5, half_conv_tensor=0.5, matmul_tensor=0.5, simt=0.5, depthwise=0.1,
                     half_depthwise=0.1, memory=0.5, half_intensity=50.0,
                     host_step_s=1e-3, host_tensor_s=5e-6, overlap=3.0, cast_ops=1.0,
                     nchw_transpose=0.5, host_eval_op_s=1e-5, eval_overlap=3.0,
                     source=DEFAULT_GPU_EFFICIENCY.source, **FIXED)


def to_eff(x, names=FITTED, base: Efficiency = NEUTRAL) -> Efficiency:
    """`base` with `names` set from unbounded numbers: efficiencies below their caps, the rest
    positive, the overlap exponents above 1."""
    values = {}
    for name, v in zip(names, np.clip(x, -40.0, 40.0)):
        if name in UPPER:
            values[name] = UPPER[name] / (1 + math.exp(-v))
        elif name in OVERLAPS:
            values[name] = 1 + math.exp(v)
        else:
            values[name] = math.exp(v)
    return dataclasses.replace(base, **values)


def from_eff(e: Efficiency, names=FITTED) -> list[float]:
    x = []
    for name in names:
        v = getattr(e, name)
        if v is None:  # an evaluation constant not yet its own: the training step's
            v = getattr(e, name.removeprefix("eval_"))
        if name in UPPER:
            x.append(math.log(v / (UPPER[name] - v)))
        elif name in OVERLAPS:
            x.append(math.log(v - 1))
        else:
            x.append(math.log(v))
    return x


def fit(rows: list[Row], starts: int = 6, seed: int = 0) -> Efficiency:
    """The constants minimising the squared log error of `rows` (their steps, and their hosts'
    time where a sweep timed it apart): a trust-region least-squares fit (scipy) from NEUTRAL
    and from `starts - 1` random points around it, the best kept (the step's maximum of host and
    device leaves local minima a single start can stop in); then the evaluation constants
    (EVAL_FITTED) to every evaluation pass, the eval-only rows among them, the rest held."""
    e = _least_squares([r for r in rows if not r.eval_only], FITTED, NEUTRAL, starts, seed)
    evals = [r for r in rows if not r.training]
    if any(r.eval_only for r in evals):
        e = _least_squares(evals, EVAL_FITTED, e, 1, seed)
    return e


def _least_squares(rows: list[Row], names, base: Efficiency, starts: int, seed: int) -> Efficiency:
    from scipy.optimize import least_squares

    hosts = [r for r in rows if r.host_measured]

    def residuals(x):
        e = to_eff(x, names, base)
        return np.array([math.log(r.seconds(e) / r.measured) for r in rows]
                        + [math.log(r.host(e) / r.host_measured) for r in hosts])

    rng = np.random.default_rng(seed)
    x0 = np.array(from_eff(base, names))
    best = None
    for k in range(starts):
        start = x0 if k == 0 else x0 + rng.normal(0.0, 1.0, len(x0))
        solution = least_squares(residuals, start, max_nfev=400)
        if best is None or solution.cost < best.cost:
            best = solution
    return to_eff(best.x, names, base)


# the calibration `advisor profile` makes by default, which a GPU owner's profile holds
ANCHOR = dict(model="resnet34", size=224, batch=64, precision="fp32", phase="train")


def same_gpu_scaling(swept: list[Row], without: dict[str, Efficiency]) -> str:
    """Each swept step predicted as a GPU owner's estimator predicts a workload it has not
    calibrated: the sweep's resnet34 step (the default calibration) times the step model's ratio
    (advisor.predict.local.gpu_scale_factors), with constants fitted without the row's model;
    beside it, the CPU's roofline scaling (advisor.predict.local.scale_factors) with the profiler
    split and op overhead the GPU's reference profile measured for the same workload."""
    from advisor.predict.local import gpu_scale_factors, scale_factors
    from advisor.store import load_profile

    references = {}
    for path in sorted(measured_profiles_dir().iterdir()):
        if path.suffix == ".json":
            prof = load_profile(path)
            references[getattr(gpu_for_device_name(load_catalog().gpus, prof.device_name), "id", None)] = prof
    body, ours, roof, with_host = [], [], [], []
    stand_in = False
    for gpu in sorted({r.row["gpu"] for r in swept}):
        on_gpu = [r for r in swept if r.row["gpu"] == gpu]
        anchor = next((r for r in on_gpu if all(r.row[k] == v for k, v in ANCHOR.items())), None)
        ref_profile = references.get(gpu)
        ref_cal = next((c for c in ref_profile.calibrations if (c.key.model, c.key.image_size, c.key.batch_size,
                        c.key.precision) == ("resnet34", 224, 64, "fp32")), None) if ref_profile else None
        if anchor is None or ref_cal is None:
            continue
        cal = dataclasses.replace(ref_cal, train_step_seconds=Samples((anchor.measured,)), step_cost=anchor.cost)
        # the host's time to issue the anchor's step, as calibrations time it (issue_seconds); where
        # the sweep did not, the same model's step at batch 16, bound by the host, stands in for it
        small = next((r for r in on_gpu if all(r.row[k] == v for k, v in dict(ANCHOR, batch=16).items())), None)
        host = anchor.row.get("host_issue_s") or (small.measured if small else None)
        timed = dataclasses.replace(cal, host_train_step_seconds=Samples((host,))) if host else None
        stand_in = stand_in or not anchor.row.get("host_issue_s")
        overhead = ref_profile.microbenchmarks.op_overhead_s
        for r in on_gpu:
            if r is anchor or r.row["phase"] != "train":
                continue
            w = Workload(model=r.row["model"], num_classes=37, image_size=r.row["size"], batch_size=r.row["batch"],
                         precision=r.row["precision"], channels_last=r.row.get("channels_last", False))
            e = without[r.row["model"]]
            step = anchor.measured * gpu_scale_factors(cal, r.cost, w, r.spec, e)["train"]
            hosted = anchor.measured * gpu_scale_factors(timed, r.cost, w, r.spec, e)["train"] if timed else None
            rooflined = anchor.measured * scale_factors(cal, r.cost, overhead.median if overhead else 0.0)["train"]
            ours.append(abs(step / r.measured - 1))
            roof.append(abs(rooflined / r.measured - 1))
            if hosted is not None:
                with_host.append(abs(hosted / r.measured - 1))
            body.append([f"{r.spec.name}: {r.row['model']}", r.row["size"], r.row["batch"], r.row["precision"],
                         round(1000 * r.measured, 2), round(1000 * step, 2), f"{100 * (step / r.measured - 1):+.1f}%",
                         "" if hosted is None else f"{100 * (hosted / r.measured - 1):+.1f}%",
                         round(1000 * rooflined, 2), f"{100 * (rooflined / r.measured - 1):+.1f}%"])
    if not body:
        return ""
    return ("**Scaled on the same GPU from one calibration**: each step predicted from the measured resnet34 "
            "step (batch 64, 224 px, fp32: what `advisor profile` calibrates) as a GPU owner's estimator "
            "scales a workload it has not calibrated: by the step model's ratio, constants fitted without the "
            "row's model (advisor.predict.local.gpu_scale_factors); beside it, the CPU's roofline scaling, with "
            "the profiler split and op overhead of the GPU's reference profile. \"with host\": the step model "
            "with this machine's host speed (advisor.predict.local.host_speed) from the host's time to issue "
            "the anchor's step, which calibrations time apart (advisor.measure.steps.issue_seconds)"
            + ("; where the sweep did not, resnet34's step at batch 16, bound by the host, stands in for it"
               if stand_in else ", as the sweep timed it") + ".\n\n"
            + markdown_table(body, ["model", "px", "batch", "precision", "measured ms", "step model ms",
                                    "error", "with host", "roofline ms", "roofline error"])
            + f"\n\nStep model: {_summary(ours)} steps."
            + (f" With the host's time: {_summary(with_host)}." if with_host else "")
            + f" Roofline: {_summary(roof)}.\n\n")


def _summary(errors: list[float]) -> str:
    return f"median |error| {100 * statistics.median(errors):.1f} %, max {100 * max(errors):.1f} % over {len(errors)}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", nargs="+", default=[str(ROOT / "data" / "h200-sweep-2026-11-26.json")],
                        help="One or more sweeps (benchmarks/gpu_sweep.py); with several, each GPU is also left out.")
    parser.add_argument("--out", default=str(ROOT / "results" / "gpu_step_model.md"))
    args = parser.parse_args(argv)
    catalog = load_catalog()
    sweeps = [(Path(f).name, json.loads(Path(f).read_text())) for f in args.sweep]
    swept = []
    for _, sweep in sweeps:
        spec = gpu_for_device_name(catalog.gpus, sweep["env"]["gpu"])
        swept += [Row(dict(r, gpu=spec.id), count_step(r["model"], 37, r["size"], r["batch"], r["precision"]), spec)
                  for r in load_rows(sweep)]
    published = published_rows(catalog)
    public = [r for part in published.values() for r in part]
    evals = reference_eval_rows(catalog)
    rows = swept + public + evals
    overall = fit(rows)
    for r in rows:
        r.check(overall)
    # out of sample: each measured model predicted by a fit without it (its swept steps and its
    # validation passes), each public GPU likewise
    held, without = {}, {}
    measured = swept + evals
    for model in sorted({r.row["model"] for r in measured}):
        e = without[model] = fit([r for r in rows if not (r in measured and r.row["model"] == model)])
        held.update({id(r): r.seconds(e) for r in measured if r.row["model"] == model})
    gpu_held = {}
    if len(sweeps) > 1:  # each measured GPU predicted by constants fitted without its sweep
        for gpu in sorted({r.row["gpu"] for r in swept}):
            e = fit([r for r in rows if not (r in swept and r.row["gpu"] == gpu)])
            gpu_held.update({id(r): r.seconds(e) for r in swept if r.row["gpu"] == gpu})
    gpu_without = {}
    for gpu in sorted({r.row["gpu"] for r in public}):
        e = gpu_without[gpu] = fit([r for r in rows if r.row.get("gpu") != gpu])
        held.update({id(r): r.seconds(e) for r in public if r.row["gpu"] == gpu})
    scored = {name: timm_rows(catalog, name) for name, _, _ in SCORED_ONLY}
    for part in scored.values():  # by constants fitted without their GPU, where it was fitted at all
        held.update({id(r): r.seconds(gpu_without.get(r.row["gpu"], overall)) for r in part})

    def table(part: list[Row], first: str, label, timed: bool = False) -> tuple[str, list[float], list[float]]:
        body, errors, fitted_errors = [], [], []
        for r in part:
            fitted = r.seconds(overall)
            parts = _phase(r.row, r.cost, r.spec, overall)
            out = held[id(r)] / r.measured - 1
            errors.append(abs(out))
            fitted_errors.append(abs(fitted / r.measured - 1))
            body.append([label(r), r.row["size"], r.row["batch"],
                         r.row["precision"] + (" nhwc" if r.row.get("channels_last") else ""),
                         round(1000 * r.measured, 2), round(1000 * fitted, 2), round(1000 * held[id(r)], 2),
                         f"{100 * out:+.1f}%", parts.bound, round(1000 * parts.host_s, 1),
                         round(1000 * parts.device_s, 1)])
            issued = r.row.get("host_issue_s")
            if timed:  # the host's time alone, where the sweep timed it ("waited": on a full queue)
                body[-1].append("" if issued is None else round(1000 * issued, 1) if r.host_measured else "waited")
        text = markdown_table(body, [first, "px", "batch", "precision", "measured ms", "fitted ms",
                                     "left out ms", "left-out error", "bound", "host ms", "device ms"]
                              + (["host timed ms"] if timed else []))
        return text, errors, fitted_errors

    timed = any(r.row.get("host_issue_s") for r in swept)

    swept_table, swept_err, swept_fit = table(
        swept, "model", lambda r: (f"{r.spec.name}: " if len(sweeps) > 1 else "") + r.row["model"]
        + {"frozen": " (frozen body)", "eval": " (validation pass)"}.get(r.row["phase"], ""), timed=timed)
    by_gpu = ""
    if gpu_held:
        errors = [abs(gpu_held[id(r)] / r.measured - 1) for r in swept]
        by_gpu = f" Each GPU's sweep left out instead (leave-one-GPU-out): {_summary(errors)} steps."
    published_text = ""
    for name, what, how, _ in PUBLIC:
        part_table, part_err, part_fit = table(
            published[name], "model on GPU (source)",
            lambda r: f"{r.row['model'].split(':')[-1]} on {r.spec.name} ({r.row['source']})")
        published_text += (f"**Published {what}** (benchmarks/data/{name}; {how}). Left out: the row's GPU.\n\n"
                           + part_table
                           + f"\n\nLeft out (leave-one-GPU-out): {_summary(part_err)} points. "
                           f"Fitted: {_summary(part_fit)}.\n\n")
    evals_table, evals_err, evals_fit = table(
        evals, "model on GPU (profile)",
        lambda r: f"{r.row['model']} on {r.spec.name} ({r.row['source']})")
    evals_text = ("**Validation passes** timed by the reference profiles' calibrations (advisor/cloud/data/measured/, "
                  "2026-11-26; forward only under no_grad, each step synchronised). Left out: the row's model.\n\n"
                  + evals_table + f"\n\nLeft out (leave-one-model-out): {_summary(evals_err)} passes. "
                  f"Fitted: {_summary(evals_fit)}.\n\n") if evals else ""
    for name, what, how in SCORED_ONLY:
        part_table, part_err, _ = table(scored[name], "model (timm's name)",
                                        lambda r: f"{r.row['model']} ({r.row['source']}) on {r.spec.name}")
        published_text += (f"**Published, scored but never fitted: {what}** (benchmarks/data/{name}; {how}). "
                           "Predicted by the "
                           "constants fitted without the GPU; \"fitted ms\" by those fitted to all rows, which "
                           "did not include these.\n\n" + part_table
                           + f"\n\nNever fitted, the GPU left out: {_summary(part_err)} points.\n\n")
    scaled_text = same_gpu_scaling(swept, without)
    constants = ", ".join(f"{n} {getattr(overall, n):.3g}" for n in dict.fromkeys(FITTED + EVAL_FITTED)) \
        + "; set: " + ", ".join(f"{n} {v:.3g}" for n, v in FIXED.items())
    text = (f"The GPU step model (advisor/predict/gpu.py) fitted {dt.date.today().isoformat()} on a machine "
            "without a GPU to five sets (the evaluation pass's constants a second time, to every evaluation pass), and "
            "scored on each row with constants fitted without it.\n\n"
            "**Steady-state steps measured** on "
            + "; ".join(f"one {sw['env']['gpu']} (torch {sw['env']['torch']}, host {sw['env']['cpu_model']} with "
                        f"{sw['env']['cpus']} vCPUs; {name})" for name, sw in sweeps)
            + ", each step timed over a window between two synchronisations. Left out: the row's model.\n\n"
            + swept_table
            + f"\n\nLeft out (leave-one-model-out): {_summary(swept_err)} steps. Fitted: {_summary(swept_fit)}."
            + by_gpu + "\n\n" + evals_text + scaled_text + published_text
            + f"Constants fitted to all rows (advisor.predict.gpu.DEFAULT_GPU_EFFICIENCY): {constants}.\n")
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
