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
    from advisor.profile import load_profile, save_profile

    if show:
        prof = load_profile(output)
        _print_profile(prof, fmt)
        return
    workload = _workload(model, num_classes, image_size, batch_size, precision, data_dir, workers,
                         channels_last)
    if output is not None:
        _check_writable(output)
    if distributed:
        if nproc is not None:
            raise UsageError("--distributed takes its process count from torchrun (--nproc-per-node); drop --nproc.")
        from advisor.profiling import profile_cluster

        prof = profile_cluster(workload, device, budget_s)
        if prof is None:  # not rank 0: rank 0 writes the cluster profile
            return
    else:
        nproc = _default_nproc(nproc, device)
        prof = _measure(workload, device, budget_s, nproc)
    prof, carried = _carry_over(prof, output)
    path = save_profile(prof, output)
    _print_profile(prof, fmt)
    if fmt == "table":
        click.echo(f"\nSaved to {path}")
    if carried:
        click.echo(carried, err=True)


def _carry_over(prof, output: str | None):
    """The new profile with what the one it replaces measured beyond it, and a sentence saying
    so; a replaced profile of other hardware or software is kept beside it."""
    from pathlib import Path

    from advisor.errors import RuntimeFailure
    from advisor.profile import (carried_over_impl, default_profile_path, load_profile, same_setup_impl,
                                 save_profile)

    target = Path(output) if output is not None else default_profile_path()
    if not target.exists():
        return prof, ""
    try:
        old = load_profile(target)
    except (UsageError, RuntimeFailure):
        return prof, ""  # unreadable: nothing to carry over
    if not same_setup_impl(prof, old):
        backup = save_profile(old, target.with_name(target.stem + ".previous.json"))
        return prof, f"The profile this one replaces was measured on other hardware or software: kept as {backup}."
    merged = carried_over_impl(prof, old)
    kept = [c.key.describe() for c in merged.calibrations[len(prof.calibrations):]]
    if merged.distributed is not None and prof.distributed is None:
        kept.append(f"the data-parallel measurement on {merged.distributed.world} processes")
    if not kept:
        return merged, ""
    return merged, (f"Kept from the profile this one replaces: {'; '.join(kept)} (same machine, device and "
                    f"software; delete {target} first to measure everything afresh).")


def _print_profile(prof, fmt):
    from advisor.report import profile_summary

    click.echo(prof.to_json().rstrip("\n") if fmt == "json" else profile_summary(prof))


def _check_writable(output: str, option: str = "--output") -> None:
    """Fail before a minute of measuring, not after, when an output file cannot be written."""
    import os
    from pathlib import Path

    parent = Path(output).resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{option} {output}: directory {parent} does not exist; create it first.")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{option} {output}: directory {parent} is not writable; choose another path.")


def _default_nproc(nproc: int | None, device: str) -> int | None:
    """--nproc as given (checked before measuring), else the GPU count on a multi-GPU machine."""
    from advisor.ddp import check_nproc
    from advisor.probe import usable_cores
    from advisor.training import resolve_device

    resolved = resolve_device(device)
    gpus = 0
    if resolved.startswith("cuda"):
        import torch

        gpus = torch.cuda.device_count()
    if nproc is None:
        return gpus if gpus > 1 else None
    check_nproc(nproc, resolved, usable_cores(), gpus)
    return nproc


def _measure(workload: Workload, device: str, budget_s: float, nproc: int | None = None):
    from advisor.profiling import add_distributed, distributed_budget_s, profile_machine
    from advisor.progress import Progress

    extra = distributed_budget_s(budget_s) if nproc else 0.0
    progress = Progress(budget_s + extra, then_s=extra)
    prof = profile_machine(workload, device=device, budget_s=budget_s, progress=progress)
    if nproc:
        prof = add_distributed(prof, nproc, None, extra, progress)
    progress.done("profile measured")
    return prof


def _estimator_for(workload: Workload, profile_path: str | None, no_calibrate: bool, budget_s: float,
                   device: str | None = None):
    """The saved profile's Estimator, calibrating the workload first when the profile lacks it.

    With no profile at all, this machine is profiled first (and the user is told). The updated
    profile is saved back, keeping every calibration it had.
    """
    from advisor.estimate import Estimator
    from advisor.profile import default_profile_path, load_profile, save_profile

    if profile_path is None and not default_profile_path().exists():
        click.echo("No saved profile for this machine: profiling it first "
                   "(once; `advisor profile` repeats it).", err=True)
        prof = _measure(workload, device or "auto", 60.0)
        save_profile(prof)
    else:
        prof = load_profile(profile_path)
    if device is not None:
        from advisor.training import resolve_device

        wanted = resolve_device(device)
        if wanted != prof.device:
            raise UsageError(
                f"--device {device}: the profile was measured on {prof.device}; profile "
                f"{wanted} first (`advisor profile --device {wanted} --output FILE`, then --profile FILE)."
            )
    estimator = Estimator(prof)
    workload = estimator.resolve(workload)
    if estimator.calibration_for(workload) is not None:
        return estimator, workload
    if no_calibrate:
        from advisor.profiling import check_scaled_workload

        check_scaled_workload(prof, workload)
        return estimator, workload
    from advisor.profiling import add_calibration, check_workload_runs, spot_calibration_seconds
    from advisor.progress import Progress
    from advisor.report import span

    check_workload_runs(workload)  # a misspelt model or a missing folder fails before any promise
    expected_s, slowest_s, limit_s = spot_calibration_seconds(estimator, workload, budget_s)
    about = span(expected_s) + (f" to {span(slowest_s)}" if slowest_s > 1.25 * expected_s else "")
    click.echo(f"This workload is not in the profile: calibrating it now (about {about}; "
               "--no-calibrate scales instead).", err=True)
    progress = Progress(budget_s, expected_s=expected_s)
    try:
        prof = add_calibration(prof, workload, budget_s, progress, max_seconds=limit_s)
    except BaseException:
        progress.done("calibration stopped")
        raise
    progress.done("calibrated")
    save_profile(prof, profile_path)
    return Estimator(prof), workload


def run_options(func):
    """Options that describe how long the workload trains, shared by recommend and validate."""
    options = [
        click.option("--dataset-size", type=int, required=True,
                     help="Images in the whole dataset (train + valid)."),
        click.option("--epochs", type=int, default=4, show_default=True),
        click.option("--valid-fraction", type=float, default=0.2, show_default=True),
        click.option("--frozen-epochs", type=int, default=0, show_default=True,
                     help="Epochs before the others that train only the classifier head."),
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
@click.option("--top", type=click.IntRange(min=1), default=None, help="Show only the first N options.")
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
def recommend(dataset_size, epochs, valid_fraction, frozen_epochs, model, num_classes, image_size,
              batch_size, precision, data_dir, workers, channels_last, profile_path, no_calibrate,
              budget_s, objective, max_cost, deadline, providers, targets, spot, top, local_only,
              catalog_files, plot_path, gpus, nodes, global_batch, fmt):
    """Predict the training time of a workload here and on cloud GPUs, price it, recommend."""
    from advisor.advise import advise
    from advisor.catalog import check_providers_impl, load_catalog
    from advisor.profile import load_reference_profiles
    from advisor.recommend import parse_duration
    from advisor.report import recommend_csv, recommend_json, recommend_table

    workload = _workload(model, num_classes, image_size, batch_size, precision, data_dir, workers,
                         channels_last, dataset_size=dataset_size, epochs=epochs, valid_fraction=valid_fraction,
                         frozen_epochs=frozen_epochs)
    if max_cost is not None and not max_cost >= 0:
        raise UsageError(f"--max-cost {max_cost:g} must be zero or more US dollars.")
    deadline_s = parse_duration(deadline) if deadline is not None else None
    check_providers_impl(providers)
    from advisor.distributed import DataParallel

    DataParallel(1 if gpus is None else gpus, nodes, global_batch).check()
    if global_batch is not None and global_batch < 1:
        raise UsageError(f"--global-batch {global_batch}: give a positive number of images.")
    catalog = load_catalog(tuple(catalog_files))
    for t in targets:
        catalog.gpu(t)
    if plot_path is not None:
        _check_writable(plot_path, "--plot")
    estimator, workload = _estimator_for(workload, profile_path, no_calibrate, budget_s)
    advice = advise(estimator.profile, workload, catalog, providers=providers, targets=targets,
                    spot=spot, objective=objective, max_cost=max_cost, deadline_s=deadline_s,
                    include_offers=not local_only, references=load_reference_profiles(),
                    estimator=estimator, gpus=gpus, nodes=nodes, global_batch=global_batch)
    payload = advice.to_dict(top)
    render = {"json": recommend_json, "csv": recommend_csv, "table": recommend_table}[fmt]
    click.echo(render(payload).rstrip("\n"))
    if plot_path is not None:
        from advisor.report import plot_options

        click.echo(f"Plot written to {plot_options(advice.to_dict(), plot_path)}", err=True)


@cli.group()
def catalog():
    """List the GPUs and cloud offers advisor knows, with prices, sources and dates."""


@catalog.command("gpus")
@click.option("--catalog", "catalog_files", multiple=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def catalog_gpus(catalog_files, fmt):
    """GPU specifications (dense tensor-core peaks)."""
    from advisor.catalog import load_catalog
    from advisor.report import gpus_output

    click.echo(gpus_output(load_catalog(tuple(catalog_files)), fmt).rstrip("\n"))


@catalog.command("offers")
@click.option("--provider", "providers", multiple=True, help="Only this provider (repeatable).")
@click.option("--gpu", default=None, help="Only offers with this GPU.")
@click.option("--catalog", "catalog_files", multiple=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def catalog_offers(providers, gpu, catalog_files, fmt):
    """Cloud offers with prices per hour, billing rule, runtime limit, date and source."""
    import datetime as dt

    from advisor.catalog import check_providers_impl, filter_offers_impl, load_catalog, stale_prices_impl
    from advisor.report import offers_output

    cat = load_catalog(tuple(catalog_files))
    gpu_id = cat.gpu(gpu).id if gpu else None
    offers = filter_offers_impl(cat.offers, check_providers_impl(providers), gpu_id)
    click.echo(offers_output(cat, offers, fmt).rstrip("\n"))
    stale = stale_prices_impl(offers, dt.date.today())
    if stale:
        click.echo(f"Warning: {stale}", err=True)


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
def validate(dataset_size, epochs, valid_fraction, frozen_epochs, model, num_classes, image_size,
             batch_size, precision, data_dir, workers, channels_last, device, profile_path,
             no_calibrate, budget_s, max_seconds, yes, record, fmt):
    """Predict a workload's training time, then train it here and compare."""
    import json

    from advisor import __version__
    from advisor.progress import TrainingProgress
    from advisor.report import hms
    from advisor.training import run_training
    from advisor.validate import (Validation, append_record, check_record_file, completed_workload,
                                  history_impl, read_records, validation_table)

    workload = _workload(model, num_classes, image_size, batch_size, precision, data_dir, workers,
                         channels_last, dataset_size=dataset_size, epochs=epochs, valid_fraction=valid_fraction,
                         frozen_epochs=frozen_epochs)
    if record:
        check_record_file(record)
    estimator, workload = _estimator_for(workload, profile_path, no_calibrate, budget_s, device)
    estimate = estimator.estimate(workload)
    if estimate.seconds > max_seconds and not yes:
        raise UsageError(
            f"the estimate is {hms(estimate.seconds)} ({estimate.seconds:.0f} s), over --max-seconds "
            f"{max_seconds:.0f}; pass --yes to train anyway, or lower --dataset-size or --epochs."
        )
    click.echo(f"Predicted: {hms(estimate.seconds)} (band {hms(estimate.seconds_low)} to "
               f"{hms(estimate.seconds_high)}) on {estimate.accelerator}; training now "
               "(Ctrl-C stops and compares what ran).", err=True)
    progress = TrainingProgress(workload.batch_size)
    run = run_training(workload, estimator.profile.device, progress)
    progress.done()
    if run.epochs_completed == 0:
        raise UsageError("interrupted before the first epoch ended: nothing to compare.")
    if run.interrupted:
        estimate = estimator.estimate(completed_workload(workload, run.epochs_completed))
    result = Validation(estimate, run)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(validation_table(result))
    if record:
        host = estimator.profile.machine.hostname
        path = append_record(record, result.record_row(host, __version__))
        history = history_impl(read_records(path), host, result.estimate.device)
        click.echo(f"Recorded in {path}" + (f"; {history}." if history else "."), err=True)
    if run.interrupted:
        raise click.exceptions.Exit(130)


@cli.command()
def models():
    """List the torchvision classification models advisor can build."""
    from advisor.models import torchvision_model_names

    click.echo("\n".join(torchvision_model_names()))


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
        click.echo(f"advisor: error: {_one_line(str(exc))}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("\nadvisor: interrupted; nothing was saved", err=True)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
