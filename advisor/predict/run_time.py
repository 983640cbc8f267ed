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

from advisor.model.estimate import Estimate
from advisor.model.notes import info
from advisor.model.tracking import Observation, RunPrediction
from advisor.model.workload import Workload

WARMUP_STEPS = 5  # the first steps of a run (allocator, autotuning, lazy init) are left out
# without a forward timing, a validation batch is taken as a third of a training step
# (backward costs about twice the forward)
EVAL_STEP_SHARE = 1 / 3
BLOCKS = 5  # the window is cut in blocks; their spread gives the band
ESTIMATED_VALIDATION_SPREAD = 0.3  # an estimated validation pass is known to within about 30 %


class NotEnoughSeen(ValueError):
    """Too little of the run was seen to predict it (names what is missing)."""


def predict_run(obs: Observation, *, epochs: float | None = None, total_steps: int | None = None,
                warmup_steps: int = WARMUP_STEPS, frozen_epochs: float = 0.0,
                unfrozen_ratio: float | None = None) -> RunPrediction:
    """The whole run's wall time: what already passed plus the remaining steps, epoch starts
    and validations. `epochs` (with the training loader's length) or `total_steps` says how
    long the run is. `frozen_epochs` of them train with a frozen body (fastai's fine_tune);
    until an unfrozen step is seen, those run `unfrozen_ratio` times a frozen one."""
    train = [p for p in obs.passes if p.training]
    if not obs.step_s:
        raise NotEnoughSeen("no optimizer step yet")
    if not train:
        raise NotEnoughSeen("no training DataLoader pass seen (are batches drawn from a DataLoader?)")
    intervals = _steady_intervals(obs, warmup_steps)
    if len(intervals) < 2:
        raise NotEnoughSeen(f"only {len(obs.step_s)} step(s) seen; at least {warmup_steps + 3} are needed")
    basis = []
    frozen_iv = [t for t, frozen in intervals if frozen]
    unfrozen_iv = [t for t, frozen in intervals if not frozen]
    if obs.step_frozen and not obs.step_frozen[-1] and len(unfrozen_iv) < 2:
        raise NotEnoughSeen("the first steps after unfreezing are still warming up")
    if len(unfrozen_iv) >= 2:
        step = sum(unfrozen_iv) / len(unfrozen_iv)
        window = unfrozen_iv
    else:
        ratio = unfrozen_ratio or 1.0
        step = ratio * sum(frozen_iv) / len(frozen_iv)
        window = [ratio * t for t in frozen_iv]
        basis.append(f"unfrozen steps not seen yet: {ratio:.2f}x a frozen one"
                     + (" (the counted work's ratio)" if unfrozen_ratio else " (assumed)"))
    frozen_step = sum(frozen_iv) / len(frozen_iv) if frozen_iv else step
    done = len(obs.step_s)
    frozen_done = sum(1 for f in obs.step_frozen if f)
    loader = train[-1]
    steps_per_batch = sum(p.steps for p in train) / max(1, sum(p.batches for p in train))
    length = obs.train_batches_per_epoch or loader.length
    per_epoch = None if not length else max(1, round(length * steps_per_batch))
    if total_steps is None:
        if per_epoch is None:
            raise NotEnoughSeen("the run's length: the training DataLoader has no length; give the total steps")
        if epochs is None:
            raise NotEnoughSeen("the run's length: give the epochs")
        total_steps = math.ceil(epochs * per_epoch)
    else:
        epochs = total_steps / per_epoch if per_epoch else None
    total_steps = max(total_steps, done)
    frozen_left = max(0, math.ceil(frozen_epochs * (per_epoch or 0)) - frozen_done)
    remaining_steps = total_steps - done
    steps_left = frozen_left * frozen_step + max(0, remaining_steps - frozen_left) * step

    # passes still to start: one per remaining epoch (the current one has started)
    epochs_started = len(train)
    epochs_total = math.ceil(epochs - 1e-9) if epochs else epochs_started
    remaining_epochs = max(0, epochs_total - epochs_started)
    start = _epoch_start(obs, train, step)

    validation, batches, valid_batch, measured, how = _validation(obs, train, step)
    basis.append(how)
    validations_done = sum(1 for p in obs.passes if not p.training and p.ended_s is not None
                           and p.started_s > train[0].started_s)
    remaining_validations = max(0, epochs_total - validations_done) if validation else 0

    fixed = remaining_epochs * start
    remaining = steps_left + fixed + remaining_validations * validation
    lo_step, hi_step = _band(window)
    spread = 0.0 if measured else ESTIMATED_VALIDATION_SPREAD
    low = obs.now_s + steps_left * lo_step / step + fixed + remaining_validations * validation * (1 - spread)
    high = obs.now_s + steps_left * hi_step / step + fixed + remaining_validations * validation * (1 + spread)
    waits = [w for t, w in obs.batch_wait_s if t > _warmup_end(obs, warmup_steps)]
    wait_share = min(1.0, (sum(waits) / len(waits)) / step) if waits and step > 0 else 0.0
    return RunPrediction(
        predicted_seconds=obs.now_s + remaining, seconds_low=low, seconds_high=high,
        elapsed_seconds=obs.now_s, total_steps=total_steps, steps_done=done, steps_per_epoch=per_epoch,
        epochs=epochs, step_seconds=step, data_wait_share=wait_share, epoch_start_seconds=start,
        validation_seconds_per_epoch=validation, validation_batches=batches, validation_batch_size=valid_batch,
        validation_measured=measured,
        batch_size=obs.batch_size,
        input_shape=obs.input_shape, model=obs.model, parameters=obs.parameters, device=obs.device,
        precision=obs.precision, basis=tuple(basis),
    )


def with_measured(prediction: RunPrediction, seconds: float) -> RunPrediction:
    return replace(prediction, measured_seconds=seconds)


def _warmup_end(obs: Observation, warmup_steps: int) -> float:
    return obs.step_s[min(warmup_steps, len(obs.step_s) - 1)]


def _steady_intervals(obs: Observation, warmup_steps: int) -> list[tuple[float, bool]]:
    """(interval, frozen) between consecutive steps of the same training pass and phase, after
    the warm-up, and after a phase change's own warm-up (the first steps after unfreezing)."""
    ends = [(p.started_s, p.ended_s if p.ended_s is not None else math.inf) for p in obs.passes if p.training]
    frozen = obs.step_frozen or (False,) * len(obs.step_s)
    out, since_change = [], warmup_steps
    for i in range(1, len(obs.step_s)):
        since_change = since_change + 1 if frozen[i] == frozen[i - 1] else 0
        if i <= warmup_steps or since_change < 2:
            continue
        a, b = obs.step_s[i - 1], obs.step_s[i]
        if any(s <= a and b <= e for s, e in ends) and not any(a < p.started_s < b for p in obs.passes):
            out.append((b - a, frozen[i]))
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


def _validation(obs: Observation, train, step: float) -> tuple[float, int, int | None, bool, str]:
    """Seconds of validation per epoch, its batches, their size where the loader says, whether
    measured, and how it was reached."""
    done = [p for p in obs.passes if not p.training and p.ended_s is not None and p.batches
            and p.started_s > train[0].started_s]
    if done:
        last = done[-1]
        seconds = last.ended_s - last.started_s
        return (seconds, last.batches, obs.loader_batch_sizes.get(last.loader), True,
                f"validation measured: {last.batches} batches in {seconds:.1f} s")
    others = {lid: n for lid, n in obs.loader_lengths.items() if lid != train[-1].loader and n}
    if not others:
        return 0.0, 0, None, True, "no other DataLoader: no validation assumed"
    loader = max(others, key=others.get)
    batches = others[loader]
    size = obs.loader_batch_sizes.get(loader)
    # a validation batch of another size than training's: its forward in proportion
    per_image = size / obs.batch_size if size and obs.batch_size else 1.0
    waits = [w for _, w in obs.batch_wait_s]
    wait = statistics.median(waits) if waits else 0.0
    if obs.forward_s:
        per_batch = statistics.median(obs.forward_s) * per_image + wait
        how = "forward time measured in training plus the wait for data"
    else:
        per_batch = EVAL_STEP_SHARE * step * per_image
        how = "a third of a training step (backward costs about twice the forward)"
    if per_image != 1.0:
        how += f", for {size} images instead of {obs.batch_size}"
    return batches * per_batch, batches, size, False, (f"validation estimated, not yet seen: {batches} batches of "
                                                       f"the other DataLoader each epoch, a batch as {how}")


def _band(intervals: list[float]) -> tuple[float, float]:
    """The slowest and fastest block means of the window's steps."""
    n = max(1, len(intervals) // BLOCKS)
    blocks = [intervals[i:i + n] for i in range(0, len(intervals) - n + 1, n)] or [intervals]
    means = [sum(b) / len(b) for b in blocks]
    return min(means), max(means)


DATA_BOUND_SHARE = 0.15  # a step waiting this much of its time for data is bound by the loader


def run_workload(p: RunPrediction, num_classes: int = 2) -> Workload:
    """The watched run as a Workload, for predicting it elsewhere: its batch, image size and
    precision, and as many images and epochs as it trains and validates."""
    b = p.batch_size or 1
    vb = p.validation_batch_size or b
    train = (p.steps_per_epoch or p.total_steps) * b
    valid = p.validation_batches * vb
    size = p.input_shape[-1] if p.input_shape else 224
    return Workload(model=p.model or "watched", num_classes=max(2, num_classes), image_size=size, batch_size=b,
                    valid_batch_size=vb if vb != b else None,
                    precision=p.precision, dataset_size=train + valid, valid_fraction=valid / (train + valid),
                    epochs=max(1, math.ceil(p.epochs or p.total_steps / max(1, p.steps_per_epoch or p.total_steps))))


def run_estimate(p: RunPrediction, workload: Workload, accelerator: str) -> Estimate:
    """This machine's option: the run as it was measured training here."""
    b = p.batch_size or 1
    valid_batches = workload.valid_steps_per_epoch
    eval_batch_s = p.validation_seconds_per_epoch / valid_batches if valid_batches else 0.0
    steps = p.total_steps * p.step_seconds
    validation = p.validation_seconds_per_epoch * (p.epochs or 1)
    return Estimate(
        workload=workload, device=p.device or "cpu", accelerator=accelerator, seconds=p.predicted_seconds,
        seconds_low=p.seconds_low, seconds_high=p.seconds_high, train_images_per_s=b / p.step_seconds,
        eval_images_per_s=workload.eval_batch_size / eval_batch_s if eval_batch_s else 0.0,
        bottleneck="input pipeline" if p.data_wait_share > DATA_BOUND_SHARE else "compute",
        fits_memory=True, peak_memory_bytes=None, basis="measured",
        breakdown_seconds={"train": steps, "validation": validation,
                           "other": max(0.0, p.predicted_seconds - steps - validation)},
        notes=(info("watched", f"measured while it trained: {p.steps_done} steps in {p.elapsed_seconds:.0f} s, "
                    f"{100 * p.data_wait_share:.0f} % of a step waiting for data"),),
    )
