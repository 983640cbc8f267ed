"""Calibration: a short real training of the workload on this machine, timed step by step.

Warm-up steps are timed but kept apart (their excess over a steady step is the first-steps
overhead: cudnn autotuning, allocator warm-up, loader workers starting). Timed steps run until
the median step time is known within about 2 % or the phase's share of the budget is spent.
One last step runs under torch.profiler to split the step time between compute-heavy ops
(convolution, matmul) and memory-bound ops (normalisation, activations, elementwise, optimizer).
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable
from dataclasses import asdict, replace

from advisor.errors import UsageError
from advisor.measure.feed import measure_fed
from advisor.measure.steps import (
    cpu_usage,
    first_run_excess,
    issue_seconds,
    kernel_usage,
    op_split_from_profile,
    quiet_native_stderr,
    time_steps,
    timed,
)
from advisor.model.calibration import Calibration, CalibrationKey
from advisor.model.cost import StepCost
from advisor.model.stats import Samples
from advisor.model.workload import Workload

# the fewest steps each phase times, however short the budget
MIN_TRAIN_STEPS, MIN_EVAL_STEPS, MIN_FROZEN_STEPS = 3, 3, 2
# ...and, where steps are fast, as many as add up to this share of the budget: a window of a
# tenth of a second is too short for the steady state of a fast GPU (docs/method.md)
MIN_PHASE_SHARE = 0.1
WARMUP_TRAIN_STEPS = {"cpu": 2, "cuda": 3}
# steps a GPU sample averages between two synchronisations: the host queues ahead as in training
GPU_WINDOW_STEPS = 10
HOST_ISSUE_STEPS = 5  # GPU: steps whose issuing the host is timed alone (advisor.measure.steps.issue_seconds)
WARMUP_EVAL_STEPS = {"cpu": 1, "cuda": 2}
Progress = Callable[[str, float], None]  # (what is being measured, fraction of the budget used)


def new_shape_sizes(batch: int) -> dict[str, int | None]:
    """Batch sizes at which a calibration times a first step at a new shape (None: none fits).

    "partial": half the batch plus one, as a last partial batch is, of any alignment;
    "aligned": about half, of the full batch's parity (64 -> 32, 50 -> 24, 25 -> 11), standing
    for the full batch's own first step; "eval": a quarter plus one, a shape that training has
    not seen, as a partial validation batch's is.
    """
    if batch < 2:
        return {"partial": None, "aligned": None, "eval": None}
    half = batch // 2
    aligned = half if half % 2 == batch % 2 else half - 1
    evals = batch // 4 + 1
    return {"partial": half + 1 if half + 1 < batch else None,
            "aligned": aligned if aligned >= 1 else None,
            "eval": evals if evals not in (half + 1, aligned) else None}
















def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _least_seconds_after_warmup(budget_s: float, train_step_s: float, eval_step_s: float, kind: str) -> float:
    """What a calibration times after its training warm-up, however short the budget: each timed
    phase (training, eval, frozen) its fewest steps or a tenth of the budget, whichever is
    longer; the half-batch (on a GPU two shapes) and profiled training steps; the eval warm-up
    and the smaller-batch passes (two half-batch steps cost about one full step, a frozen step
    about an eval step)."""
    share = MIN_PHASE_SHARE * budget_s
    phases = (max(MIN_TRAIN_STEPS * train_step_s, share) + max(MIN_EVAL_STEPS * eval_step_s, share)
              + max(MIN_FROZEN_STEPS * eval_step_s, share))
    half_batch = 2 if kind == "cuda" else 1
    return phases + (half_batch + 1) * train_step_s + (WARMUP_EVAL_STEPS[kind] + 1 + 1) * eval_step_s


def expected_calibration_seconds(budget_s: float, train_step_s: float, eval_step_s: float,
                          device: str = "cpu", startup_s: float = 5.0) -> float:
    """How long a calibration will take: its budget, or longer where what it always times
    (warm-up, timed phases, half-batch, frozen and profiled steps) takes longer than that."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    least = WARMUP_TRAIN_STEPS[kind] * train_step_s + _least_seconds_after_warmup(budget_s, train_step_s,
                                                                                 eval_step_s, kind)
    return startup_s + max(budget_s, least)


def remaining_calibration_seconds(budget_s: float, elapsed_s: float, train_step_s: float, eval_step_s: float,
                           device: str = "cpu") -> float:
    """How long a calibration still takes once its warm-up is done, from a steady step's time."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    return max(budget_s - elapsed_s, _least_seconds_after_warmup(budget_s, train_step_s, eval_step_s, kind))


def _expect(progress, seconds_left: float) -> None:
    """Tell a progress display how long measuring still takes, where it listens (an `expect`
    method): the warm-up shows when a calibration will outlast what was announced."""
    expect = getattr(progress, "expect", None)
    if expect is not None:
        expect(max(0.0, seconds_left))


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def calibrate(workload: Workload, device: str, budget_s: float = 60.0,
              progress: Progress | None = None, timer=time.perf_counter,
              step_cost: StepCost | None = None, max_seconds: float | None = None) -> list[Calibration]:
    """Measure the workload's training on `device`; halves the batch on CUDA out-of-memory.

    Returns the synthetic-data calibration and, when the workload reads an ImageFolder, the
    loader-fed one as well (the synthetic steps are measured on the way). With `max_seconds`,
    a calibration whose fewest steps would take longer, judged by its first training step,
    stops there with a usage error saying how long it would take.
    """
    import torch

    batch = workload.batch_size
    notes: list[str] = []
    while True:
        try:
            cals = _calibrate_once(workload.with_(batch_size=batch), device, budget_s, progress, timer,
                                   max_seconds)
            break
        except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:
            if not _is_oom(exc) or batch == 1:
                raise
            notes.append(f"batch {batch} ran out of device memory; retried with {batch // 2}")
            batch //= 2
            torch.cuda.empty_cache()
    if batch != workload.batch_size:
        notes.append(f"largest batch that fitted: {batch} (requested {workload.batch_size})")
    return [replace(c, requested_batch_size=workload.batch_size, step_cost=step_cost,
                    notes=tuple(notes) + c.notes) for c in cals]


# a spot calibration's hard stop, in multiples of its limit: past the limit but not by much
HARD_STOP_SHARE = 1.5


def calibrate_in_fresh_process(workload: Workload, device: str, budget_s: float = 60.0,
                                progress: Progress | None = None,
                                step_cost: StepCost | None = None,
                                max_seconds: float | None = None) -> list[Calibration]:
    """`calibrate` in a new interpreter, which trains as a user's fresh training script does
    (see advisor.measure.isolation); the interpreter's start-up counts against the budget.
    With `max_seconds`, a calibration still running after HARD_STOP_SHARE times that (a first
    step that alone outlasts the limit cannot be judged by it) is stopped, a usage error."""
    from advisor.measure.isolation import run_in_fresh_process

    request = {"workload": asdict(workload), "device": device,
               "deadline_unix_s": time.time() + budget_s, "max_seconds": max_seconds}
    timeout_s = None if max_seconds is None else HARD_STOP_SHARE * max_seconds
    try:
        dicts = run_in_fresh_process("advisor.measure.calibrate:_calibrate_request", request, progress,
                                     timeout_s=timeout_s)
    except TimeoutError:
        raise UsageError(
            f"calibrating {workload.model} {workload.image_size}px batch {workload.batch_size} {workload.precision} "
            f"here was stopped after {_minutes(timeout_s)}, past its {_minutes(max_seconds)} limit; pass "
            "--no-calibrate to scale from the profile instead.", code="calibration-too-long") from None
    return [replace(Calibration.from_dict(d), step_cost=step_cost) for d in dicts]


def _calibrate_request(workload: dict, device: str, deadline_unix_s: float,
                       progress: Progress, max_seconds: float | None = None) -> list[dict]:
    budget_s = max(3.0, deadline_unix_s - time.time())
    return [c.to_dict() for c in calibrate(Workload(**workload), device, budget_s, progress,
                                           max_seconds=max_seconds)]


def _calibrate_once(w: Workload, device: str, budget_s: float, progress: Progress | None,
                    timer, max_seconds: float | None = None) -> list[Calibration]:
    import psutil
    import torch

    from advisor.measure.training import Trainer, synthetic_batch

    t0 = timer()
    say = progress or (lambda stage, fraction: None)
    uses_data = bool(w.data_dir)
    # shares of the budget at which each phase stops adding timed steps
    ends = dict(train=0.45, eval=0.55, frozen=0.62, data=0.95) if uses_data else \
        dict(train=0.70, eval=0.85, frozen=0.97)
    deadline = {k: t0 + v * budget_s for k, v in ends.items()}
    used = lambda: (timer() - t0) / budget_s  # noqa: E731

    process = psutil.Process()
    rss_before = process.memory_info().rss
    cuda = device.startswith("cuda")
    say("building model", used())
    trainer = Trainer(w, device)
    x, y = synthetic_batch(w, device)
    if cuda:  # only once the device holds memory (before, torch has no allocator to reset);
        # the weights, optimizer state and batch stay allocated, so the peak still counts them
        torch.cuda.reset_peak_memory_stats(device)
    sync = trainer.sync
    rss_peak = rss_before

    def step():
        nonlocal rss_peak
        trainer.train_step(x, y)
        if not cuda:
            rss_peak = max(rss_peak, process.memory_info().rss)

    notes: list[str] = []
    say("warm-up training steps", used())
    warm = timed(step, sync, timer, 1)
    if max_seconds is not None:
        # a first step includes set-up, so this errs long; an eval step is about a third of one
        expected = expected_calibration_seconds(budget_s, warm[0], warm[0] / 3, device, startup_s=timer() - t0)
        if expected > max_seconds:
            raise UsageError(
                f"calibrating {w.model} {w.image_size}px batch {w.batch_size} {w.precision} here would "
                f"take about {_minutes(expected)} (its first training step took {warm[0]:.0f} s); "
                "pass --no-calibrate to scale from the profile instead, or measure it once with "
                "`advisor profile` and these options.")
    warm += timed(step, sync, timer, WARMUP_TRAIN_STEPS["cuda" if cuda else "cpu"] - 1)
    # an eval pass takes about a third of a training step
    _expect(progress, remaining_calibration_seconds(budget_s, timer() - t0, warm[-1], warm[-1] / 3, device))
    say("timing training steps", used())
    least = MIN_PHASE_SHARE * budget_s
    usage = None if cuda else cpu_usage()
    window = GPU_WINDOW_STEPS if cuda else 1  # a CPU step ends when its last op does
    first_peak = steady_peak = None
    if cuda:  # the warm-up's peak holds cuDNN's autotuning workspace; the timed steps' is training's own
        first_peak = int(torch.cuda.max_memory_allocated(device))
        torch.cuda.reset_peak_memory_stats(device)
    train = time_steps(step, sync, timer, min_n=MIN_TRAIN_STEPS, max_n=200, deadline=deadline["train"],
                       min_seconds=least, window=window)
    if cuda:
        steady_peak = int(torch.cuda.max_memory_allocated(device))
    kernel_share, faulted = kernel_usage(usage, None if usage is None else cpu_usage(), len(train))
    train_samples = Samples(tuple(train))
    host = Samples(tuple(issue_seconds(step, sync, timer, HOST_ISSUE_STEPS))) if cuda else None

    # a new batch shape (the last partial batch) pays set-up again the first time it runs
    shapes = new_shape_sizes(w.batch_size)
    new_shape = aligned_shape = new_shape_eval = 0.0
    if n := shapes["partial"]:
        new_shape = first_run_excess(lambda: trainer.train_step(x[:n], y[:n]), sync, timer)
    if cuda and (n := shapes["aligned"]):  # a later run's first step (predict.setup.expected_first_steps_seconds)
        aligned_shape = first_run_excess(lambda: trainer.train_step(x[:n], y[:n]), sync, timer)

    say("timing validation passes", used())
    eval_step = lambda: trainer.eval_step(x)  # noqa: E731
    warm_eval = timed(eval_step, sync, timer, WARMUP_EVAL_STEPS["cuda" if cuda else "cpu"])
    evals = time_steps(eval_step, sync, timer, min_n=MIN_EVAL_STEPS, max_n=200, deadline=deadline["eval"],
                       min_seconds=least, window=window)
    if n := shapes["eval"]:
        new_shape_eval = first_run_excess(lambda: trainer.eval_step(x[:n]), sync, timer)

    say("timing frozen-body steps", used())
    trainer.set_frozen(True)
    frozen_first = timed(lambda: trainer.train_step(x, y), sync, timer, 1)[0]
    frozen = time_steps(lambda: trainer.train_step(x, y), sync, timer, min_n=MIN_FROZEN_STEPS, max_n=100,
                        deadline=deadline["frozen"], min_seconds=least, window=window)
    trainer.set_frozen(False)
    frozen_first_overhead = max(0.0, frozen_first - Samples(tuple(frozen)).median)

    fed = None
    if uses_data:
        say("measuring the input pipeline", used())
        fed = measure_fed(trainer, w, device, timer, deadline["data"], train_samples, notes)

    # last, one step under the profiler for the op split: the profiler slows that step (per
    # event, so most where ops are many and small), and afterwards the process is no longer
    # like the user's (freeing the profiler's large buffers raises malloc's mmap threshold,
    # which made later CPU steps up to 12 % faster), so nothing is timed after it. The ops'
    # self times are taken as shares of an unprofiled step.
    activities = [torch.profiler.ProfilerActivity.CPU]
    if cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with quiet_native_stderr(), torch.profiler.profile(activities=activities) as prof:
        step()
        sync()
    split = op_split_from_profile(prof.key_averages(), train_samples.median, use_device_time=cuda)

    peak = kind = None
    if cuda:
        peak, kind = max(first_peak, int(torch.cuda.max_memory_allocated(device))), "cuda allocator peak"
    else:
        peak, kind = int(max(0, rss_peak - rss_before)), "cpu resident growth"

    synthetic = Calibration(
        key=CalibrationKey.of(w.with_(data_dir=None, workers=0), device),
        requested_batch_size=w.batch_size,
        train_step_seconds=train_samples,
        eval_step_seconds=Samples(tuple(evals)),
        frozen_step_seconds=Samples(tuple(frozen)),
        warmup_train_step_seconds=tuple(warm),
        warmup_eval_step_seconds=tuple(warm_eval),
        new_shape_overhead_seconds=new_shape,
        aligned_shape_overhead_seconds=aligned_shape,
        new_shape_eval_overhead_seconds=new_shape_eval,
        frozen_first_step_overhead_seconds=frozen_first_overhead,
        kernel_time_share=kernel_share,
        page_faulted_bytes_per_step=faulted,
        peak_memory_bytes=peak,
        peak_memory_kind=kind,
        steady_peak_memory_bytes=steady_peak,
        op_split=split,
        host_train_step_seconds=host,
        window_steps=window,
        threads=torch.get_num_threads(),
        budget_s=budget_s,
        elapsed_s=timer() - t0,
        measured_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )
    if fed is None:
        return [synthetic]
    fed_cal = replace(
        synthetic, key=CalibrationKey.of(w, device), train_step_seconds=fed["train"],
        eval_step_seconds=fed["eval"], epoch_start_seconds=fed["epoch_start"],
        valid_start_seconds=fed["valid_start"], synthetic_train_step_seconds=train_samples,
        synthetic_eval_step_seconds=Samples(tuple(evals)),
        decode_images_per_s=fed["decode"], loader_images_per_s=fed["loader"],
        elapsed_s=timer() - t0, notes=tuple(notes),
    )
    return [synthetic, fed_cal]
