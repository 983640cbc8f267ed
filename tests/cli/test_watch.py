"""`advisor watch -- python train.py`: the user's own script, measured, predicted, passed through."""

import json
import subprocess
import sys
import textwrap

import pytest

from advisor.cli.watch import child_command, epochs_from_args
from advisor.errors import UsageError

LOOP = """
import sys
import torch
from torch.utils.data import DataLoader, TensorDataset
x, y = torch.randn(64, 3, 8, 8), torch.randint(0, 4, (64,))
train = DataLoader(TensorDataset(x[:48], y[:48]), batch_size=8, shuffle=True)
valid = DataLoader(TensorDataset(x[48:], y[48:]), batch_size=8)
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 4))
opt = torch.optim.SGD(model.parameters(), 0.1)
epochs = int(sys.argv[sys.argv.index("--epochs") + 1])
for _ in range(epochs):
    for xb, yb in train:
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        for xb, _ in valid:
            model(xb)
"""


@pytest.mark.parametrize("args, epochs", [
    (["--epochs", "4"], 4), (["--lr", "0.1", "--max_epochs=3"], 3), (["--num-epochs", "2.5"], 2.5),
    (["--epochs"], None), (["--steps", "10"], None),
])
def test_the_epochs_are_read_from_the_scripts_own_arguments(args, epochs):
    assert epochs_from_args(args) == epochs


def test_the_command_must_be_a_python_script(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("")
    assert child_command(("python", str(script), "--x"))[1:] == ["-m", "advisor.cli.watch_boot", str(script), "--x"]
    for bad, message in ((("bash", str(script)), "runs a Python script"), (("python", "-c", "1"), "names none"),
                         (("python", str(tmp_path / "no.py")), "no such script"), ((), "needs the training command")):
        with pytest.raises(UsageError, match=message):
            child_command(bad)


def watch(tmp_path, script_text, *args, epochs_arg=("--epochs", "3")):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(script_text))
    return subprocess.run([sys.executable, "-m", "advisor.cli", "watch", *args, "--",
                           "python", str(script), *epochs_arg], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_a_plain_loop_is_predicted_then_measured_and_reported(tmp_path):
    report = tmp_path / "run.json"
    r = watch(tmp_path, LOOP, "--budget-s", "0", "--report", str(report))
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("advisor: this run should take") == 1 and "advisor: the run took" in r.stderr
    d = json.loads(report.read_text())
    assert d["total_steps"] == 18 and d["batch_size"] == 8 and d["measured_seconds"] > 0
    assert d["seconds_low"] <= d["predicted_seconds"] <= d["seconds_high"]


@pytest.mark.slow
def test_calibrate_only_stops_the_script_cleanly(tmp_path):
    r = watch(tmp_path, LOOP + "\nprint('finished')\n", "--budget-s", "0", "--calibrate-only",
              epochs_arg=("--epochs", "1000"))
    assert r.returncode == 0 and "finished" not in r.stdout
    assert "stopped the script after calibrating" in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("tail, code, says", [
    ("\nraise ValueError('bad batch')\n", 1, "the script failed (ValueError)"),
    ("\nsys.exit(3)\n", 3, "advisor: the run took"),
])
def test_the_scripts_exit_status_is_passed_through(tmp_path, tail, code, says):
    r = watch(tmp_path, LOOP + tail, "--budget-s", "0")
    assert r.returncode == code and says in r.stderr
    if code == 1:
        assert "ValueError: bad batch" in r.stderr and "advisor/cli" not in r.stderr  # its traceback, not ours


@pytest.mark.slow
def test_a_script_that_never_steps_an_optimizer_says_so(tmp_path):
    r = watch(tmp_path, "import torch\nprint(torch.ones(2).sum())\n", "--budget-s", "0")
    assert r.returncode == 0 and "without stepping an optimizer" in r.stderr


def test_the_run_length_is_needed(tmp_path, capsys):
    from advisor.cli import main

    script = tmp_path / "train.py"
    script.write_text("")
    assert main(["watch", "--", "python", str(script)]) == 2
    assert "--epochs N or --total-steps N" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_stops_the_script_and_says_what_was_measured(tmp_path):
    import os
    import signal
    import time

    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(LOOP.replace("for _ in range(epochs):", "while True:")))
    proc = subprocess.Popen([sys.executable, "-m", "advisor.cli", "watch", "--budget-s", "0", "--local-only", "--",
                             "python", str(script), "--epochs", "1000"], stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        if "this run should take" in line:
            break
    os.killpg(proc.pid, signal.SIGINT)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130
    assert "advisor: stopped (Ctrl-C) after" in rest and "the prediction was" in rest
    assert "Traceback" not in "".join(lines) + rest
