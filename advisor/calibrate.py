"""Calibration: a short real training of the workload on this machine, timed step by step.

Warm-up steps are timed but kept apart (their excess over a steady step is the first-steps
overhead: cudnn autotuning, allocator warm-up, loader workers starting). Timed steps run until
the median step time is known within about 2 % or the phase's share of the budget is spent.
One last step runs under torch.profiler to split the step time between compute-heavy ops
(convolution, matmul) and memory-bound ops (normalisation, activations, elementwise, optimizer).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from advisor.errors import UsageError
from advisor.opcount import COMPUTE_OPS, StepCost
from advisor.stats import Samples
from advisor.training import PREFETCH_FACTOR
from advisor.workload import Workload

TARGET_RELATIVE_ERROR = 0.02
# Loader-fed steps vary more than synthetic ones (workers and training share the cores): the
# median of five could be 10 % off on a 2-core machine, so they stop early only after ten.
FED_MIN_SAMPLES_FOR_EARLY_STOP = 10
# the fewest steps each phase times, however short the budget
MIN_TRAIN_STEPS, MIN_EVAL_STEPS, MIN_FROZEN_STEPS = 3, 3, 2
# ...and, where steps are fast, as many as add up to this share of the budget. On an H200 the
# cold first step (kernel loading, cuDNN autotuning: 2-21 s) used up 10-s budgets, leaving 3
# timed steps of 20-60 ms each; on an H100, ten steps of resnet18 amp-fp16 (0.1 s) timed
# 9.6 ms where training ran about 15 ms, and one process's blocks of 25 steps took 11.3-15.5 ms
# each over 4 s: a tenth of a second is too short a window for the steady state
MIN_PHASE_SHARE = 0.1
WARMUP_TRAIN_STEPS = {"cpu": 2, "cuda": 3}
WARMUP_EVAL_STEPS = {"cpu": 1, "cuda": 2}
Progress = Callable[[str, float], None]  # (what is being measured, fraction of the budget used)


# A CPU's first step is one sample, and the first process to run a workload (a calibration is
# one) pays most of it: the same calibration (mobilenet_v3_large, 160 px, batch 256, 2-core VM)
# measured it 0.6, 1.0, 1.2, 1.4, 6.7 and 6.9 s over a steady step; three fresh processes in a
# row, 3.5, 0 and 1.0 s; the training runs after its calibrations paid from none to about 0.6x
# of it, and counted in full it put them 5.8-19.9 % long in seven accuracy suites. A run is expected to
# pay this share of it, the band reaching from none to all of it.
CPU_FIRST_STEP_EXPECTED_FACTOR = 0.5
# the loader alone delivers a batch in under this share of a fed step: its workers run ahead
LOADER_AHEAD = 0.8

# The set-up of a training run on a GPU after a calibration, as a multiple of the calibration's
# new-shape step: 0.7-1.15x over 10 CNN workloads on an H200 (the upper end is inside the cold bound).
WARM_SETUP_LOW_FACTOR = 0.7
# the first step of a run with hardly any convolutions to autotune (vit_b_16 on an H200: 0.9 s)
GPU_FIRST_STEP_FLOOR_S = 1.0


@dataclass(frozen=True)
class CalibrationKey:
    """What a calibration measured; a workload that matches it needs no scaling."""

    model: str
    num_classes: int
    image_size: int
    batch_size: int
    precision: str
    device: str
    data_source: str  # "synthetic" or "imagefolder"
    workers: int
    channels_last: bool = False  # profiles written before the option measured NCHW

    def describe(self) -> str:
        """`resnet34 224px batch 64 fp32`, with the layout and data where they are not the default."""
        return (f"{self.model} {self.image_size}px batch {self.batch_size} {self.precision}"
                + (" nhwc" if self.channels_last else "")
                + (f" {self.data_source}/{self.workers}w" if self.data_source != "synthetic" else ""))

    @classmethod
    def of(cls, workload: Workload, device: str) -> CalibrationKey:
        return cls(workload.model, workload.num_classes, workload.image_size, workload.batch_size,
                   workload.precision, device, workload.data_source,
                   workload.workers if workload.data_dir else 0, workload.channels_last)


@dataclass(frozen=True)
class Calibration:
    key: CalibrationKey
    requested_batch_size: int
    train_step_seconds: Samples  # full-batch training steps after warm-up
    eval_step_seconds: Samples  # full-batch forward passes, eval mode, no grad
    frozen_step_seconds: Samples  # training steps with only the classifier head trainable
    warmup_train_step_seconds: tuple[float, ...]
    warmup_eval_step_seconds: tuple[float, ...]
    # first step at a new batch shape (a last partial batch): cudnn autotuning on a GPU, oneDNN
    # primitive creation on a CPU; training and validation have their own
    new_shape_overhead_seconds: float = 0.0
    new_shape_eval_overhead_seconds: float = 0.0
    # GPU: first step at a new shape aligned like the full batch (new_shape_sizes), with the
    # kernels loaded: what the first step of a training run after the calibration pays
    aligned_shape_overhead_seconds: float = 0.0
    frozen_first_step_overhead_seconds: float = 0.0  # autograd's smaller graph, first time
    # CPU on Linux: the kernel's share of the CPU time of the timed training steps, and the memory
    # its page faults mapped a step (glibc gives each tensor over 32 MB fresh pages; see
    # estimate.kernel_time_note); None where not measured (a GPU, another OS)
    kernel_time_share: float | None = None
    page_faulted_bytes_per_step: float | None = None
    epoch_start_seconds: float = 0.0  # train loader: iterator start beyond a steady step
    valid_start_seconds: float = 0.0  # validation loader, likewise
    synthetic_train_step_seconds: Samples | None = None  # same model without the loader
    synthetic_eval_step_seconds: Samples | None = None
    decode_images_per_s: Samples | None = None  # one process: decode + augment
    loader_images_per_s: Samples | None = None  # the DataLoader with its workers, no training
    peak_memory_bytes: int | None = None
    peak_memory_kind: str = ""  # "cuda allocator peak" or "cpu resident growth"
    op_split: dict[str, float] = field(default_factory=dict)  # share of a step's wall time
    step_cost: StepCost | None = None
    threads: int = 1
    budget_s: float = 0.0
    elapsed_s: float = 0.0
    measured_at: str = ""
    notes: tuple[str, ...] = ()

    @property
    def first_steps_overhead_seconds(self) -> float:
        """Warm-up time beyond what the same number of steady steps would take."""
        train = sum(self.warmup_train_step_seconds) - len(self.warmup_train_step_seconds) * self.train_step_seconds.median
        evals = sum(self.warmup_eval_step_seconds) - len(self.warmup_eval_step_seconds) * self.eval_step_seconds.median
        return max(0.0, train) + max(0.0, evals)

    @property
    def expected_first_steps_overhead_seconds(self) -> float:
        """The warm-up that a training run started after this calibration pays.

        On a GPU the calibration's first step is the first on the machine to load the model's
        kernels from the CUDA libraries; a run after it finds them loaded (page cache, the
        driver's JIT cache) and pays mostly cuDNN's autotuning, which the first step at a new
        batch shape measures. The shape's alignment matters: on an H100, in a fresh process
        with the kernels loaded, the first full-batch step of resnet34 fp32 b64 and resnet18
        amp-fp16 b128 took 2.25 and 2.04 s over a steady step, a first step at half the batch
        (32, 64) 2.20 and 1.93 s, at half plus one (33, 65) 2.63 and 3.02 s. So the aligned
        half batch stands for the run's first step; the odd one, for a partial last batch.
        Calibrations made before the aligned shape was measured use the odd one (on an H200,
        10 CNN workloads, most with a partial validation batch: runs' set-up 0.7-1.15x of it;
        on an H100, 7 whole-batch runs: 0.55-0.68x). A CPU's first step (oneDNN primitives,
        first-touch memory) recurs in every process, but the first process to run a workload
        pays most: half of it is expected (CPU_FIRST_STEP_EXPECTED_FACTOR).
        """
        return self.first_steps_overhead_range_seconds[1]

    @property
    def first_steps_overhead_range_seconds(self) -> tuple[float, float, float]:
        """(least, expected, most) warm-up of a training run: on a GPU from 0.7x the warm
        estimate to the cold first step (see expected_first_steps_overhead_seconds); on a CPU
        from none to the measured first step (CPU_FIRST_STEP_EXPECTED_FACTOR)."""
        cold = self.first_steps_overhead_seconds
        if self.key.device == "cpu":
            return 0.0, CPU_FIRST_STEP_EXPECTED_FACTOR * cold, cold
        if not self.key.device.startswith("cuda") or self.new_shape_overhead_seconds <= 0:
            return cold, cold, cold
        # a first step's own floor (context, handles) shows where there is little to autotune
        proxy = self.aligned_shape_overhead_seconds or self.new_shape_overhead_seconds
        warm = min(cold, max(proxy, GPU_FIRST_STEP_FLOOR_S))
        return WARM_SETUP_LOW_FACTOR * warm, warm, cold

    def prefetched_batches(self, phase: str) -> int:
        """Batches of an epoch's "train" or "eval" phase that the loader's workers have decoded
        before the model reaches them: the phase's last ones, which run at the model's own
        speed (on a 2-core VM with 1 and 2 workers, the last 2 and 4 training steps took the
        synthetic 0.11 s, the others 0.18 s). None where the workers are the bottleneck: they
        finish each batch just as it is needed."""
        fed = self.train_step_seconds if phase == "train" else self.eval_step_seconds
        if not self.key.workers or self.loader_images_per_s is None:
            return 0
        loader_batch_s = self.key.batch_size / self.loader_images_per_s.median
        return PREFETCH_FACTOR * self.key.workers if loader_batch_s < LOADER_AHEAD * fed.median else 0

    @property
    def train_images_per_s(self) -> float:
        return self.key.batch_size / self.train_step_seconds.median

    @property
    def eval_images_per_s(self) -> float:
        return self.key.batch_size / self.eval_step_seconds.median

    @property
    def fitted_smaller_batch(self) -> bool:
        return self.key.batch_size < self.requested_batch_size

    def to_dict(self) -> dict:
        d = {}
        for name, value in self.__dict__.items():
            if isinstance(value, Samples):
                d[name] = {"values": value.to_list(), "median": value.median}
            elif isinstance(value, StepCost):
                d[name] = value.to_dict()
            elif name == "key":
                d[name] = asdict(value)
            else:
                d[name] = value
        d["first_steps_overhead_seconds"] = self.first_steps_overhead_seconds
        d["train_images_per_s"] = self.train_images_per_s
        d["eval_images_per_s"] = self.eval_images_per_s
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        kwargs = {}
        for name in cls.__dataclass_fields__:
            if name not in d:
                continue
            value = d[name]
            if name == "key":
                value = CalibrationKey(**value)
            elif name.endswith(("_step_seconds", "_images_per_s")) and isinstance(value, dict):  # Samples
                value = Samples(tuple(value["values"]))
            elif name.startswith("warmup_") or name == "notes":
                value = tuple(value)
            elif name == "step_cost" and value is not None:
                value = StepCost.from_dict(value)
            kwargs[name] = value
        return cls(**kwargs)


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


def _timed(step: Callable[[], None], sync: Callable[[], None], timer, n: int) -> list[float]:
    """Seconds of each of `n` runs of `step`, synchronised."""
    times = []
    for _ in range(n):
        start = timer()
        step()
        sync()
        times.append(timer() - start)
    return times


def _cpu_usage() -> tuple[float, float, float] | None:
    """(user seconds, system seconds, bytes mapped by minor page faults) of this process so far;
    None off Linux, where the glibc advice this feeds does not apply."""
    if not sys.platform.startswith("linux"):
        return None
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, float(r.ru_minflt * resource.getpagesize())


def kernel_usage_impl(before: tuple[float, float, float] | None, after: tuple[float, float, float] | None,
                      steps: int) -> tuple[float | None, float | None]:
    """(the kernel's share of the CPU time between two `_cpu_usage` readings, page-faulted
    bytes per step); (None, None) where either reading is missing or no CPU time passed."""
    if before is None or after is None or steps <= 0:
        return None, None
    user, system, faulted = (b - a for a, b in zip(before, after))
    if user + system <= 0:
        return None, None
    return system / (user + system), faulted / steps


def _first_run_excess(step: Callable[[], None], sync: Callable[[], None], timer) -> float:
    """How much longer `step` took the first time (at a new batch shape) than the second."""
    first, second = _timed(step, sync, timer, 2)
    return max(0.0, first - second)


def _time_steps(step: Callable[[], None], sync: Callable[[], None], timer, *, min_n: int,
                max_n: int, deadline: float, min_seconds: float = 0.0) -> list[float]:
    """Timed steps until the deadline, or earlier once the median is known within about 2 % from
    ten samples spread over at least half of the time the phase has and over `min_seconds`. Past
    the deadline, still `min_n` steps, and more until the steps timed add up to `min_seconds` (at
    most `max_n`).

    Why the spread: a shared machine's speed changes in bursts of seconds, so steps timed close
    together agree with each other more than with the rest of a run. With early stops after five
    steps, the same workload's prediction moved by up to 17 % between calibrations on a 2-core
    VM while its measured training time moved by 5 %.
    """
    times: list[float] = []
    first = timer()
    while len(times) < max_n:
        start = timer()
        step()
        sync()
        times.append(timer() - start)
        if len(times) >= min_n:
            now = timer()
            if now >= deadline and sum(times) >= min_seconds:
                break
            if (len(times) >= 10 and now - first >= 0.5 * (deadline - first) and sum(times) >= min_seconds
                    and Samples(tuple(times)).standard_error_of_median < TARGET_RELATIVE_ERROR):
                break
    return times


def op_split_from_profile(events, step_seconds: float, use_device_time: bool) -> dict[str, float]:
    """Shares of a step's wall time: compute-heavy ops, memory-bound ops, and the rest.

    `events` are torch.profiler key averages; self time is used so nothing is counted twice.
    "other" is what no aten op accounts for: Python, dispatch, kernel-launch gaps.
    """
    compute = memory = 0.0
    for e in events:
        name = e.key
        if not name.startswith("aten::"):
            continue
        us = e.self_device_time_total if use_device_time else e.self_cpu_time_total
        if name[len("aten::"):] in COMPUTE_OPS or "conv" in name or name.endswith(("::mm", "::addmm", "::bmm")):
            compute += us
        else:
            memory += us
    total = step_seconds * 1e6
    if total <= 0:
        return {}
    compute, memory = compute / total, memory / total
    scale = max(1.0, compute + memory)  # profiler overhead can push the sum past the wall time
    compute, memory = compute / scale, memory / scale
    return {"compute": round(compute, 4), "memory": round(memory, 4),
            "other": round(max(0.0, 1 - compute - memory), 4)}


@contextlib.contextmanager
def _quiet_native_stderr():
    """torch.profiler's native layer (Kineto) prints start/stop lines on fd 2; silence them."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no real fd 2 (some embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


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


def expected_seconds_impl(budget_s: float, train_step_s: float, eval_step_s: float,
                          device: str = "cpu", startup_s: float = 5.0) -> float:
    """How long a calibration will take: its budget, or longer where what it always times
    (warm-up, timed phases, half-batch, frozen and profiled steps) takes longer than that."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    least = WARMUP_TRAIN_STEPS[kind] * train_step_s + _least_seconds_after_warmup(budget_s, train_step_s,
                                                                                 eval_step_s, kind)
    return startup_s + max(budget_s, least)


def remaining_seconds_impl(budget_s: float, elapsed_s: float, train_step_s: float, eval_step_s: float,
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


def calibrate_in_fresh_process(workload: Workload, device: str, budget_s: float = 60.0,
                                progress: Progress | None = None,
                                step_cost: StepCost | None = None,
                                max_seconds: float | None = None) -> list[Calibration]:
    """`calibrate` in a new interpreter, which trains as a user's fresh training script does
    (see advisor.isolation); the interpreter's start-up counts against the budget."""
    from advisor.isolation import run_in_fresh_process

    request = {"workload": asdict(workload), "device": device,
               "deadline_unix_s": time.time() + budget_s, "max_seconds": max_seconds}
    dicts = run_in_fresh_process("advisor.calibrate:_calibrate_request", request, progress)
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

    from advisor.training import Trainer, synthetic_batch

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
    warm = _timed(step, sync, timer, 1)
    if max_seconds is not None:
        # a first step includes set-up, so this errs long; an eval step is about a third of one
        expected = expected_seconds_impl(budget_s, warm[0], warm[0] / 3, device, startup_s=timer() - t0)
        if expected > max_seconds:
            raise UsageError(
                f"calibrating {w.model} {w.image_size}px batch {w.batch_size} {w.precision} here would "
                f"take about {_minutes(expected)} (its first training step took {warm[0]:.0f} s); "
                "pass --no-calibrate to scale from the profile instead, or measure it once with "
                "`advisor profile` and these options.")
    warm += _timed(step, sync, timer, WARMUP_TRAIN_STEPS["cuda" if cuda else "cpu"] - 1)
    # an eval pass takes about a third of a training step
    _expect(progress, remaining_seconds_impl(budget_s, timer() - t0, warm[-1], warm[-1] / 3, device))
    say("timing training steps", used())
    least = MIN_PHASE_SHARE * budget_s
    usage = None if cuda else _cpu_usage()
    train = _time_steps(step, sync, timer, min_n=MIN_TRAIN_STEPS, max_n=200, deadline=deadline["train"],
                        min_seconds=least)
    kernel_share, faulted = kernel_usage_impl(usage, None if usage is None else _cpu_usage(), len(train))
    train_samples = Samples(tuple(train))

    # a new batch shape (the last partial batch) pays set-up again the first time it runs
    shapes = new_shape_sizes(w.batch_size)
    new_shape = aligned_shape = new_shape_eval = 0.0
    if n := shapes["partial"]:
        new_shape = _first_run_excess(lambda: trainer.train_step(x[:n], y[:n]), sync, timer)
    if cuda and (n := shapes["aligned"]):  # a later run's first step (expected_first_steps_overhead_seconds)
        aligned_shape = _first_run_excess(lambda: trainer.train_step(x[:n], y[:n]), sync, timer)

    say("timing validation passes", used())
    eval_step = lambda: trainer.eval_step(x)  # noqa: E731
    warm_eval = _timed(eval_step, sync, timer, WARMUP_EVAL_STEPS["cuda" if cuda else "cpu"])
    evals = _time_steps(eval_step, sync, timer, min_n=MIN_EVAL_STEPS, max_n=200, deadline=deadline["eval"],
                        min_seconds=least)
    if n := shapes["eval"]:
        new_shape_eval = _first_run_excess(lambda: trainer.eval_step(x[:n]), sync, timer)

    say("timing frozen-body steps", used())
    trainer.set_frozen(True)
    frozen_first = _timed(lambda: trainer.train_step(x, y), sync, timer, 1)[0]
    frozen = _time_steps(lambda: trainer.train_step(x, y), sync, timer, min_n=MIN_FROZEN_STEPS, max_n=100,
                         deadline=deadline["frozen"], min_seconds=least)
    trainer.set_frozen(False)
    frozen_first_overhead = max(0.0, frozen_first - Samples(tuple(frozen)).median)

    fed = None
    if uses_data:
        say("measuring the input pipeline", used())
        fed = _measure_fed(trainer, w, device, timer, deadline["data"], train_samples, notes)

    # last, one step under the profiler for the op split: the profiler slows that step (per
    # event, so most where ops are many and small), and afterwards the process is no longer
    # like the user's (freeing the profiler's large buffers raises malloc's mmap threshold,
    # which made later CPU steps up to 12 % faster), so nothing is timed after it. The ops'
    # self times are taken as shares of an unprofiled step.
    activities = [torch.profiler.ProfilerActivity.CPU]
    if cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with _quiet_native_stderr(), torch.profiler.profile(activities=activities) as prof:
        step()
        sync()
    split = op_split_from_profile(prof.key_averages(), train_samples.median, use_device_time=cuda)

    peak = kind = None
    if cuda:
        peak, kind = int(torch.cuda.max_memory_allocated(device)), "cuda allocator peak"
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
        op_split=split,
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


def _measure_fed(trainer, w: Workload, device: str, timer, deadline: float, synthetic: Samples,
                 notes: list[str]) -> dict:
    """Training and validation steps fed by the real DataLoader with `w.workers` workers.

    On a machine with few cores the loader's workers compete with the training threads, so the
    fed step is measured, not derived from the decode rate and the synthetic step.
    """
    from advisor.training import image_datasets, make_loader

    # enough batches in both splits that the loaders never run dry while measuring (whatever the
    # workload's validation fraction), and no more: every index is a Python object each forked
    # worker shares with this process
    big = w.with_(dataset_size=512 * w.batch_size, valid_fraction=0.5)
    train_ds, valid_ds = image_datasets(big)
    sync = trainer.sync

    # decode + augment throughput of one process, no training
    decode_times = []
    n_images = max(8, min(64, w.batch_size))
    for rep in range(3):
        start = timer()
        for i in range(n_images):
            train_ds[rep * n_images + i]
        decode_times.append(n_images / (timer() - start))

    def fed_phase(loader, step, min_n, phase_deadline):
        it = iter(loader)
        start = timer()
        first = next(it)  # worker start + first batch
        step(first)
        sync()
        first_s = timer() - start
        times = []
        while len(times) < 100:
            start = timer()
            batch = next(it)
            step(batch)
            sync()
            times.append(timer() - start)
            if len(times) >= min_n and (timer() >= phase_deadline or (
                    len(times) >= FED_MIN_SAMPLES_FOR_EARLY_STOP
                    and Samples(tuple(times)).standard_error_of_median < TARGET_RELATIVE_ERROR)):
                break
        del it  # shuts the workers down
        return first_s, times

    # the loader alone, with its workers: what it can deliver to a fast accelerator
    train_loader = make_loader(train_ds, big, device, shuffle=True)
    it = iter(train_loader)
    next(it)  # worker start
    loader_rates = []
    for _ in range(max(4, 2 * w.workers)):
        start = timer()
        batch = next(it)
        loader_rates.append(len(batch[0]) / (timer() - start))
    del it

    now = timer()
    train_deadline = now + 0.7 * (deadline - now)
    first_train, train = fed_phase(train_loader, lambda b: trainer.train_step(b[0], b[1]), 3, train_deadline)
    valid_loader = make_loader(valid_ds, big, device, shuffle=False)
    first_valid, evals = fed_phase(valid_loader, lambda b: trainer.eval_step(b[0]), 3, deadline)
    train_s, eval_s = Samples(tuple(train)), Samples(tuple(evals))
    if train_s.median > 1.15 * synthetic.median:
        notes.append(
            f"the input pipeline slows training: {w.batch_size / train_s.median:.1f} images/s fed "
            f"by {w.workers} worker(s) against {w.batch_size / synthetic.median:.1f} on synthetic data"
        )
    return dict(train=train_s, eval=eval_s,
                epoch_start=max(0.0, first_train - train_s.median),
                valid_start=max(0.0, first_valid - eval_s.median),
                decode=Samples(tuple(decode_times)), loader=Samples(tuple(loader_rates)))
