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
                 budget_s: float = DEFAULT_BUDGET_S, warmup_steps: int = WARMUP_STEPS,
                 calibrate_only: bool = False, loader=None,
                 on_prediction: Callable[[RunPrediction], None] | None = None,
                 timer: Callable[[], float] = time.perf_counter):
        self.epochs, self.total_steps = epochs, total_steps
        self.budget_s, self.warmup_steps = budget_s, warmup_steps
        self.calibrate_only = calibrate_only
        self.on_prediction = on_prediction
        self.timer = timer
        self._loader = loader
        self.prediction: RunPrediction | None = None
        self.result: RunPrediction | None = None
        self.why_not: str | None = None  # why no prediction could be made, when none was
        self.tracker = None

    def start(self) -> TrackSession:
        from advisor.measure.watch import Tracker

        self.tracker = Tracker(timer=self.timer, on_step=self._on_step).install()
        if self._loader is not None:
            self.tracker.prefer_training_loader(self._loader)
        return self

    def _on_step(self, tracker) -> None:
        if self.prediction is not None or tracker.elapsed_s() < self.budget_s:
            return
        self._predict(tracker.observation())
        if self.prediction is not None:
            if self.on_prediction is not None:
                self.on_prediction(self.prediction)
            if self.calibrate_only:
                raise CalibrationDone()

    def _predict(self, obs) -> None:
        try:
            self.prediction = predict_run(obs, epochs=self.epochs, total_steps=self.total_steps,
                                          warmup_steps=self.warmup_steps)
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
