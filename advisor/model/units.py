"""Quantities in words, one format each: durations, money, bytes and rates.

Notes, errors and tables all write a duration as h:mm:ss (or a short span for bands), money as
$1.23, so the same quantity reads the same everywhere.
"""

from __future__ import annotations


def hms(seconds: float | None) -> str:
    """Seconds as h:mm:ss (the format fastai and the seed's story use)."""
    if seconds is None:
        return "N/A"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def span(seconds: float | None) -> str:
    """A duration in one short unit, for bands: 45s, 25m, 5.2h, 3.1d."""
    if seconds is None:
        return "N/A"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 10 * 60:
        return f"{seconds / 60:.1f}m"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def human_bytes(n: float | None) -> str:
    if n is None:
        return "N/A"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def rate(value: float | None, unit: str) -> str:
    """A rate with an SI prefix and three significant digits: 77.8 GB/s, 1.23 TFLOP/s."""
    if value is None:
        return "N/A"
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def money(usd: float | None) -> str:
    if usd is None:
        return "N/A"
    if usd == 0:
        return "free"
    return "<$0.01" if usd < 0.01 else f"${usd:,.2f}"
