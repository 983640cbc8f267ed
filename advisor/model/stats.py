"""Samples of a noisy quantity: the raw values are kept, statistics are derived.

Modelled on torch.utils.benchmark's Measurement: nothing is summarised away at measuring time,
so a later estimator (or a reader of the profile) can use medians, quartiles or the spread.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Samples:
    """Repeated measurements of one quantity, in the unit its owner's field name states."""

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("Samples needs at least one value")
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def quantile(self, q: float) -> float:
        """Linear-interpolated quantile, q in [0, 1]."""
        ordered = sorted(self.values)
        if len(ordered) == 1:
            return ordered[0]
        pos = q * (len(ordered) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    @property
    def iqr(self) -> float:
        return self.quantile(0.75) - self.quantile(0.25)

    @property
    def relative_iqr(self) -> float:
        """IQR over median: the spread as a fraction, 0 for a single sample."""
        median = self.median
        return self.iqr / median if median else 0.0

    @property
    def standard_error_of_median(self) -> float:
        """Relative uncertainty of the median (normal approximation: 1.253 * sd / sqrt(n))."""
        if self.n < 2 or not self.median:
            return 0.0
        return 1.2533 * statistics.stdev(self.values) / (self.n**0.5) / self.median

    def to_list(self) -> list[float]:
        return [round(v, 9) for v in self.values]

    def __repr__(self) -> str:
        return f"Samples(median={self.median:.6g}, iqr={self.iqr:.3g}, n={self.n})"
