"""The `advisor` command line: a thin layer over the library.

User errors end with exit 2 and one line; runtime failures with exit 1; --debug shows the
traceback. Heavy imports (torch) happen only in commands that measure.
"""

from __future__ import annotations

import sys
import traceback

import click

from advisor.errors import AdvisorError, UsageError
from advisor.precision import PRECISION_CHOICES
from advisor.workload import DEFAULT_MODEL, DEFAULT_NUM_CLASSES, Workload

DEFAULT_RECALIBRATE_BUDGET_S = 30.0


def workload_options(func):
    """Options that describe the network and its inputs, shared by the commands."""
    options = [
        click.option("--model", default=DEFAULT_MODEL, show_default=True,
                     help="torchvision classification model, or package.module:callable."),
        click.option("--num-classes", type=int, default=DEFAULT_NUM_CLASSES, show_default=True),
        click.option("--image-size", type=int, default=224, show_default=True, help="Pixels per side."),
        click.option("--batch-size", type=int, default=64, show_default=True),
        click.option("--precision", type=click.Choice(PRECISION_CHOICES), default="fp32",
                     show_default=True, help="fp32 = PyTorch defaults (TF32 convolutions on Ampere+)."),
        click.option("--data", "data_dir", type=str, default=None,
                     help="An ImageFolder (DIR/<class>/<image>) to measure JPEG decoding on."),
        click.option("--workers", type=int, default=0, show_default=True,
                     help="DataLoader worker processes (with --data)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _workload(model, num_classes, image_size, batch_size, precision, data_dir, workers, **run) -> Workload:
    if data_dir is None and workers:
        raise UsageError("--workers needs --data: synthetic tensors are not loaded by workers.")
    return Workload(model=model, num_classes=num_classes, image_size=image_size,
                    batch_size=batch_size, precision=precision, data_dir=data_dir,
                    workers=workers, **run)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="advisor")
def cli(debug):
    """How long will training take, where, and at what cost."""


@cli.command()
@workload_options
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--budget-s", type=click.FloatRange(min=5), default=60.0, show_default=True,
              help="Seconds of measuring (calibration steps stop when it is spent).")
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="Write the profile here instead of the user data directory.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--show", is_flag=True, help="Print the saved profile and exit without measuring.")
def profile(model, num_classes, image_size, batch_size, precision, data_dir, workers, device,
            budget_s, output, fmt, show):
    """Measure this machine and save its profile."""
    from advisor.profile import load_profile, save_profile
    from advisor.report import profile_summary

    if show:
        prof = load_profile(output)
        _print_profile(prof, fmt)
        return
    workload = _workload(model, num_classes, image_size, batch_size, precision, data_dir, workers)
    if output is not None:
        _check_writable(output)
    prof = _measure(workload, device, budget_s)
    path = save_profile(prof, output)
    _print_profile(prof, fmt)
    if fmt == "table":
        click.echo(f"\nSaved to {path}")


def _print_profile(prof, fmt):
    import json

    from advisor.report import profile_summary

    if fmt == "json":
        click.echo(json.dumps(prof.to_dict(), indent=2, default=lambda v: list(v) if isinstance(v, tuple) else None))
    else:
        click.echo(profile_summary(prof))


def _check_writable(output: str) -> None:
    """Fail before a minute of measuring, not after, when --output cannot be written."""
    import os
    from pathlib import Path

    parent = Path(output).resolve().parent
    if not parent.is_dir():
        raise UsageError(f"--output {output}: directory {parent} does not exist; create it first.")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"--output {output}: directory {parent} is not writable; choose another path.")


def _measure(workload: Workload, device: str, budget_s: float):
    from advisor.profiling import profile_machine
    from advisor.progress import Progress

    progress = Progress(budget_s)
    prof = profile_machine(workload, device=device, budget_s=budget_s, progress=progress)
    progress.done("profile measured")
    return prof


@cli.command()
@click.option("--dataset-size", type=int, required=True, help="Images in the whole dataset (train + valid).")
@click.option("--epochs", type=int, default=4, show_default=True)
@click.option("--valid-fraction", type=float, default=0.2, show_default=True)
@click.option("--frozen-epochs", type=int, default=0, show_default=True,
              help="Epochs before the others that train only the classifier head.")
@workload_options
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False), default=None,
              help="Profile to use (default: this machine's saved profile).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--no-calibrate", is_flag=True,
              help="Do not measure a workload the profile lacks; scale from the closest calibration.")
@click.option("--budget-s", type=click.FloatRange(min=5), default=DEFAULT_RECALIBRATE_BUDGET_S,
              show_default=True, help="Seconds for calibrating a workload the profile lacks.")
def recommend(dataset_size, epochs, valid_fraction, frozen_epochs, model, num_classes, image_size,
              batch_size, precision, data_dir, workers, profile_path, fmt, no_calibrate, budget_s):
    """Predict the training time of a workload and recommend where to run it."""
    from advisor.estimate import Estimator
    from advisor.profile import default_profile_path, load_profile, save_profile
    from advisor.recommend import local_option, recommend_impl
    from advisor.report import recommend_csv, recommend_json, recommend_table, recommendation_payload

    workload = _workload(model, num_classes, image_size, batch_size, precision, data_dir, workers,
                         dataset_size=dataset_size, epochs=epochs, valid_fraction=valid_fraction,
                         frozen_epochs=frozen_epochs)
    path = profile_path
    if path is None and not default_profile_path().exists():
        click.echo("No saved profile for this machine: profiling it first "
                   "(once; `advisor profile` repeats it).", err=True)
        prof = _measure(workload.with_(precision=workload.precision), "auto", 60.0)
        save_profile(prof)
    else:
        prof = load_profile(path)
    estimator = Estimator(prof)
    workload = estimator.resolve(workload)
    if estimator.calibration_for(workload) is None and not no_calibrate:
        from advisor.profiling import add_calibration
        from advisor.progress import Progress

        click.echo(f"This workload is not in the profile: calibrating it now (about {budget_s:.0f} s; "
                   "--no-calibrate scales instead).", err=True)
        progress = Progress(budget_s)
        prof = add_calibration(prof, workload, budget_s, progress)
        progress.done("calibrated")
        save_profile(prof, path)
        estimator = Estimator(prof)
    elif estimator.calibration_for(workload) is None:
        from advisor.profiling import check_workload_runs

        check_workload_runs(workload)
    options = [local_option(estimator.estimate(workload))]
    payload = recommendation_payload(workload, options, recommend_impl(options))
    render = {"json": recommend_json, "csv": recommend_csv, "table": recommend_table}[fmt]
    click.echo(render(payload).rstrip("\n"))


@cli.command()
def models():
    """List the torchvision classification models advisor can build."""
    from advisor.models import torchvision_model_names

    click.echo("\n".join(torchvision_model_names()))


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors with exit 2 (usage) or 1 (runtime); --debug for tracebacks."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        cli.main(args=argv, prog_name="advisor", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("advisor: interrupted", err=True)
        return 130
    except click.exceptions.ClickException as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"advisor: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except AdvisorError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"advisor: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("\nadvisor: interrupted; nothing was saved", err=True)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
