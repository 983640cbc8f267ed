"""Progress on a terminal: what is being measured and roughly how long is left.

Writes to stderr and only when it is a terminal, so JSON on stdout and logs stay clean.
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, budget_s: float, stream=None, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.budget_s = budget_s
        self.start = time.perf_counter()
        self._width = 0

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        left = max(0.0, self.budget_s * (1 - min(fraction, 1.0)))
        text = f"[{elapsed:4.0f} s, ~{left:3.0f} s left] {stage}"
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def done(self, message: str = "") -> None:
        if self.enabled and self._width:
            elapsed = time.perf_counter() - self.start
            self.stream.write("\r" + f"[{elapsed:4.0f} s] {message or 'done'}".ljust(self._width) + "\n")
            self.stream.flush()
            self._width = 0
