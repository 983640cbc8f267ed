"""Steady-state training throughput on this GPU, across models, batches, sizes and precisions.

The sweep `benchmarks/gpu_step_model.py` fits and scores the GPU step model with: 8 torchvision
models (resnet18/34/50, mobilenet_v3_large, efficientnet_b0, convnext_tiny, vit_b_16, densenet121)
in fp32 and amp-bf16 at batch 64 / 224 px; resnet34 at batch 16-256 and 128-320 px, in
fp32-strict and amp-fp16, and with a frozen body; resnet50, mobilenet_v3_large and vit_b_16 at
batch 16 in fp32, and with resnet34 in amp-bf16 (steps bound by the host); validation passes
(forward only, no grad) of four models (under "eval"). Each row trains the advisor's own step
(advisor.measure.training.Trainer: SGD with momentum, cross-entropy, cudnn.benchmark, synthetic
inputs resident on the device) for `--warmup` steps, then times `--steps` steps between two
synchronisations, as training runs them, then the host's time to issue a step alone (from an idle
device until the call returns), and records the allocator's peak memory (of the warm-up, with
cuDNN's autotuning, and of the timed steps). Writes
benchmarks/results/gpu_sweep_<device>.json, in the format of benchmarks/data/h200-sweep-*.json,
with the device, host CPU, driver and torch version. Under 6 minutes on an H100 or H200.

    python benchmarks/gpu_sweep.py                     # cuda:0
    python benchmarks/gpu_sweep.py --budget-s 270      # the rows that fit in 270 s, the file rewritten after each
    python benchmarks/gpu_sweep.py --device cpu --quick  # the same code path in seconds, no GPU
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import torch

from advisor.measure.calibrate import HOST_ISSUE_STEPS
from advisor.measure.microbench import op_overhead
from advisor.measure.probe import probe_cpu
from advisor.measure.steps import issue_seconds
from advisor.measure.training import Trainer, synthetic_batch
from advisor.model.workload import Workload
from advisor.store import write_atomically

ROOT = Path(__file__).resolve().parent
MODELS = ("resnet18", "resnet34", "resnet50", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny",
          "vit_b_16", "densenet121")


def plan(quick: bool) -> list[dict]:
    if quick:  # a tiny sweep: the code path, not the numbers
        return [dict(model="resnet18", batch=4, size=32, precision=p) for p in ("fp32", "amp-bf16")] + \
               [dict(model="resnet18", batch=4, size=32, precision="fp32", frozen=True),
                dict(model="resnet18", batch=4, size=32, precision="fp32", phase="eval")]
    # in order of what the fit lacks most, for a run cut short by its time budget: every model in
    # both precisions; small steps of models other than resnet34, bound by the host, in both
    # precisions (what tells autocast's host cost from the per-tensor one without resnet34);
    # then resnet34 across batch, size and precision, as the H200 sweep has them
    rows = [dict(model=m, batch=64, size=224, precision=p) for m in MODELS for p in ("fp32", "amp-bf16")]
    rows += [dict(model=m, batch=16, size=224, precision="fp32")
             for m in ("resnet50", "mobilenet_v3_large", "vit_b_16")]
    rows += [dict(model=m, batch=16, size=224, precision="amp-bf16")
             for m in ("resnet34", "resnet50", "mobilenet_v3_large", "vit_b_16")]
    rows += [dict(model="resnet34", batch=64, size=224, precision=p) for p in ("fp32-strict", "amp-fp16")]
    rows += [dict(model="resnet34", batch=b, size=224, precision="fp32") for b in (16, 32, 128, 256)]
    rows += [dict(model="resnet34", batch=64, size=s, precision="fp32") for s in (128, 160, 320)]
    rows.append(dict(model="resnet34", batch=64, size=224, precision="fp32", frozen=True))
    # validation passes (forward only, no grad): what a whole run also spends, never fitted before
    evals = (("resnet34", 64, "fp32"), ("resnet34", 16, "fp32"), ("resnet34", 64, "amp-bf16"),
             ("resnet50", 128, "fp32"), ("mobilenet_v3_large", 64, "fp32"), ("vit_b_16", 64, "amp-bf16"))
    rows += [dict(model=m, batch=b, size=224, precision=p, phase="eval") for m, b, p in evals]
    return rows


def measure(row: dict, device: str, warmup: int, steps: int) -> dict:
    w = Workload(model=row["model"], num_classes=37, image_size=row["size"], batch_size=row["batch"],
                 precision=row["precision"])
    trainer = Trainer(w, device)
    trainer.set_frozen(bool(row.get("frozen")))
    x, y = synthetic_batch(w, device)
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    evaluating = row.get("phase") == "eval"
    step = functools.partial(trainer.eval_step, x) if evaluating else functools.partial(trainer.train_step, x, y)
    for _ in range(warmup):
        step()
    trainer.sync()
    # the warm-up's peak holds cuDNN's autotuning workspace; the timed steps' peak is training's own
    first_peak = int(torch.cuda.max_memory_allocated(device)) if cuda else None
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    trainer.sync()
    step_s = (time.perf_counter() - start) / steps
    # the host's side of a step alone, as calibrations time it: what the step model's host terms
    # are fitted to directly where the host did not wait on a full launch queue
    host_s = statistics.median(issue_seconds(step, trainer.sync, time.perf_counter, HOST_ISSUE_STEPS))
    out = dict(row, img_per_s=row["batch"] / step_s, step_s=step_s, host_issue_s=host_s,
               peak_memory_bytes=first_peak,
               steady_peak_memory_bytes=int(torch.cuda.max_memory_allocated(device)) if cuda else None)
    del trainer, x, y, step
    if cuda:
        torch.cuda.empty_cache()
    return out


def environment(device: str) -> dict:
    cpu = probe_cpu()
    # the host's dispatch of a tiny op on CPU tensors, as `advisor profile` measures any CPU: what
    # would tell one machine's host speed from another's before either drives a GPU
    env = {"python": platform.python_version(), "torch": torch.__version__, "cpus": cpu.usable_cores,
           "cpu_model": cpu.model, "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
           "cpu_op_overhead_s": op_overhead("cpu").median}
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        env.update(gpu=props.name, vram_bytes=props.total_memory, sms=props.multi_processor_count,
                   cc=f"{props.major}.{props.minor}", cuda=torch.version.cuda,
                   driver=_driver_version())
    else:
        env.update(gpu=None)
    return env


def _driver_version() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlSystemGetDriverVersion()
    except Exception:  # noqa: BLE001 -- N/A where NVML is missing
        return None


def document(env: dict, rows: list[dict], warmup: int, steps: int, seconds: float, quick: bool,
             skipped: list[dict]) -> dict:
    """The sweep file: what benchmarks/gpu_step_model.py and gpu_memory.py read."""
    throughput = [r for r in rows if not r.get("frozen") and r.get("phase") != "eval"]
    frozen = next((r for r in rows if r.get("frozen")), None)
    payload = {"what": f"Steady-state training throughput measured on {env['gpu'] or 'the CPU'} "
                       f"({env['measured_at'][:10]}), by benchmarks/gpu_sweep.py.",
               "how": f"advisor's Trainer, synthetic inputs resident on the device, {warmup} warm-up steps, "
                      f"then {steps} steps timed between two synchronisations; img_per_s = batch / mean step.",
               "env": env, "throughput": throughput, "eval": [r for r in rows if r.get("phase") == "eval"],
               "seconds": round(seconds, 1)}
    if frozen:
        payload["frozen_resnet34" if not quick else "frozen"] = frozen
    if skipped:  # left for the time budget: the file says what it lacks
        payload["skipped"] = skipped
    return payload


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="A tiny sweep that checks the code path.")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="Stop before a row that would end past this many seconds (by the rows so far); "
                             "rows run in order of what the fit needs most.")
    parser.add_argument("--out", default=None, help="Output JSON (default benchmarks/results/gpu_sweep_<device>.json).")
    args = parser.parse_args(argv)
    env = environment(args.device)
    name = re.sub(r"[^a-z0-9]+", "-", (env["gpu"] or "cpu").lower()).strip("-")
    out = Path(args.out) if args.out else ROOT / "results" / f"gpu_sweep_{name}.json"
    planned = plan(args.quick)
    rows, took = [], []
    started = time.perf_counter()
    for k, row in enumerate(planned):
        elapsed = time.perf_counter() - started
        if args.budget_s is not None and took and elapsed + statistics.mean(took) > args.budget_s:
            print(f"time budget: {len(planned) - k} row(s) left out after {elapsed:.0f} s", flush=True)
            skipped = planned[k:]
            break
        result = measure(row, args.device, args.warmup, args.steps)
        took.append(time.perf_counter() - started - elapsed)
        rows.append(result)
        phase = "frozen" if result.get("frozen") else result.get("phase", "train")
        print(f"{result['model']:20s} {result['size']:4d}px b{result['batch']:<4d} {result['precision']:12s}"
              f" {phase:6s} {result['img_per_s']:9.1f} img/s", flush=True)
        # rewritten after every row, so that a run cut short keeps what it measured
        write_atomically(out, json.dumps(document(env, rows, args.warmup, args.steps,
                                                  time.perf_counter() - started, args.quick, planned[k + 1:]),
                                         indent=1))
    else:
        skipped = []
    write_atomically(out, json.dumps(document(env, rows, args.warmup, args.steps, time.perf_counter() - started,
                                              args.quick, skipped), indent=1))
    print(f"{len(rows)} rows in {time.perf_counter() - started:.1f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
