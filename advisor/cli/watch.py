"""`advisor watch -- python train.py ARGS`: the user's own training, measured and predicted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click

from advisor.errors import UsageError

EPOCH_FLAGS = ("--epochs", "--num-epochs", "--num_epochs", "--max-epochs", "--max_epochs", "--n-epochs", "--n_epochs")


def epochs_from_args(args: list[str]) -> float | None:
    """The epochs a script's own arguments give (`--epochs 4`, `--max_epochs=4`, ...), if any."""
    for i, a in enumerate(args):
        name, eq, value = a.partition("=")
        if name in EPOCH_FLAGS:
            value = value if eq else (args[i + 1] if i + 1 < len(args) else "")
            if re.fullmatch(r"\d+(\.\d+)?", value):
                return float(value)
    return None


def child_command(command: tuple[str, ...]) -> list[str]:
    """The command with advisor's boot module between the interpreter and the script."""
    if not command:
        raise UsageError("advisor watch needs the training command after `--`, e.g. "
                         "`advisor watch --epochs 4 -- python train.py`.")
    exe, *rest = command
    if not re.fullmatch(r"python[\d.]*", Path(exe).name):
        raise UsageError(f"advisor watch runs a Python script, not {exe!r}: give `-- python train.py ARGS`.")
    if not rest or rest[0].startswith("-"):
        raise UsageError("advisor watch runs a script file (`-- python train.py ARGS`); "
                         f"`{' '.join(command)}` names none.")
    if not Path(rest[0]).is_file():
        raise UsageError(f"no such script: {rest[0]}.")
    if exe == Path(exe).name:  # a bare `python`: the interpreter advisor runs in (its environment)
        exe = sys.executable
    return [exe, "-m", "advisor.cli.watch_boot", *rest]


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Epochs the script trains (read from its own --epochs/--max-epochs when not given).")
@click.option("--total-steps", type=click.IntRange(min=1), default=None,
              help="Optimizer steps the whole run takes, instead of epochs.")
@click.option("--budget-s", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds of training to measure before predicting.")
@click.option("--calibrate-only", is_flag=True, help="Stop the script once the prediction is made.")
@click.option("--report", type=click.Path(dir_okay=False), default=None,
              help="Write the prediction (and the measured time, when the run ends) as JSON.")
@click.option("--provider", "providers", multiple=True, help="Only this provider's offers (repeatable).")
@click.option("--catalog", "catalog_files", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="Extra catalog file (offers and GPUs).")
@click.option("--local-only", is_flag=True, help="Predict this machine only (no cloud options).")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def watch(epochs, total_steps, budget_s, calibrate_only, report, providers, catalog_files, local_only, command):
    """Run your own training script and predict its whole run from its first minute.

    \b
    advisor watch --epochs 4 -- python train.py --lr 0.01
    advisor watch --calibrate-only --report run.json -- python train.py
    """
    from advisor.cli.watch_boot import ENV
    from advisor.cloud.catalog import check_providers, load_catalog

    cmd = child_command(command)
    if epochs is None and total_steps is None:
        epochs = epochs_from_args(list(command[2:]))
        if epochs is None:
            raise UsageError("how long is the run? Give --epochs N or --total-steps N (the script's own "
                             "arguments name no epochs).")
    check_providers(providers)
    load_catalog(tuple(catalog_files))  # a bad catalog file fails now, not after a minute of training
    if report:
        from advisor.store import check_writable

        check_writable(report)
    env = {**os.environ, ENV: json.dumps({"epochs": epochs, "total_steps": total_steps, "budget_s": budget_s,
                                          "calibrate_only": calibrate_only, "cloud": not local_only,
                                          "providers": list(providers),
                                          "catalog_files": [str(Path(f).resolve()) for f in catalog_files],
                                          "report": str(Path(report).resolve()) if report else None})}
    child = subprocess.Popen(cmd, env=env)
    try:
        code = child.wait()
    except KeyboardInterrupt:  # the script got the same Ctrl-C; let it report what was measured
        code = child.wait()
    sys.exit(code if code >= 0 else 128 - code)
