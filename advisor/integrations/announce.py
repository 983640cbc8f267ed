"""What every way of watching a run shows: the answer once, the measured time at the end."""

from __future__ import annotations

import sys


class Announcer:
    """Keeps `prediction`, `advice` and `result` on the object and prints them (stderr) unless
    `quiet`: the callbacks and `advisor.track` share it."""

    quiet = False
    prediction = result = advice = None
    session = None  # the TrackSession, once the fit began

    def _options(self, budget_s: float, calibrate_only: bool, cloud: bool, providers, quiet: bool) -> None:
        """A callback's settings: the calibration window, whether to stop after it, cloud options."""
        self.budget_s, self.calibrate_only, self.cloud, self.providers = budget_s, calibrate_only, cloud, providers
        self.quiet = quiet

    def _predicted(self, session) -> None:
        self.prediction, self.advice = session.prediction, session.advice
        if not self.quiet:
            from advisor.render.tracking import answer_text

            print(answer_text(session.prediction, session.advice, session.cloud_problem), file=sys.stderr,
                  flush=True)

    def _finished(self, result, quiet: bool = False) -> None:
        self.result = result
        if result is not None and not (self.quiet or quiet):
            from advisor.render.tracking import finish_text

            print(finish_text(result), file=sys.stderr, flush=True)
