"""The `advisor` command line: a thin layer over the library.

User errors end with exit 2 and one line; runtime failures with exit 1; --debug shows the
traceback. Heavy imports (torch) happen only in commands that measure.
"""

from __future__ import annotations

import contextlib
import sys
import traceback

import click

from advisor.advise.options import ANSWER_OPTIONS
from advisor.errors import AdvisorError, UsageError
from advisor.model.precision import PRECISION_CHOICES
from advisor.model.workload import DEFAULT_MODEL, DEFAULT_NUM_CLASSES, Workload

DEFAULT_RECALIBRATE_BUDGET_S = 30.0
DEFAULT_TOP = ANSWER_OPTIONS


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
        click.option("--channels-last", is_flag=True,
                     help="Model and inputs in torch.channels_last (NHWC), as training code that "
                          "calls .to(memory_format=torch.channels_last) does."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _workload(model, num_classes, image_size, batch_size, precision, data_dir, workers,
              channels_last=False, **run) -> Workload:
    if data_dir is None and workers:
        raise UsageError("--workers needs --data: synthetic tensors are not loaded by workers.")
    return Workload(model=model, num_classes=num_classes, image_size=image_size,
                    batch_size=batch_size, precision=precision, data_dir=data_dir,
                    workers=workers, channels_last=channels_last, **run)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="advisor")
def cli(debug):
    """How long will training take, where, and at what cost."""


# Flags that change what a workflow announces, by the event or error code it gives.
HINTS = {
    "calibrating": "--no-calibrate scales instead.",
    "over-limit": "Pass --yes to train anyway, or lower --dataset-size or --epochs.",
}
# How to act on a note of an estimate, by its code (advisor.model.notes).
NOTE_HINTS = {
    "scaled": "drop --no-calibrate to measure it",
    "synthetic-data": "profile with --data DIR to include it",
    "decoding-not-measured": "drop --no-calibrate, or profile with --data DIR, to measure it",
    "decoding-would-bound": "--data DIR measures decoding here",
    "channels-last": "--channels-last",
    "one-device": "`advisor profile --nproc N` measures it",
    "ddp-scaled": "`advisor profile --nproc N` with these options measures it",
    "not-shown": "--all lists every option, --verbose every note and exclusion",
}


def _note_hints(no_calibrate: bool) -> dict[str, str]:
    """NOTE_HINTS; without --no-calibrate, no hint to drop it (a workload this machine cannot
    calibrate in its precision is scaled all the same)."""
    if no_calibrate:
        return NOTE_HINTS
    hints = {k: v for k, v in NOTE_HINTS.items() if k != "scaled"}
    hints["decoding-not-measured"] = "profile with --data DIR to measure it"
    return hints


def _reporter():
    from advisor.render.progress import ConsoleReporter

    return ConsoleReporter(HINTS)


@cli.command()
@workload_options
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--budget-s", type=click.FloatRange(min=5), default=60.0, show_default=True,
              help="Seconds of measuring (calibration steps stop when it is spent).")
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="Write the profile here instead of the user data directory.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--show", is_flag=True, help="Print the saved profile and exit without measuring.")
@click.option("--nproc", type=int, default=None,
              help="Also measure data-parallel training on N local processes (gloo on CPUs, NCCL on "
                   "GPUs): an all-reduce sweep and DDP steps. Default on a multi-GPU machine: its GPU count.")
@click.option("--distributed", is_flag=True,
              help="Run under torchrun (one process per GPU, any number of machines): every machine "
                   "measures itself, rank 0 writes one cluster profile.")
def profile(model, num_classes, image_size, batch_size, precision, data_dir, workers, channels_last,
            device, budget_s, output, fmt, show, nproc, distributed):
    """Measure this machine and save its profile."""
    from advisor.app import workflows
    from advisor.store import load_profile

    if show:
        _print_profile(load_profile(output), fmt)
        return
    workload = _workload(model, num_classes, image_size, batch_size, precision, data_dir, workers,
                         channels_last)
    if output is not None:
        _check_writable(output)
    if distributed:
        if nproc is not None:
            raise UsageError("--distributed takes its process count from torchrun (--nproc-per-node); drop --nproc.")
        from advisor.app.profiling import profile_cluster

        prof = profile_cluster(workload, device, budget_s)
        if prof is None:  # not rank 0: rank 0 writes the cluster profile
            return
    else:
        nproc = workflows.default_nproc(nproc, device)
        prof = workflows.measure_machine(workload, device, budget_s, nproc, reporter=_reporter())
    saved = workflows.save_measured(prof, output)
    _print_profile(load_profile(saved.path), fmt)
    if fmt == "table":
        click.echo(f"\nSaved to {saved.path}")
    if saved.backup is not None:
        click.echo(f"The profile this one replaces was measured on other hardware or software: kept as "
                   f"{saved.backup}.", err=True)
    if saved.kept:
        click.echo(f"Kept from the profile this one replaces: {'; '.join(saved.kept)} (same machine, device "
                   f"and software; delete {saved.path} first to measure everything afresh).", err=True)


def _print_profile(prof, fmt):
    from advisor.render.profile import profile_summary

    click.echo(prof.to_json().rstrip("\n") if fmt == "json" else profile_summary(prof))


def _check_writable(output: str, option: str = "--output") -> None:
    """Fail before a minute of measuring, not after, when an output file cannot be written."""
    from advisor.store import check_writable

    with _for_option(option):
        check_writable(output)


@contextlib.contextmanager
def _for_option(option: str):
    """A usage error from checking one option's value, with the option's name in front."""
    try:
        yield
    except UsageError as exc:
        raise UsageError(f"{option}: {exc}", code=exc.code) from None


def run_options(func):
    """Options that describe how long the workload trains, shared by recommend and validate."""
    options = [
        click.option("--dataset-size", type=int, required=True,
                     help="Images in the whole dataset (train + valid)."),
        click.option("--epochs", type=int, default=4, show_default=True),
        click.option("--valid-fraction", type=float, default=0.2, show_default=True),
        click.option("--frozen-epochs", type=int, default=0, show_default=True,
                     help="Epochs before the others that train only the classifier head."),
        click.option("--valid-batch-size", type=int, default=None,
                     help="The validation loader's batch, where it is not --batch-size (often twice it)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def estimate_options(func):
    """Where the estimate comes from, shared by recommend and validate."""
    options = [
        click.option("--profile", "profile_path", type=click.Path(dir_okay=False), default=None,
                     help="Profile to use (default: this machine's saved profile)."),
        click.option("--no-calibrate", is_flag=True,
                     help="Do not measure a workload the profile lacks; scale from the closest calibration."),
        click.option("--budget-s", type=click.FloatRange(min=5), default=DEFAULT_RECALIBRATE_BUDGET_S,
                     show_default=True, help="Seconds for calibrating a workload the profile lacks."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command()
@run_options
@workload_options
@estimate_options
@click.option("--objective", type=click.Choice(["time", "cost", "balanced"]), default="balanced",
              show_default=True, help="What `best` optimises.")
@click.option("--max-cost", type=float, default=None, help="Exclude options costing more (USD).")
@click.option("--deadline", default=None, help="Exclude options taking longer, e.g. 2h30m, 90m, 1:30:00.")
@click.option("--provider", "providers", multiple=True, help="Only this provider (repeatable): colab, gcp, paperspace.")
@click.option("--target", "targets", multiple=True, help="Also estimate this GPU, unpriced (repeatable), e.g. H200.")
@click.option("--spot", is_flag=True, help="Use spot/preemptible prices where offered.")
@click.option("--top", type=click.IntRange(min=1), default=None,
              help=f"Show the first N options [default: {DEFAULT_TOP} in the table, all in JSON and CSV].")
@click.option("--all", "show_all", is_flag=True, help="Show every option.")
@click.option("--verbose", "-v", is_flag=True,
              help="Every note of the options shown, the excluded offers and the GPU-count comparison.")
@click.option("--local-only", is_flag=True, help="Only this machine (no catalog offers).")
@click.option("--catalog", "catalog_files", multiple=True, type=click.Path(dir_okay=False),
              help="A TOML file adding or overriding GPUs and offers (repeatable).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Write time against cost, Pareto front labelled, to this PNG (needs matplotlib).")
@click.option("--gpus", type=int, default=None,
              help="Data-parallel (DDP) on this many GPUs per machine: only offers with that many. "
                   "Default: every offer with all its GPUs.")
@click.option("--nodes", type=int, default=1, show_default=True,
              help="Machines of each offer (needs the network bandwidth between them in the catalog).")
@click.option("--global-batch", type=int, default=None,
              help="Keep the global batch fixed (per-GPU batch = this / GPUs); default: --batch-size is per GPU.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def recommend(dataset_size, epochs, valid_fraction, frozen_epochs, valid_batch_size, model, num_classes, image_size,
              batch_size, precision, data_dir, workers, channels_last, profile_path, no_calibrate,
              budget_s, objective, max_cost, deadline, providers, targets, spot, top, show_all, verbose,
              local_only, catalog_files, plot_path, gpus, nodes, global_batch, fmt):
    """Predict the training time of a workload here and on cloud GPUs, price it, recommend."""
    from advisor.advise import parse_duration
    from advisor.app import workflows
    from advisor.cloud.catalog import check_providers
    from advisor.render.recommend import recommend_csv, recommend_json, recommend_table

    workload = _workload(model, num_classes, image_size, batch_size, precision, data_dir, workers,
                         channels_last, dataset_size=dataset_size, epochs=epochs, valid_fraction=valid_fraction,
                         frozen_epochs=frozen_epochs, valid_batch_size=valid_batch_size)
    if max_cost is not None and not max_cost >= 0:
        raise UsageError(f"--max-cost {max_cost:g} must be zero or more US dollars.")
    try:
        deadline_s = parse_duration(deadline) if deadline is not None else None
    except UsageError as exc:
        raise UsageError(f"--{exc}") from None
    check_providers(providers)
    if global_batch is not None and global_batch < 1:
        raise UsageError(f"--global-batch {global_batch}: give a positive number of images.")
    if plot_path is not None:
        _check_writable(plot_path, "--plot")
    advice = workflows.recommend(
        workload, profile_path, catalog_files=tuple(catalog_files), providers=providers, targets=targets,
        spot=spot, objective=objective, max_cost_usd=max_cost, deadline_seconds=deadline_s,
        include_offers=not local_only, gpus=gpus, nodes=nodes, global_batch=global_batch,
        calibrate=not no_calibrate, budget_s=budget_s, reporter=_reporter())
    if fmt == "table":
        click.echo(recommend_table(advice.to_dict(), top=None if show_all else (top or DEFAULT_TOP),
                                   verbose=verbose, hints=_note_hints(no_calibrate)).rstrip("\n"))
    else:
        payload = advice.to_dict(None if show_all else top)
        click.echo({"json": recommend_json, "csv": recommend_csv}[fmt](payload).rstrip("\n"))
    if plot_path is not None:
        from advisor.render.plot import plot_options

        click.echo(f"Plot written to {plot_options(advice.to_dict(), plot_path)}", err=True)


@cli.command()
@run_options
@workload_options
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N (default: the profile's device).")
@estimate_options
@click.option("--max-seconds", type=click.FloatRange(min=0), default=600.0, show_default=True,
              help="Refuse to train when the estimate is longer, unless --yes.")
@click.option("--yes", is_flag=True, help="Train even when the estimate exceeds --max-seconds.")
@click.option("--record", type=click.Path(dir_okay=False), default=None,
              help="Append the result to this CSV file (a history of predictions on this machine).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def validate(dataset_size, epochs, valid_fraction, frozen_epochs, valid_batch_size, model, num_classes, image_size,
             batch_size, precision, data_dir, workers, channels_last, device, profile_path,
             no_calibrate, budget_s, max_seconds, yes, record, fmt):
    """Predict a workload's training time, then train it here and compare."""
    import json

    from advisor._version import __version__
    from advisor.app import workflows
    from advisor.render.progress import TrainingProgress
    from advisor.render.validation import validation_table
    from advisor.store import append_record, check_record_file, history_line, read_records

    workload = _workload(model, num_classes, image_size, batch_size, precision, data_dir, workers,
                         channels_last, dataset_size=dataset_size, epochs=epochs, valid_fraction=valid_fraction,
                         frozen_epochs=frozen_epochs, valid_batch_size=valid_batch_size)
    if record:
        with _for_option("--record"):
            check_record_file(record)
    progress = TrainingProgress(workload.batch_size)
    try:
        result = workflows.validate(workload, profile_path, device=device, calibrate=not no_calibrate,
                                    budget_s=budget_s, max_seconds=None if yes else max_seconds,
                                    training_progress=progress, reporter=_reporter())
    finally:
        progress.done()
    click.echo(json.dumps(result.to_dict(), indent=2) if fmt == "json" else validation_table(result))
    if record:
        prof = workflows.load_profile(profile_path)
        host = prof.machine.hostname
        path = append_record(record, result.record_row(host, __version__))
        history = history_line(read_records(path), host, result.estimate.device)
        click.echo(f"Recorded in {path}" + (f"; {history}." if history else "."), err=True)
    if result.run.interrupted:
        raise click.exceptions.Exit(130)


@cli.command()
def models():
    """List the torchvision classification models advisor can build."""
    from advisor.measure.models import torchvision_model_names

    click.echo("\n".join(torchvision_model_names()))


from advisor.cli.catalog import catalog  # commands of their own modules
from advisor.cli.watch import watch

cli.add_command(catalog)
cli.add_command(watch)


def _one_line(message: str) -> str:
    """An error raised in a DataLoader worker arrives wrapped in the worker's traceback; its
    last line ("advisor.errors.RuntimeFailure: <message>") carries the message itself."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return message.strip()
    last = lines[-1]
    prefix, sep, rest = last.partition(": ")
    return rest if sep and prefix.rsplit(".", 1)[-1] in ("RuntimeFailure", "UsageError", "AdvisorError") else last


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors with exit 2 (usage) or 1 (runtime); --debug for tracebacks."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        code = cli.main(args=argv, prog_name="advisor", standalone_mode=False)
        if isinstance(code, int):  # click.exceptions.Exit, returned in non-standalone mode
            return code
    except click.exceptions.Abort as exc:  # click's form of Ctrl-C
        cause = exc.__cause__ or exc.__context__
        said = f" ({cause})" if isinstance(cause, KeyboardInterrupt) and str(cause) else ""
        click.echo(f"advisor: interrupted{said}; nothing was saved, and files are as they were.", err=True)
        return 130
    except click.exceptions.ClickException as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"advisor: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except AdvisorError as exc:
        if debug:
            traceback.print_exc()
        hint = HINTS.get(getattr(exc, "code", None) or "")
        click.echo(f"advisor: error: {_one_line(str(exc))}" + (f" {hint}" if hint else ""), err=True)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        said = f" ({exc})" if str(exc) else ""
        click.echo(f"advisor: interrupted{said}; nothing was saved, and files are as they were.", err=True)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
