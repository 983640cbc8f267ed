"""Measuring a training loop of the user's own while it runs, and predicting its whole run.

`TrackSession` is shared by `advisor.track(...)` (a `with` block around a loop) and
`advisor watch -- python train.py` (the script run with the session installed): after a
calibration window it predicts the run once, then keeps watching, and when the run ends it
holds the measured time beside the prediction.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from advisor.model.tracking import RunPrediction
from advisor.predict.run_time import WARMUP_STEPS, NotEnoughSeen, predict_run, with_measured

DEFAULT_BUDGET_S = 60.0


class CalibrationDone(SystemExit):
    """Raised from the optimizer step that completed the calibration when only the prediction
    was asked for: it ends the training loop like a clean exit (status 0)."""

    def __init__(self):
        super().__init__(0)


class TrackSession:
    """Hooks into PyTorch while active; `prediction` is set once the window is measured."""

    def __init__(self, *, epochs: float | None = None, total_steps: int | None = None,
                 budget_s: float = DEFAULT_BUDGET_S, warmup_steps: int = WARMUP_STEPS, frozen_epochs: float = 0.0,
                 calibrate_only: bool = False, model=None, loader=None, cloud: bool = True, providers=(),
                 catalog_files: tuple[str, ...] = (),
                 on_prediction: Callable[[TrackSession], None] | None = None,
                 timer: Callable[[], float] = time.perf_counter):
        self.epochs, self.total_steps, self.frozen_epochs = epochs, total_steps, frozen_epochs
        self._unfrozen_ratio: float | None = None
        self._next_try_steps = 0
        self.budget_s, self.warmup_steps = budget_s, warmup_steps
        self.calibrate_only = calibrate_only
        self.on_prediction = on_prediction
        self.timer = timer
        self._model, self._loader = model, loader
        self.cloud, self.providers, self.catalog_files = cloud, tuple(providers), tuple(catalog_files)
        self.prediction: RunPrediction | None = None
        self.result: RunPrediction | None = None
        self.advice = None  # the cloud options (advisor.advise.Advice), when asked for and possible
        self.cloud_problem: str | None = None  # why there are none
        self.why_not: str | None = None  # why no prediction could be made, when none was
        self.tracker = None
        self.seen = None  # the last Observation, once stopped

    def start(self) -> TrackSession:
        from advisor.measure.watch import Tracker

        self.tracker = Tracker(timer=self.timer, on_step=self._on_step).install()
        if self._loader is not None:
            self.tracker.prefer_training_loader(self._loader)
        if self._model is not None:
            self.tracker.use_model(self._model)
        return self

    def _on_step(self, tracker) -> None:
        steps = tracker.steps_done
        if self.prediction is not None or steps < self._next_try_steps or tracker.elapsed_s() < self.budget_s:
            return
        # reading the observation costs more as the run grows: a prediction that cannot be made
        # yet is tried again after a tenth more steps, so the tries cost the run next to nothing
        self._next_try_steps = int(steps * 1.1) + 1
        self._predict(tracker.observation())
        if self.prediction is None:
            return
        if self.cloud or self.frozen_epochs:
            cost = self._count(tracker)
            self._predict(tracker.observation())  # counting took time of this run: predict again from now
            if cost is not None and self.cloud:
                self._advise(cost)
        if self.on_prediction is not None:
            self.on_prediction(self)
        if self.calibrate_only:
            raise CalibrationDone()

    def _count(self, tracker):
        """The model's step counted on the meta device (about a second for a ResNet-34), every
        parameter trainable. During a frozen phase, counted as it is too: the ratio of the two
        is how much slower the unfrozen steps will be (fastai keeps BatchNorm training while
        frozen, so the backward still runs through the body)."""
        from advisor.measure.opcount import count_module, meta_copy

        p, model = self.prediction, tracker.model
        if model is None or not p.input_shape or not p.batch_size:
            self.cloud_problem = "the model's input was not a single tensor: no cloud options"
            return None
        try:
            with tracker.paused():
                count = lambda m: count_module(lambda: meta_copy(m), p.input_shape, p.batch_size, p.precision)  # noqa: E731
                cost = count(_unfrozen(model) if self.frozen_epochs else model)
                if self.frozen_epochs and tracker.frozen:
                    self._unfrozen_ratio = _work(cost.train) / max(1.0, _work(count(model).train))
            return cost
        except Exception as exc:  # a model the meta device cannot run: predict here only
            self.cloud_problem = f"counting the model's step failed ({type(exc).__name__}: {exc}): no cloud options"
            return None

    def _advise(self, cost) -> None:
        from advisor.advise.advice import advise_measured
        from advisor.cloud.catalog import load_catalog
        from advisor.measure.probe import usable_cores
        from advisor.predict.run_time import run_estimate, run_workload

        p = self.prediction
        device = p.device or "cpu"
        local = run_estimate(p, run_workload(p), "CPU" if device == "cpu" else device)
        self.advice = advise_measured(local, cost, load_catalog(self.catalog_files), local_device=device,
                                      local_cores=usable_cores(), providers=self.providers)

    def _predict(self, obs) -> None:
        try:
            self.prediction = predict_run(obs, epochs=self.epochs, total_steps=self.total_steps,
                                          warmup_steps=self.warmup_steps, frozen_epochs=self.frozen_epochs,
                                          unfrozen_ratio=self._unfrozen_ratio)
            self.why_not = None
        except NotEnoughSeen as exc:
            self.why_not = str(exc)

    def stop(self) -> RunPrediction | None:
        """Unhook; the prediction with the measured time when the run was watched to its end."""
        if self.tracker is None:
            return self.prediction
        obs = self.tracker.observation()
        self.tracker.uninstall()
        self.tracker = None
        self.seen = obs
        if self.prediction is not None and not self.calibrate_only:
            self.result = with_measured(self.prediction, obs.now_s)
        return self.result or self.prediction


def _work(phase) -> float:
    """A phase's counted arithmetic, every op class."""
    return sum(b.flops for b in phase.bins)


def _unfrozen(model):
    """The model as it trains after unfreezing: counting needs every parameter trainable
    (`count_module` freezes the body itself for the frozen phase)."""
    from advisor.measure.opcount import meta_copy

    copy = meta_copy(model)
    for p in copy.parameters():
        p.requires_grad_(True)
    return copy
