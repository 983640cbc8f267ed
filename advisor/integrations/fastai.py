"""fastai: `learn.fine_tune(4, cbs=AdvisorCallback())` predicts the whole run from its first minute.

fastai steps an optimizer of its own, which the tracker patches (as `advisor watch` does); the
callback knows `fine_tune`'s frozen first epoch(s), predicts the unfrozen ones from the counted
work until it sees them, counts both `fit` calls of `fine_tune` as one run, and stops it
cleanly when only the prediction was asked for.
"""

from __future__ import annotations

import inspect

from fastai.callback.core import Callback, CancelFitException

from advisor.app.tracking import DEFAULT_BUDGET_S, TrackSession
from advisor.integrations.announce import Announcer


class AdvisorCallback(Announcer, Callback):
    order = 0  # before the recorder: a step's time is the loop's, not the callbacks'

    def __init__(self, budget_s: float = DEFAULT_BUDGET_S, calibrate_only: bool = False, cloud: bool = True,
                 providers=(), quiet: bool = False):
        super().__init__()
        self._options(budget_s, calibrate_only, cloud, providers, quiet)
        self._fits_left = 0

    # fastai calls these by name
    def before_fit(self):
        if self.session is not None:  # fine_tune's second fit: the same run goes on
            if self.session.tracker is None:  # stopped after calibrating (calibrate_only)
                raise CancelFitException()
            self.session.tracker.frozen = False
            return
        epochs, frozen = self.n_epoch, 0
        tune = _fine_tune_frame(self.learn)
        if tune is not None:
            frozen = tune.get("freeze_epochs", 1)
            epochs = frozen + tune["epochs"]
            self._fits_left = 2
        else:
            self._fits_left = 1
        self.session = TrackSession(epochs=epochs, frozen_epochs=frozen, budget_s=self.budget_s,
                                    calibrate_only=False, cloud=self.cloud, providers=self.providers,
                                    on_prediction=self._predicted).start()
        tracker = self.session.tracker
        tracker.frozen = bool(frozen)
        tracker.train_batches_per_epoch = len(self.dls.train)
        if self.dls.valid is not None and len(self.dls.valid):
            tracker.add_loader_length(len(self.dls.valid))

    def after_step(self):
        if self.calibrate_only and self.prediction is not None:
            raise CancelFitException()

    def after_fit(self):
        self._fits_left -= 1
        stopped = self.calibrate_only and self.prediction is not None
        if self.session.tracker is None or (self._fits_left > 0 and not stopped):
            return
        self.session.stop()
        self._finished(None if stopped else self.session.result)


def _fine_tune_frame(learn) -> dict | None:
    """The arguments of the `learn.fine_tune(...)` call running this fit, if it is one."""
    for info in inspect.stack(context=0):
        if info.function == "fine_tune" and info.frame.f_locals.get("self") is learn:
            return dict(info.frame.f_locals)
    return None
