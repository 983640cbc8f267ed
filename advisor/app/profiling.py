"""`profile_machine`: probe the hardware, run the micro-benchmarks, calibrate the workload."""

from __future__ import annotations

import datetime as _dt
import time

from advisor.measure.calibrate import Progress, calibrate, calibrate_in_fresh_process
from advisor.model.profile import Profile
from advisor.model.workload import Workload

MICROBENCH_SHARE = 0.08  # of the budget; the rest is calibration


def device_label(machine, device: str) -> str:
    if device.startswith("cuda"):
        index = int(device.split(":")[1])
        for gpu in machine.gpus:
            if gpu.index == index and gpu.name:
                return gpu.name
        import torch

        return torch.cuda.get_device_name(index)
    cores = machine.cpu.usable_cores or machine.cpu.logical_cores
    return f"{machine.cpu.model} ({cores} cores)"


def check_workload_runs(workload: Workload) -> None:
    """Reject a model name, image size or data folder that cannot work, before measuring."""
    from advisor.measure.models import check_image_size, check_model_name
    from advisor.measure.training import check_image_folder

    check_model_name(workload.model)
    check_image_size(workload.model, workload.num_classes, workload.image_size)
    if workload.data_dir:
        check_image_folder(workload.data_dir)


# a calibration of many minutes is not what a quick question asked for (16-bit floats without
# hardware support on a CPU, a large model at a large batch): it is not started, or stops, and says so
SPOT_CALIBRATION_LIMIT_S = 600.0


def check_scaled_workload(profile: Profile, workload: Workload) -> None:
    """Reject a workload that cannot run before scaling to it (--no-calibrate); a model the
    profile has trained at this size is known to build, which spares importing torch."""
    built = any((c.key.model, c.key.num_classes, c.key.image_size)
                == (workload.model, workload.num_classes, workload.image_size) for c in profile.calibrations)
    if not built or workload.data_dir:
        check_workload_runs(workload)


def check_arithmetic(micro, precision: str, fix: str = "") -> None:
    """A usage error ("emulated-precision"; `fix` says what to do) where the micro-benchmarks show
    no hardware arithmetic for `precision` (see precision.EMULATED_SLOWDOWN): calibrating it
    would take very long."""
    from advisor.errors import UsageError
    from advisor.model.precision import emulated_slowdown

    emulated = emulated_slowdown(micro.matmul_flops_per_s, precision, micro.conv_train_flops_per_s)
    if emulated is not None:
        raise UsageError(
            f"precision {precision}: on this machine {emulated.describe()} (no {emulated.dtype} "
            f"arithmetic), so calibrating it would take very long.{fix}", code="emulated-precision")


def spot_calibration_seconds(estimator, workload: Workload, budget_s: float) -> tuple[float, float, float]:
    """(how long calibrating `workload` on the spot should take, as long as it takes where its
    steps are as slow as the scaled estimate's band allows, the most it may take).

    Usage errors, each with a `code`, where calibrating would run past that limit: a 16-bit
    precision without arithmetic on this device ("emulated-precision", see
    precision.EMULATED_SLOWDOWN), or steps the scaled estimate already puts too slow
    ("calibration-too-long")."""
    from advisor.errors import UsageError
    from advisor.measure.calibrate import expected_calibration_seconds
    from advisor.model.units import span

    profile = estimator.profile
    limit_s = max(SPOT_CALIBRATION_LIMIT_S, 10 * budget_s)
    check_arithmetic(profile.microbenchmarks, workload.precision)
    expected_s = slowest_s = budget_s
    try:  # the scaled estimate's step times say how long the calibration's fewest steps take
        guess = estimator.estimate(workload)
    except UsageError:
        return expected_s, slowest_s, limit_s
    b = workload.batch_size
    train_s, eval_s = b / guess.train_images_per_s, b / guess.eval_images_per_s
    expected_s = expected_calibration_seconds(budget_s, train_s, eval_s, profile.device)
    if expected_s > limit_s:
        raise UsageError(
            f"calibrating {workload.model} {workload.image_size}px batch {b} {workload.precision} here would "
            f"take about {span(expected_s)} (the scaled estimate's training step: {span(train_s)}), over the "
            f"{span(limit_s)} limit.", code="calibration-too-long")
    # as long as it takes where its steps are as slow as the band's upper end allows
    slow = guess.seconds_high / guess.seconds if guess.seconds > 0 else 1.0
    slowest_s = expected_calibration_seconds(budget_s, slow * train_s, slow * eval_s, profile.device)
    return expected_s, slowest_s, limit_s


def profile_machine(workload: Workload | None = None, device: str = "auto", budget_s: float = 60.0,
                    progress: Progress | None = None, fresh_process: bool = True) -> Profile:
    """Measure this machine for `workload` (default: the resnet34 pets classifier).

    The calibration trains in a fresh interpreter, as the user's script will (advisor.measure.isolation);
    `fresh_process=False` keeps it in this process, faster to start, for tests.
    """
    from advisor._version import __version__
    from advisor.measure.microbench import run_microbenchmarks
    from advisor.measure.opcount import count_step
    from advisor.measure.probe import probe_machine
    from advisor.measure.training import compute_capability, resolve_device
    from advisor.model.precision import resolve_precision

    workload = workload or Workload()
    start = time.perf_counter()
    say = progress or (lambda stage, fraction: None)
    device = resolve_device(device)
    cc = compute_capability(device)
    workload = workload.with_(precision=resolve_precision(workload.precision, device.split(":")[0], cc))
    check_workload_runs(workload)
    say("reading the hardware", 0.0)
    machine = probe_machine()
    say("micro-benchmarks: memory bandwidth, matmul", 0.01)
    micro = run_microbenchmarks(device, cc)
    check_arithmetic(micro, workload.precision,
                     f" Profile in fp32 and ask `advisor recommend --precision {workload.precision}`: this "
                     "machine is scaled to it, other hardware predicted as usual.")
    say("counting the model's FLOPs and bytes", MICROBENCH_SHARE * 0.6)
    cost = count_step(workload.model, workload.num_classes, workload.image_size,
                      workload.batch_size, workload.precision)
    spent = time.perf_counter() - start
    remaining = max(5.0, budget_s - spent)

    def calib_progress(stage, fraction):
        say(stage, (spent + fraction * remaining) / budget_s)

    # the calibration comes last: how long it still takes is how long the profile does
    calib_progress.expect = getattr(progress, "expect", lambda seconds_left: None)
    run = calibrate_in_fresh_process if fresh_process else calibrate
    cals = run(workload, device, remaining, calib_progress, step_cost=cost)
    notes = list(machine.notes)
    if not workload.data_dir:
        notes.append("calibrated on synthetic tensors (no --data): JPEG decoding is not measured")
    return Profile(
        machine=machine, device=device, device_name=device_label(machine, device),
        microbenchmarks=micro, calibrations=tuple(cals),
        created_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        advisor_version=__version__, notes=tuple(notes),
    )


def distributed_budget_s(budget_s: float) -> float:
    """Seconds for the all-reduce sweep and the DDP steps, on top of the single-device budget."""
    return max(15.0, 0.5 * budget_s)


def add_distributed(profile: Profile, nproc: int, workload: Workload | None, budget_s: float,
                    progress: Progress | None = None) -> Profile:
    """Measure `nproc` local ranks (all-reduce sweep and DDP steps of `workload`, each rank at
    its batch) into the profile. The default workload is the profile's first calibration, at
    the batch and precision it ran with, on synthetic data."""
    from dataclasses import replace

    from advisor.measure.ddp import check_nproc, measure_nproc

    if workload is None:
        k = profile.calibrations[0].key
        workload = Workload(model=k.model, num_classes=k.num_classes, image_size=k.image_size,
                            batch_size=k.batch_size, precision=k.precision)

    cpu = profile.machine.cpu
    gpus = len(profile.machine.gpus)
    if profile.device.startswith("cuda"):  # torch's count, also where NVML is unavailable
        import torch

        gpus = torch.cuda.device_count()
    check_nproc(nproc, profile.device, cpu.usable_cores or cpu.logical_cores or 1, gpus)
    if progress:
        progress(f"data-parallel: {nproc} processes, all-reduce sweep and DDP steps", 0.9)
    # each rank times at least a dozen steps whatever the budget; ranks sharing a CPU are slower
    alone = next((c.train_step_seconds.median for c in profile.calibrations
                  if c.key.model == workload.model and c.key.batch_size == workload.batch_size), 1.0)
    step = alone * (nproc if profile.device == "cpu" else 1)
    timeout = max(4 * budget_s, 60 + 20 * step, 120.0)
    measured = measure_nproc(nproc, profile.device, workload, budget_s, timeout_s=timeout)
    return replace(profile, distributed=measured)


def profile_cluster(workload: Workload | None, device: str, budget_s: float,
                    progress: Progress | None = None) -> Profile | None:
    """Under torchrun, on every process: each machine profiles itself (its local rank 0), then
    all ranks measure the all-reduce across the whole cluster and DDP steps. Returns the cluster
    profile on global rank 0 (rank 0's machine, plus `distributed` and every machine in
    `cluster`), None on the other ranks."""
    from dataclasses import replace

    from advisor.measure.ddp import measure_in_torchrun

    workload = workload or Workload()
    mine: dict = {}

    def node() -> dict:
        prof = profile_machine(workload, device=device, budget_s=budget_s, progress=progress)
        mine["profile"] = prof
        cal = prof.calibrations[0]
        return {"hostname": prof.machine.hostname, "device_name": prof.device_name,
                "machine": prof.machine.to_dict(), "train_images_per_s": cal.train_images_per_s}

    # the other ranks wait while their machine profiles itself: the timeout covers it
    timeout = 3 * budget_s + 120
    out = measure_in_torchrun(device, workload, distributed_budget_s(budget_s), timeout, node)
    if out is None:
        return None
    measured, cluster = out
    return replace(mine["profile"], distributed=measured, cluster=tuple(cluster))


def add_calibration(profile: Profile, workload: Workload, budget_s: float,
                    progress: Progress | None = None, fresh_process: bool = True,
                    max_seconds: float | None = None) -> Profile:
    """Calibrate one more workload on the profile's device and return the updated profile;
    with `max_seconds`, refuse (usage error) one that would take longer (see calibrate)."""
    from advisor.measure.opcount import count_step

    check_workload_runs(workload)
    cost = count_step(workload.model, workload.num_classes, workload.image_size,
                      workload.batch_size, workload.precision)
    run = calibrate_in_fresh_process if fresh_process else calibrate
    cals = run(workload, profile.device, budget_s, progress, step_cost=cost, max_seconds=max_seconds)
    return profile.with_calibrations(cals)


def stale_counts(profile: Profile) -> list:
    """Calibrations whose step an earlier advisor counted differently (StepCost.counting)."""
    return [c for c in profile.calibrations if c.step_cost is not None and not c.step_cost.current]


def recount(profile: Profile) -> Profile:
    """`profile` with the steps of `stale_counts` counted again as this version counts; the
    measurements stay as they are. A model that cannot be built here keeps its older count."""
    from dataclasses import replace

    from advisor.measure.opcount import count_step

    counted = {}  # calibrations of one workload on other data share its count

    def current(cal):
        if cal.step_cost is None or cal.step_cost.current:
            return cal
        k = cal.key
        key = (k.model, k.num_classes, k.image_size, cal.step_cost.batch_size, k.precision)
        if key not in counted:
            try:
                counted[key] = count_step(*key)
            except Exception:  # noqa: BLE001 - an older count is still an estimate
                counted[key] = None
        return cal if counted[key] is None else replace(cal, step_cost=counted[key])

    return replace(profile, calibrations=tuple(current(c) for c in profile.calibrations))
