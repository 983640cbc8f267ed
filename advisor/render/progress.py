"""Progress on a terminal: what is being measured and roughly how long is left.

Writes to stderr and only when it is a terminal, so JSON on stdout and logs stay clean.
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, budget_s: float, stream=None, enabled: bool | None = None,
                 expected_s: float | None = None, then_s: float = 0.0):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.budget_s = budget_s
        # measuring takes longer than its budget where its fewest steps do
        self.expected_s = expected_s or budget_s
        self.then_s = then_s  # measuring planned after the part that revises its expectation
        self.start = time.perf_counter()
        self._width = 0

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        left = max(0.0, self.budget_s * (1 - min(fraction, 1.0)), self.expected_s - elapsed)
        text = f"[{elapsed:4.0f} s, ~{left:3.0f} s left] {stage}"
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def expect(self, seconds_left: float) -> None:
        """What is measured now says how much longer it takes (a calibration after its warm-up)."""
        self.expected_s = time.perf_counter() - self.start + seconds_left + self.then_s

    def done(self, message: str = "") -> None:
        if self.enabled and self._width:
            elapsed = time.perf_counter() - self.start
            self.stream.write("\r" + f"[{elapsed:4.0f} s] {message or 'done'}".ljust(self._width) + "\n")
            self.stream.flush()
            self._width = 0


class TrainingProgress:
    """`[epoch 2/4] step 30/116, 12.1 img/s, 0:01:23 elapsed, ~0:03:10 left` on a terminal."""

    def __init__(self, batch_size: int, stream=None, enabled: bool | None = None, every_s: float = 0.5):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.batch_size = batch_size
        self.every_s = every_s
        self._last = -1e9
        self._width = 0
        self._steps_done = 0

    def __call__(self, epoch: int, epochs: int, step: int, steps: int, elapsed_s: float) -> None:
        from advisor.model.units import hms

        if step:
            self._steps_done += 1
        if not self.enabled or (time.perf_counter() - self._last < self.every_s and step):
            return
        self._last = time.perf_counter()
        fraction = min(1.0, (epoch * steps + step) / max(1, epochs * steps))
        left = elapsed_s / fraction * (1 - fraction) if fraction > 0 else None
        rate = self._steps_done * self.batch_size / elapsed_s if elapsed_s > 0 else 0.0
        shown_epoch = min(epoch + 1, epochs)
        text = (f"[epoch {shown_epoch}/{epochs}] step {step}/{steps}, {rate:.1f} img/s, "
                f"{hms(elapsed_s)} elapsed, ~{hms(left) if left is not None else '?'} left")
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def done(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()


class ConsoleReporter:
    """A workflow's commentary on stderr (advisor.app.workflows.Reporter), with the flag that
    changes what it announces where `hints` has one."""

    def __init__(self, hints: dict[str, str] | None = None, stream=None):
        self.hints = hints or {}
        self.stream = stream or sys.stderr

    def tell(self, event: str, text: str) -> None:
        hint = self.hints.get(event)
        self.stream.write(text + (f" {hint}" if hint else "") + "\n")
        self.stream.flush()

    def progress(self, budget_s: float, expected_s: float | None = None, then_s: float = 0.0) -> Progress:
        return Progress(budget_s, stream=self.stream, expected_s=expected_s, then_s=then_s)
