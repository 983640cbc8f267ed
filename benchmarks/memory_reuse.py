"""CPU training with glibc's default malloc against memory reused: predicted and measured.

For each workload, twice: once in the environment as it is, once with
`advisor.estimate.REUSE_MEMORY_ENV` set (glibc's mmap off, trimming out of reach). Each time the
workload is calibrated in a fresh process and estimated as `advisor recommend` does, then trained
in another fresh process; both inherit the environment, as a user's profile and training script
would. Reports the predicted and measured seconds, the kernel's share of the calibration's step
CPU time, the memory page faults mapped per step, and the measured speed-up. Linux only (the
setting is glibc's). About 8 minutes on a 2-core CPU (`--quick`: the first workload, 3).

    python benchmarks/memory_reuse.py [--quick]

Writes benchmarks/results/memory_reuse.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import sys
from pathlib import Path

from advisor import Workload
from advisor.measure.calibrate import calibrate_in_fresh_process
from advisor.measure.probe import probe_cpu
from advisor.measure.training import run_training_in_fresh_process
from advisor.predict.whole_run import REUSE_MEMORY_ENV, whole_run_estimate
from advisor.render.text import markdown_table

OUT = Path(__file__).parent / "results"
WORKLOADS = [
    Workload(model="resnet34", image_size=224, batch_size=64, dataset_size=1400, epochs=1),
    Workload(model="mobilenet_v3_large", image_size=160, batch_size=256, dataset_size=2560, epochs=1),
]


@contextlib.contextmanager
def environment(assignment: str | None):
    """`NAME=value` set for the processes started inside; None: the environment as it is."""
    if assignment is None:
        yield
        return
    name, _, value = assignment.partition("=")
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def measure(w: Workload, assignment: str | None, budget_s: float) -> dict:
    with environment(assignment):
        (cal, *_) = calibrate_in_fresh_process(w, "cpu", budget_s=budget_s)
        est = whole_run_estimate(w, cal, accelerator="CPU")
        run = run_training_in_fresh_process(w, "cpu")
    faulted = cal.page_faulted_bytes_per_step
    return {"predicted_s": round(est.seconds, 1), "measured_s": round(run.seconds, 1),
            "error_pct": round(100 * (est.seconds - run.seconds) / run.seconds, 1),
            "kernel_pct": None if cal.kernel_time_share is None else round(100 * cal.kernel_time_share),
            "faulted_gb_per_step": None if faulted is None else round(faulted / 1e9, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the first workload only")
    parser.add_argument("--calibration-budget-s", type=float, default=20.0)
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        print("memory_reuse.py: the setting it compares is glibc's (Linux only)", file=sys.stderr)
        return 2
    rows = []
    for w in WORKLOADS[:1] if args.quick else WORKLOADS:
        default = measure(w, None, args.calibration_budget_s)
        reused = measure(w, REUSE_MEMORY_ENV, args.calibration_budget_s)
        rows.append([f"{w.model}, {w.image_size} px, batch {w.batch_size}, {w.dataset_size} images, "
                     f"{w.epochs} epoch(s)",
                     default["predicted_s"], default["measured_s"], default["error_pct"],
                     default["kernel_pct"], default["faulted_gb_per_step"],
                     reused["predicted_s"], reused["measured_s"], reused["error_pct"], reused["kernel_pct"],
                     round(default["measured_s"] / reused["measured_s"], 2)])
        print(rows[-1], flush=True)
    cpu = probe_cpu()
    header = (f"Measured {dt.date.today().isoformat()} on {cpu.model} ({cpu.usable_cores} usable cores, "
              f"{platform.system()} {platform.release()}, glibc "
              f"{platform.libc_ver()[1]}); memory reused: `{REUSE_MEMORY_ENV}`; each side calibrated "
              f"({args.calibration_budget_s:.0f} s) and trained in fresh processes of its own.")
    table = markdown_table(rows, ["workload", "default predicted s", "default measured s", "default error %",
                                  "default kernel %", "default faulted GB/step", "reused predicted s",
                                  "reused measured s", "reused error %", "reused kernel %", "speed-up"])
    OUT.mkdir(exist_ok=True)
    (OUT / "memory_reuse.md").write_text(f"{header}\n\n{table}\n")
    print(f"{header}\n\n{table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
