"""Predicted against measured: the comparison `advisor validate` prints and records. Pure but
for `append_record`, which writes the CSV history atomically."""

from __future__ import annotations

import csv
import datetime as _dt
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from advisor.errors import UsageError
from advisor.estimate import Estimate
from advisor.training import TrainingRun

RECORD_FIELDS = (
    "recorded_at", "host", "accelerator", "device", "model", "image_size", "batch_size",
    "precision", "dataset_size", "valid_fraction", "epochs", "frozen_epochs", "data_source",
    "workers", "basis", "predicted_s", "predicted_low_s", "predicted_high_s", "measured_s",
    "error_pct", "inside_band", "predicted_train_images_per_s", "measured_train_images_per_s",
    "epochs_completed", "interrupted", "advisor_version", "channels_last",
)
# record files written before the channels_last column keep their columns
EARLIER_RECORD_FIELDS = (RECORD_FIELDS[:-1],)


@dataclass(frozen=True)
class Validation:
    estimate: Estimate  # for the epochs that actually ran (all of them unless interrupted)
    run: TrainingRun

    @property
    def error(self) -> float:
        """(predicted - measured) / measured: positive when the prediction was too long."""
        return (self.estimate.seconds - self.run.seconds) / self.run.seconds

    @property
    def inside_band(self) -> bool:
        return self.estimate.seconds_low <= self.run.seconds <= self.estimate.seconds_high

    def to_dict(self) -> dict:
        e, r = self.estimate, self.run
        return {
            "workload": e.workload.to_dict(),
            "device": e.device,
            "accelerator": e.accelerator,
            "predicted": {"seconds": e.seconds, "seconds_low": e.seconds_low,
                          "seconds_high": e.seconds_high, "train_images_per_s": e.train_images_per_s,
                          "basis": e.basis, "breakdown_seconds": e.breakdown_seconds},
            "measured": {"seconds": r.seconds, "train_seconds": list(r.train_seconds),
                         "valid_seconds": list(r.valid_seconds),
                         "train_images_per_s": r.train_images_per_s,
                         "epochs_completed": r.epochs_completed, "interrupted": r.interrupted},
            "error_pct": round(100 * self.error, 2),
            "inside_band": self.inside_band,
        }

    def record_row(self, host: str, advisor_version: str) -> dict:
        e, r, w = self.estimate, self.run, self.estimate.workload
        return {
            "recorded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "host": host, "accelerator": e.accelerator, "device": e.device, "model": w.model,
            "image_size": w.image_size, "batch_size": w.batch_size, "precision": w.precision,
            "dataset_size": w.dataset_size, "valid_fraction": w.valid_fraction, "epochs": w.epochs,
            "frozen_epochs": w.frozen_epochs, "data_source": w.data_source, "workers": w.workers,
            "basis": e.basis, "predicted_s": round(e.seconds, 3),
            "predicted_low_s": round(e.seconds_low, 3), "predicted_high_s": round(e.seconds_high, 3),
            "measured_s": round(r.seconds, 3), "error_pct": round(100 * self.error, 2),
            "inside_band": self.inside_band,
            "predicted_train_images_per_s": round(e.train_images_per_s, 3),
            "measured_train_images_per_s": round(r.train_images_per_s, 3),
            "epochs_completed": r.epochs_completed, "interrupted": r.interrupted,
            "advisor_version": advisor_version, "channels_last": w.channels_last,
        }


def completed_workload(workload, epochs_completed: int):
    """The workload cut to the epochs that ran (frozen ones come first)."""
    frozen = min(workload.frozen_epochs, epochs_completed)
    return workload.with_(frozen_epochs=frozen, epochs=epochs_completed - frozen)


def _record_header(p: Path) -> tuple[str, ...] | None:
    if not p.exists():
        return None
    with p.open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), None)
    return None if header is None else tuple(header)


def check_record_file(path: str | os.PathLike) -> None:
    """Fail before training, not after, when the record file cannot be appended to."""
    p = Path(path)
    if p.exists():
        header = _record_header(p)
        if header is not None and header != RECORD_FIELDS and header not in EARLIER_RECORD_FIELDS:
            raise UsageError(
                f"--record {p}: the file has other columns than advisor's records "
                f"({', '.join(header[:4])}, ...); give a new file or an earlier record file."
            )
    elif not p.parent.is_dir():
        raise UsageError(f"--record {p}: directory {p.parent} does not exist; create it first.")
    if not os.access(p.parent if not p.exists() else p, os.W_OK):
        raise UsageError(f"--record {p}: not writable; choose another file.")


def append_record(path: str | os.PathLike, row: dict) -> Path:
    """Append one row (header on a new file); the old file is replaced whole or not at all."""
    p = Path(path)
    check_record_file(p)
    old = p.read_text(encoding="utf-8") if p.exists() else ""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_record_header(p) or RECORD_FIELDS, extrasaction="ignore")
    if not old:
        writer.writeheader()
    writer.writerow(row)
    if old and not old.endswith("\n"):
        old += "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(old + buf.getvalue())
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p


def read_records(path: str | os.PathLike) -> list[dict]:
    with Path(path).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def history_impl(rows: list[dict], host: str, device: str) -> str | None:
    """How right the predictions recorded for this host and device have been, in one line."""
    import statistics

    mine = [r for r in rows if r.get("host") == host and r.get("device") == device and r.get("error_pct")]
    if not mine:
        return None
    errors = [abs(float(r["error_pct"])) for r in mine]
    inside = sum(r.get("inside_band") == "True" for r in mine)
    return (f"{len(mine)} validation(s) recorded on {host} ({device}): median |error| "
            f"{statistics.median(errors):.1f} %, max {max(errors):.1f} %, {inside} of {len(mine)} "
            "inside the band")


def validation_table(v: Validation) -> str:
    from advisor.report import hms, table

    e, r = v.estimate, v.run
    rows = [
        ["training time", hms(e.seconds), hms(r.seconds), f"{100 * v.error:+.1f} %"],
        ["band", f"{hms(e.seconds_low)}-{hms(e.seconds_high)}", "inside" if v.inside_band else "OUTSIDE", ""],
        ["train images/s", f"{e.train_images_per_s:.1f}", f"{r.train_images_per_s:.1f}",
         f"{100 * (e.train_images_per_s / r.train_images_per_s - 1):+.1f} %" if r.train_images_per_s else ""],
        ["seconds", f"{e.seconds:.1f}", f"{r.seconds:.1f}", ""],
    ]
    text = table(rows, ["", "predicted", "measured", "error"], "lrrr")
    if r.interrupted:
        text += (f"\nInterrupted after {r.epochs_completed} epoch(s): compared with the prediction "
                 "for the epochs that completed.")
    return text
