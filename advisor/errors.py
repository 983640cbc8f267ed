"""Errors that reach the user as one line.

`UsageError` is the user's input (exit 2); `RuntimeFailure` is something that went wrong while
measuring or reading files (exit 1). Both carry a message that names the offending value, what is
valid, and how to fix it; the CLI prints it without a traceback unless --debug is given.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AdvisorError(Exception):
    """`code`, where given, names the kind of problem for programs (and for the CLI, which adds
    the flag that fixes it)."""

    exit_code = 1

    def __init__(self, message: str = "", code: str | None = None):
        super().__init__(message)
        self.code = code


class UsageError(AdvisorError):
    exit_code = 2


class RuntimeFailure(AdvisorError):
    exit_code = 1


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what had been measured by then (exit 130). Nothing is saved after it."""


def did_you_mean(value: str, choices: Iterable[str], n: int = 3) -> str:
    """' Did you mean: a, b?' for the closest choices, or '' when none is close."""
    by_lower = {}
    for c in choices:
        by_lower.setdefault(c.lower(), c)
    close = difflib.get_close_matches(value.lower(), list(by_lower), n=n, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean: " + ", ".join(by_lower[c] for c in close) + "?"
