"""`profile_machine`: probe the hardware, run the micro-benchmarks, calibrate the workload."""

from __future__ import annotations

import datetime as _dt
import time

from advisor.calibrate import Progress, calibrate
from advisor.profile import Profile
from advisor.workload import Workload

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
    from advisor.models import check_image_size, check_model_name
    from advisor.training import check_image_folder

    check_model_name(workload.model)
    check_image_size(workload.model, workload.num_classes, workload.image_size)
    if workload.data_dir:
        check_image_folder(workload.data_dir)


def profile_machine(workload: Workload | None = None, device: str = "auto", budget_s: float = 60.0,
                    progress: Progress | None = None) -> Profile:
    """Measure this machine for `workload` (default: the resnet34 pets classifier)."""
    from advisor import __version__
    from advisor.microbench import run_microbenchmarks
    from advisor.opcount import count_step
    from advisor.precision import resolve_precision
    from advisor.probe import probe_machine
    from advisor.training import compute_capability, resolve_device

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
    say("counting the model's FLOPs and bytes", MICROBENCH_SHARE * 0.6)
    cost = count_step(workload.model, workload.num_classes, workload.image_size,
                      workload.batch_size, workload.precision)
    spent = time.perf_counter() - start
    remaining = max(5.0, budget_s - spent)

    def calib_progress(stage, fraction):
        say(stage, (spent + fraction * remaining) / budget_s)

    cals = calibrate(workload, device, remaining, calib_progress, step_cost=cost)
    notes = list(machine.notes)
    if not workload.data_dir:
        notes.append("calibrated on synthetic tensors (no --data): JPEG decoding is not measured")
    return Profile(
        machine=machine, device=device, device_name=device_label(machine, device),
        microbenchmarks=micro, calibrations=tuple(cals),
        created_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        advisor_version=__version__, notes=tuple(notes),
    )


def add_calibration(profile: Profile, workload: Workload, budget_s: float,
                    progress: Progress | None = None) -> Profile:
    """Calibrate one more workload on the profile's device and return the updated profile."""
    from advisor.opcount import count_step

    check_workload_runs(workload)
    cost = count_step(workload.model, workload.num_classes, workload.image_size,
                      workload.batch_size, workload.precision)
    cals = calibrate(workload, profile.device, budget_s, progress, step_cost=cost)
    return profile.with_calibrations(cals)
