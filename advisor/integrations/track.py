"""`advisor.track(...)`: a `with` block around a training loop of the user's own."""

from __future__ import annotations

from advisor.app.tracking import CalibrationDone, TrackSession
from advisor.integrations.announce import Announcer


class Track(Announcer):
    def __init__(self, model=None, loader=None, *, epochs=None, total_steps=None, budget_s=60.0, calibrate_only=False,
                 cloud=True, providers=(), quiet=False):
        self.quiet = quiet
        self.why_not = None
        self._session = TrackSession(epochs=epochs, total_steps=total_steps, budget_s=budget_s,
                                     calibrate_only=calibrate_only, model=model, loader=loader, cloud=cloud,
                                     providers=providers, on_prediction=self._predicted)

    def __enter__(self) -> Track:
        self._session.start()
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        self._session.stop()
        self.why_not = self._session.why_not
        self._finished(self._session.result, quiet=kind is not None)
        # the loop ended by the calibration (calibrate_only) goes on after the block
        return kind is not None and issubclass(kind, CalibrationDone)
