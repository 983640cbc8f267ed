"""benchmarks/gpu_sweep.py, the steady-state sweep a lent GPU runs, works end to end on a CPU."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_sweep_writes_what_the_step_model_fit_reads(tmp_path):
    out = tmp_path / "sweep.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_sweep.py"), "--device", "cpu", "--quick",
                    "--warmup", "1", "--steps", "2", "--out", str(out)], check=True, capture_output=True, text=True)
    sweep = json.loads(out.read_text())
    assert {"what", "how", "env", "throughput"} <= set(sweep)
    assert sweep["env"]["torch"] and sweep["env"]["cpu_model"]
    for row in sweep["throughput"]:
        assert {"model", "batch", "size", "precision", "img_per_s", "step_s"} <= set(row)
        assert row["img_per_s"] == pytest.approx(row["batch"] / row["step_s"])
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from gpu_step_model import load_rows
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert len(load_rows(sweep)) == len(sweep["throughput"]) + len(sweep["eval"])
    # the host's side of each step, timed alone; a validation pass among the rows
    assert all(row["host_issue_s"] > 0 for row in sweep["throughput"] + sweep["eval"])
    assert [r["phase"] for r in load_rows(sweep)][-len(sweep["eval"]):] == ["eval"] * len(sweep["eval"])


@pytest.mark.slow
def test_a_sweep_out_of_time_keeps_its_rows_and_says_which_it_left_out(tmp_path):
    out = tmp_path / "sweep.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_sweep.py"), "--device", "cpu", "--quick",
                    "--warmup", "1", "--steps", "2", "--budget-s", "0", "--out", str(out)],
                   check=True, capture_output=True, text=True)
    sweep = json.loads(out.read_text())
    # the first row always runs; with no time left, the rest are named, not measured
    assert len(sweep["throughput"]) == 1
    assert len(sweep["skipped"]) == 3
    assert all("img_per_s" not in row for row in sweep["skipped"])
