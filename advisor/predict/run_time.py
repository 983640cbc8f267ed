"""A running training's whole wall time, from what watching it saw (pure).

Steady state is the mean interval between optimizer steps inside training passes, after a
warm-up, so the waits for data and any per-step work the script does are in it. Each epoch
adds its pass's start (DataLoader workers starting) and its validation: measured once a whole
validation pass was seen, else estimated from the model's forward time and the wait for data.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import replace

from advisor.model.tracking import Observation, RunPrediction

WARMUP_STEPS = 5  # the first steps of a run (allocator, autotuning, lazy init) are left out
# without a forward timing, a validation batch is taken as a third of a training step
# (backward costs about twice the forward)
EVAL_STEP_SHARE = 1 / 3
BLOCKS = 5  # the window is cut in blocks; their spread gives the band
ESTIMATED_VALIDATION_SPREAD = 0.3  # an estimated validation pass is known to within about 30 %


class NotEnoughSeen(ValueError):
    """Too little of the run was seen to predict it (names what is missing)."""


def predict_run(obs: Observation, *, epochs: float | None = None, total_steps: int | None = None,
                warmup_steps: int = WARMUP_STEPS) -> RunPrediction:
    """The whole run's wall time: what already passed plus the remaining steps, epoch starts
    and validations. `epochs` (with the training loader's length) or `total_steps` says how
    long the run is."""
    train = [p for p in obs.passes if p.training]
    if not obs.step_s:
        raise NotEnoughSeen("no optimizer step yet")
    if not train:
        raise NotEnoughSeen("no training DataLoader pass seen (are batches drawn from a DataLoader?)")
    intervals = _steady_intervals(obs, warmup_steps)
    if len(intervals) < 2:
        raise NotEnoughSeen(f"only {len(obs.step_s)} step(s) seen; at least {warmup_steps + 3} are needed")
    step = sum(intervals) / len(intervals)
    done = len(obs.step_s)
    loader = train[-1]
    steps_per_batch = sum(p.steps for p in train) / max(1, sum(p.batches for p in train))
    per_epoch = None if not loader.length else max(1, round(loader.length * steps_per_batch))
    basis = []
    if total_steps is None:
        if per_epoch is None:
            raise NotEnoughSeen("the run's length: the training DataLoader has no length; give the total steps")
        if epochs is None:
            raise NotEnoughSeen("the run's length: give the epochs")
        total_steps = math.ceil(epochs * per_epoch)
    else:
        epochs = total_steps / per_epoch if per_epoch else None
    total_steps = max(total_steps, done)
    remaining_steps = total_steps - done

    # passes still to start: one per remaining epoch (the current one has started)
    epochs_started = len(train)
    epochs_total = math.ceil(epochs - 1e-9) if epochs else epochs_started
    remaining_epochs = max(0, epochs_total - epochs_started)
    start = _epoch_start(obs, train, step)

    validation, measured, how = _validation(obs, train, step)
    basis.append(how)
    validations_done = sum(1 for p in obs.passes if not p.training and p.ended_s is not None
                           and p.started_s > train[0].started_s)
    remaining_validations = max(0, epochs_total - validations_done) if validation else 0

    remaining = remaining_steps * step + remaining_epochs * start + remaining_validations * validation
    lo_step, hi_step = _band(intervals)
    spread = 0.0 if measured else ESTIMATED_VALIDATION_SPREAD
    low = obs.now_s + remaining_steps * lo_step + remaining_epochs * start \
        + remaining_validations * validation * (1 - spread)
    high = obs.now_s + remaining_steps * hi_step + remaining_epochs * start \
        + remaining_validations * validation * (1 + spread)
    waits = [w for t, w in obs.batch_wait_s if t > _warmup_end(obs, warmup_steps)]
    wait_share = min(1.0, (sum(waits) / len(waits)) / step) if waits and step > 0 else 0.0
    return RunPrediction(
        predicted_seconds=obs.now_s + remaining, seconds_low=low, seconds_high=high,
        elapsed_seconds=obs.now_s, total_steps=total_steps, steps_done=done, steps_per_epoch=per_epoch,
        epochs=epochs, step_seconds=step, data_wait_share=wait_share, epoch_start_seconds=start,
        validation_seconds_per_epoch=validation, validation_measured=measured, batch_size=obs.batch_size,
        input_shape=obs.input_shape, model=obs.model, parameters=obs.parameters, device=obs.device,
        basis=tuple(basis),
    )


def with_measured(prediction: RunPrediction, seconds: float) -> RunPrediction:
    return replace(prediction, measured_seconds=seconds)


def _warmup_end(obs: Observation, warmup_steps: int) -> float:
    return obs.step_s[min(warmup_steps, len(obs.step_s) - 1)]


def _steady_intervals(obs: Observation, warmup_steps: int) -> list[float]:
    """Intervals between consecutive steps of the same training pass, after the warm-up."""
    ends = [(p.started_s, p.ended_s if p.ended_s is not None else math.inf) for p in obs.passes if p.training]
    out = []
    for i in range(max(1, warmup_steps + 1), len(obs.step_s)):
        a, b = obs.step_s[i - 1], obs.step_s[i]
        if any(s <= a and b <= e for s, e in ends) and not any(a < p.started_s < b for p in obs.passes):
            out.append(b - a)
    return out


def _epoch_start(obs: Observation, train, step: float) -> float:
    """A training pass's start beyond one step: from its start to its first step, less a step.
    The first pass is not counted: its first step is the run's warm-up."""
    starts = []
    for p in train[1:]:
        first = next((t for t in obs.step_s if t > p.started_s), None)
        if first is not None:
            starts.append(max(0.0, first - p.started_s - step))
    return statistics.median(starts) if starts else 0.0


def _validation(obs: Observation, train, step: float) -> tuple[float, bool, str]:
    """Seconds of validation per epoch, whether measured, and how it was reached."""
    done = [p for p in obs.passes if not p.training and p.ended_s is not None and p.batches
            and p.started_s > train[0].started_s]
    if done:
        last = done[-1]
        return last.ended_s - last.started_s, True, f"validation measured: {last.batches} batches in " \
            f"{last.ended_s - last.started_s:.1f} s"
    others = {lid: n for lid, n in obs.loader_lengths.items() if lid != train[-1].loader and n}
    if not others:
        return 0.0, True, "no other DataLoader: no validation assumed"
    lid, batches = max(others.items(), key=lambda kv: kv[1])
    waits = [w for _, w in obs.batch_wait_s]
    wait = statistics.median(waits) if waits else 0.0
    if obs.forward_s:
        per_batch = statistics.median(obs.forward_s) + wait
        how = "forward time measured in training plus the wait for data"
    else:
        per_batch = EVAL_STEP_SHARE * step
        how = "a third of a training step (backward costs about twice the forward)"
    return batches * per_batch, False, (f"validation estimated, not yet seen: {batches} batches of the other "
                                        f"DataLoader each epoch, a batch as {how}")


def _band(intervals: list[float]) -> tuple[float, float]:
    """The slowest and fastest block means of the window's steps."""
    n = max(1, len(intervals) // BLOCKS)
    blocks = [intervals[i:i + n] for i in range(0, len(intervals) - n + 1, n)] or [intervals]
    means = [sum(b) / len(b) for b in blocks]
    return min(means), max(means)
