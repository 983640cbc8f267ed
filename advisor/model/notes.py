"""Notes an answer carries: a stable code for programs, a severity, and a sentence for people.

Severities: "warning" (the answer may be wrong or unusable as it stands: does not fit, only
rough, cost unknown), "tip" (something the user could do to train faster or cheaper) and
"info" (how the answer was reached). Library text names no command-line flags; the CLI adds
them where a code has one (advisor.cli's hints).
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("warning", "tip", "info")


@dataclass(frozen=True)
class Note:
    code: str
    severity: str
    text: str

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"note severity {self.severity!r}; valid: {', '.join(SEVERITIES)}")

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "text": self.text}


def warning(code: str, text: str) -> Note:
    return Note(code, "warning", text)


def tip(code: str, text: str) -> Note:
    return Note(code, "tip", text)


def info(code: str, text: str) -> Note:
    return Note(code, "info", text)
