"""Timing training steps as they run: windows of steps, the first run at a new shape, the CPU time
the kernel took, and the profiler's split of a step between op classes."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable

from advisor.model.cost import COMPUTE_OPS
from advisor.model.stats import Samples

TARGET_RELATIVE_ERROR = 0.02


def timed(step: Callable[[], None], sync: Callable[[], None], timer, n: int) -> list[float]:
    """Seconds of each of `n` runs of `step`, synchronised."""
    times = []
    for _ in range(n):
        start = timer()
        step()
        sync()
        times.append(timer() - start)
    return times


def issue_seconds(step: Callable[[], None], sync: Callable[[], None], timer, n: int) -> list[float]:
    """The host's time to issue `step`, `n` times: from an idle device (synchronised) until the
    step's call returns, before its kernels finish. On a GPU this is the host's side of a step
    (Python, autograd, dispatch, launches); where the device's queue of launches fills, or the
    step synchronises (GradScaler's check of fp16 gradients), the host waits for the device and
    the time reaches the device's."""
    times = []
    for _ in range(n):
        sync()
        start = timer()
        step()
        times.append(timer() - start)
        sync()
    return times


def cpu_usage() -> tuple[float, float, float] | None:
    """(user seconds, system seconds, bytes mapped by minor page faults) of this process so far;
    None off Linux, where the glibc advice this feeds does not apply."""
    if not sys.platform.startswith("linux"):
        return None
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, float(r.ru_minflt * resource.getpagesize())


def kernel_usage(before: tuple[float, float, float] | None, after: tuple[float, float, float] | None,
                      steps: int) -> tuple[float | None, float | None]:
    """(the kernel's share of the CPU time between two `cpu_usage` readings, page-faulted
    bytes per step); (None, None) where either reading is missing or no CPU time passed."""
    if before is None or after is None or steps <= 0:
        return None, None
    user, system, faulted = (b - a for a, b in zip(before, after))
    if user + system <= 0:
        return None, None
    return system / (user + system), faulted / steps


def first_run_excess(step: Callable[[], None], sync: Callable[[], None], timer) -> float:
    """How much longer `step` took the first time (at a new batch shape) than the second."""
    first, second = timed(step, sync, timer, 2)
    return max(0.0, first - second)


def time_steps(step: Callable[[], None], sync: Callable[[], None], timer, *, min_n: int,
               max_n: int, deadline: float, min_seconds: float = 0.0, window: int = 1) -> list[float]:
    """Timed steps until the deadline, or earlier once the median is known within about 2 % from
    ten samples spread over at least half of the time the phase has and over `min_seconds`. Past
    the deadline, still `min_n` samples, and more until the steps timed add up to `min_seconds`
    (at most `max_n` samples).

    Each sample is the mean step of a window of `window` steps between two synchronisations, as
    training runs them: on a GPU the host queues the next step's kernels while the device runs
    this one's, and a synchronisation after every step would add the host's time to the device's.

    Why the spread: a shared machine's speed changes in bursts of seconds, so steps timed close
    together agree with each other more than with the rest of a run.
    """
    times: list[float] = []
    first = timer()
    while len(times) < max_n:
        start = timer()
        for _ in range(window):
            step()
        sync()
        times.append((timer() - start) / window)
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
def quiet_native_stderr():
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
