"""Data-parallel accuracy: predicted against measured DDP training on this machine's processes.

Profiles this machine (resnet18, 64 px, batch 32 per process) including `--nproc N` (gloo
all-reduce sweep and DDP steps), then for each workload below predicts an N-process DDP run the
way `advisor recommend --gpus N` does for this machine (measured DDP steps for the profiled
workload; for others, their own calibration slowed by the measured cost of sharing the machine,
plus the measured all-reduce), really trains it with torch DistributedDataParallel on N local
processes (gloo), and compares. Also trains each workload in one process, to show what data
parallelism buys here. Writes benchmarks/results/ddp.{md,csv}.

    python benchmarks/ddp.py [--nproc 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import time
from pathlib import Path

import pandas as pd

from advisor import Estimator, Workload
from advisor.app.profiling import add_calibration, add_distributed, profile_machine
from advisor.measure.ddp import train_nproc
from advisor.measure.training import run_training_in_fresh_process
from advisor.model.parallel import DataParallel
from advisor.render.text import markdown_table

OUT = Path(__file__).parent / "results"

PROFILED = Workload(model="resnet18", image_size=64, batch_size=32)
WORKLOADS = [
    PROFILED.with_(dataset_size=2400, epochs=2),  # the measured workload, a longer run
    Workload(model="resnet34", image_size=96, batch_size=16, dataset_size=640, epochs=1),
    Workload(model="mobilenet_v3_small", image_size=128, batch_size=32, dataset_size=1600, epochs=1),
    Workload(model="resnet50", image_size=64, batch_size=24, dataset_size=720, epochs=1),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--calibration-budget-s", type=float, default=20.0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    profile = profile_machine(PROFILED, device="cpu", budget_s=30)
    profile = add_distributed(profile, args.nproc, None, 20)
    d = profile.distributed
    print(f"profiled in {time.perf_counter() - t0:.0f} s: all-reduce latency {d.latency_s * 1e6:.0f} us, "
          f"bus bandwidth {d.bus_bytes_per_s / 1e9:.2f} GB/s; DDP step {d.ddp_step_seconds.median:.3f} s "
          f"against {d.compute_step_seconds.median:.3f} s without communication", flush=True)
    dp = DataParallel(gpus_per_node=args.nproc)
    rows = []
    for w in WORKLOADS:
        estimator = Estimator(profile)
        if estimator.calibration_for(w) is None:
            profile = add_calibration(profile, w, args.calibration_budget_s)
            estimator = Estimator(profile)
        predicted = estimator.estimate_data_parallel(w, dp)
        measured = train_nproc(w, args.nproc)
        single_predicted = estimator.estimate(w)
        single = run_training_in_fresh_process(w, "cpu")
        par = predicted.parallel
        err = (predicted.seconds - measured["seconds"]) / measured["seconds"]
        rows.append({
            "model": w.model, "image_size": w.image_size, "batch_per_process": w.batch_size,
            "images": w.dataset_size, "epochs": w.epochs, "basis": predicted.basis,
            "predicted_s": round(predicted.seconds, 1), "low_s": round(predicted.seconds_low, 1),
            "high_s": round(predicted.seconds_high, 1), "measured_s": round(measured["seconds"], 1),
            "error_pct": round(100 * err, 1),
            "inside_band": predicted.seconds_low <= measured["seconds"] <= predicted.seconds_high,
            "comm_share_pct": round(100 * par["communication_share"], 1),
            "one_process_predicted_s": round(single_predicted.seconds, 1),
            "one_process_measured_s": round(single.seconds, 1),
            "measured_speedup": round(single.seconds / measured["seconds"], 2),
        })
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    OUT.mkdir(exist_ok=True)
    df.to_csv(OUT / "ddp.csv", index=False)
    cpu = profile.machine.cpu
    header = (
        f"Measured {dt.date.today().isoformat()} on {profile.device_name} ({cpu.usable_cores} CPU cores, "
        f"{platform.system()}, torch {profile.machine.torch_version}): {args.nproc} processes, gloo on "
        f"loopback, {d.threads_per_rank} thread(s) each. All-reduce fitted from the sweep: latency "
        f"{d.latency_s * 1e6:.0f} us, bus bandwidth {d.bus_bytes_per_s / 1e9:.2f} GB/s; profiled DDP "
        f"step {d.ddp_step_seconds.median:.3f} s against {d.compute_step_seconds.median:.3f} s without "
        f"communication (fitted overlap {d.overlap:.2f}). Each DDP run: torchrun-style local ranks, "
        "DistributedSampler-sized shards, first training step to the end of the last validation pass "
        "of the slowest rank.")
    abs_err = df["error_pct"].abs()
    summary = (f"DDP predictions: median |error| {abs_err.median():.1f} %, max {abs_err.max():.1f} %, "
               f"{100 * df['inside_band'].mean():.0f} % inside the band.")
    (OUT / "ddp.md").write_text(f"{header}\n\n{markdown_table(df.values.tolist(), list(df.columns))}\n\n{summary}\n")
    print(summary, f"{(time.perf_counter() - t0) / 60:.0f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
