"""How close a watched run's prediction, made after its first minute, comes to the whole run.

Runs three training scripts written the usual way, each for 3-5 minutes on a 2-core CPU:
a plain PyTorch loop (Adam, torchvision transforms, ImageFolder, 2 loader workers) and a
Lightning Trainer, both under `advisor watch --budget-s 60`, and fastai's `fine_tune` with
`AdvisorCallback` (frozen epoch included). Each writes its report (prediction and measured
time); this script collects them into benchmarks/results/watch_accuracy.md and .csv.

    python benchmarks/watch_accuracy.py [--repeats 1] [--budget-s 60] [--only plain,fastai,lightning]

The machine should be otherwise idle: the scripts' own wall time is what is predicted.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ADVISOR = [sys.executable, "-m", "advisor.cli"]

SCRIPTS = {
    "plain": ("plain loop (resnet18, 224 px, Adam, 7 epochs)",
              lambda report, budget: [*ADVISOR, "watch", "--budget-s", str(budget), "--report", report, "--",
                                      "python", "examples/watch_plain_loop.py", "--epochs", "7",
                                      "--image-size", "224"]),
    "fastai": ("fastai fine_tune (resnet34, 128 px, 1 frozen + 10 epochs)",
               lambda report, budget: [sys.executable, "examples/fastai_pets.py", "--epochs", "10",
                                       "--image-size", "128", "--budget-s", str(budget), "--report", report]),
    "lightning": ("Lightning Trainer (resnet18, 160 px, SGD, 13 epochs)",
                  lambda report, budget: [*ADVISOR, "watch", "--budget-s", str(budget), "--report", report, "--",
                                          "python", "examples/lightning_trainer.py", "--epochs", "13"]),
}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--budget-s", type=float, default=60.0)
    parser.add_argument("--only", default=",".join(SCRIPTS))
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    rows = []
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for name in names:
                label, command = SCRIPTS[name]
                report = str(Path(tmp) / f"{name}-{rep}.json")
                start = time.perf_counter()
                done = subprocess.run(command(report, args.budget_s), cwd=ROOT, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                wall = time.perf_counter() - start
                if done.returncode != 0 or not Path(report).exists():
                    print(f"{name}: failed ({done.returncode})\n{done.stderr[-2000:]}", file=sys.stderr)
                    continue
                d = json.loads(Path(report).read_text())
                row = {"script": name, "repeat": rep + 1, "predicted_after_s": round(d["elapsed_seconds"], 1),
                       "steps_seen": d["steps_done"], "total_steps": d["total_steps"],
                       "predicted_s": round(d["predicted_seconds"], 1), "low_s": round(d["seconds_low"], 1),
                       "high_s": round(d["seconds_high"], 1), "measured_s": round(d["measured_seconds"], 1),
                       "error_pct": round(100 * d["error"], 1), "process_wall_s": round(wall, 1)}
                rows.append(row)
                print(row, file=sys.stderr)
    if not rows:
        return 1
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "watch_accuracy.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    errors = [abs(r["error_pct"]) for r in rows]
    from advisor.render.text import markdown_table

    table = markdown_table([[SCRIPTS[r["script"]][0], r["repeat"], r["predicted_after_s"],
                             f"{r['steps_seen']}/{r['total_steps']}", r["predicted_s"],
                             f"{r['low_s']}-{r['high_s']}", r["measured_s"], f"{r['error_pct']:+.1f}"]
                            for r in rows],
                           ["script", "repeat", "predicted after (s)", "steps seen", "predicted (s)",
                            "band (s)", "measured (s)", "error %"])
    import torch

    text = "\n".join([
        "# Watched runs: the prediction after the first minute against the whole run",
        "",
        f"Measured {dt.date.today().isoformat()} on {os.cpu_count()} CPUs ({cpu_name()}), torch {torch.__version__}, "
        f"calibration window {args.budget_s:g} s. `advisor watch` measures from the script's start (imports and "
        "the generated images included); fastai's callback from `fine_tune`'s first fit.",
        "",
        table,
        "",
        f"Absolute error: median {statistics.median(errors):.1f} %, worst {max(errors):.1f} % ({len(rows)} runs).",
        "",
    ])
    (RESULTS / "watch_accuracy.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
