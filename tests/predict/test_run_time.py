"""Predicting a watched run's wall time from what was seen (fixed observations, no torch)."""

from dataclasses import replace

import pytest

from advisor.model.tracking import LoaderPass, Observation
from advisor.predict.run_time import NotEnoughSeen, predict_run, run_workload

TRAIN, VALID = 0, 1


def run(steps_per_epoch=10, epochs_seen=1.0, step_s=0.5, first_step_s=3.0, start_s=1.0, valid_s=None,
        valid_batches=4, epoch_start_s=0.4, forward_s=()):
    """A run seen for `epochs_seen` epochs: a slow first step, then steady `step_s` steps; after each
    whole training pass a validation pass of `valid_s` seconds (when given)."""
    t, steps, passes = start_s, [], []
    whole, part = int(epochs_seen), epochs_seen - int(epochs_seen)
    for e in range(whole + (1 if part else 0)):
        n = steps_per_epoch if e < whole else round(part * steps_per_epoch)
        begin = t
        t += epoch_start_s if e else 0.0
        for i in range(n):
            t += first_step_s if (e == 0 and i == 0) else step_s
            steps.append(t)
        ended = t if e < whole else None
        passes.append(LoaderPass(TRAIN, steps_per_epoch, begin, ended, n, 0.0, n))
        if ended is not None and valid_s is not None:
            passes.append(LoaderPass(VALID, valid_batches, t, t + valid_s, valid_batches, 0.0, 0))
            t += valid_s
    return Observation(now_s=t, step_s=tuple(steps), passes=tuple(passes),
                       loader_lengths={TRAIN: steps_per_epoch, VALID: valid_batches}, forward_s=tuple(forward_s),
                       batch_wait_s=tuple((s, 0.1) for s in steps))


def test_the_remaining_steps_run_at_the_steady_pace_after_the_warm_up():
    obs = run(epochs_seen=0.6, valid_s=None)
    p = predict_run(obs, epochs=1, warmup_steps=1)
    assert p.step_seconds == pytest.approx(0.5)
    assert p.predicted_seconds == pytest.approx(obs.now_s + 4 * 0.5 + 4 * 0.5 / 3)  # + validation estimated
    assert not p.validation_measured and p.total_steps == 10 and p.steps_done == 6


def test_a_validation_pass_seen_is_used_for_every_epoch():
    obs = run(epochs_seen=1.5, valid_s=2.0)
    p = predict_run(obs, epochs=3, warmup_steps=1)
    assert p.validation_measured and p.validation_seconds_per_epoch == pytest.approx(2.0)
    # 15 steps left, 1 epoch still to start (0.4 s beyond its step), 2 validations to come
    assert p.predicted_seconds == pytest.approx(obs.now_s + 15 * 0.5 + 1 * 0.4 + 2 * 2.0)


def test_without_a_forward_timing_validation_is_a_third_of_a_step_per_batch():
    p = predict_run(run(epochs_seen=0.8), epochs=2, warmup_steps=1)
    assert p.validation_seconds_per_epoch == pytest.approx(4 * 0.5 / 3)
    assert any("a third of a training step" in b for b in p.basis)


def test_with_a_forward_timing_validation_is_forward_plus_the_wait_for_data():
    p = predict_run(run(epochs_seen=0.8, forward_s=(0.2,) * 8), epochs=2, warmup_steps=1)
    assert p.validation_seconds_per_epoch == pytest.approx(4 * (0.2 + 0.1))
    assert p.data_wait_share == pytest.approx(0.1 / 0.5)


def test_a_validation_loader_with_its_own_batch_is_timed_and_described_at_it():
    # training in batches of 32, validation in batches of 64 (the loaders say so)
    seen = replace(run(epochs_seen=0.8, forward_s=(0.2,) * 8), batch_size=32,
                   loader_batch_sizes={TRAIN: 32, VALID: 64})
    p = predict_run(seen, epochs=2, warmup_steps=1)
    assert p.validation_batch_size == 64
    assert p.validation_seconds_per_epoch == pytest.approx(4 * (2 * 0.2 + 0.1))  # a forward of 64 images
    assert any("for 64 images instead of 32" in b for b in p.basis)
    w = run_workload(p)
    assert (w.batch_size, w.eval_batch_size, w.valid_images, w.valid_steps_per_epoch) == (32, 64, 4 * 64, 4)
    # a validation pass seen: its loader's batch, and its time as measured
    measured = predict_run(replace(run(epochs_seen=1.5, valid_s=2.0), batch_size=32,
                                   loader_batch_sizes={TRAIN: 32, VALID: 64}), epochs=3, warmup_steps=1)
    assert measured.validation_batch_size == 64 and measured.validation_seconds_per_epoch == pytest.approx(2.0)


def test_total_steps_replace_epochs():
    obs = run(epochs_seen=0.6)
    assert predict_run(obs, total_steps=26, warmup_steps=1).total_steps == 26
    assert predict_run(obs, total_steps=3, warmup_steps=1).total_steps == 6  # never fewer than done


def test_a_steady_run_has_a_narrow_band_and_a_noisy_one_a_wide_band():
    steady = predict_run(run(epochs_seen=0.9), epochs=4, warmup_steps=1)
    assert steady.seconds_low < steady.predicted_seconds < steady.seconds_high  # validation is estimated
    obs = run(epochs_seen=0.9)
    noisy_steps = tuple(s + (0.2 if i % 2 and i > 4 else 0.0) for i, s in enumerate(obs.step_s))
    noisy = predict_run(Observation(**{**obs.__dict__, "step_s": noisy_steps}), epochs=4, warmup_steps=1)
    assert noisy.seconds_high - noisy.seconds_low >= steady.seconds_high - steady.seconds_low


@pytest.mark.parametrize("obs, kwargs, message", [
    (Observation(now_s=5.0, step_s=(), passes=()), {"epochs": 1}, "no optimizer step"),
    (run(epochs_seen=0.3), {"epochs": 1, "warmup_steps": 5}, "at least 8 are needed"),
    (run(epochs_seen=0.6), {"warmup_steps": 1}, "give the epochs"),
])
def test_too_little_seen_says_what_is_missing(obs, kwargs, message):
    with pytest.raises(NotEnoughSeen, match=message):
        predict_run(obs, **kwargs)
