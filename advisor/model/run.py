"""A training run as it was measured, and how a prediction compared with it."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from advisor.model.estimate import Estimate


@dataclass(frozen=True)
class TrainingRun:
    """What a real training run measured (project definition of training time)."""

    seconds: float  # first training step to the end of the last validation pass
    train_seconds: tuple[float, ...]  # per completed epoch, training phase
    valid_seconds: tuple[float, ...]  # per completed epoch, validation phase
    train_images: int
    valid_images: int
    frozen_epochs: int
    interrupted: bool = False

    @property
    def epochs_completed(self) -> int:
        return len(self.valid_seconds)

    @property
    def epoch_seconds(self) -> tuple[float, ...]:
        """Each completed epoch's training plus validation."""
        return tuple(t + v for t, v in zip(self.train_seconds, self.valid_seconds))

    @property
    def train_images_per_s(self) -> float:
        """Training throughput over the unfrozen epochs (all epochs when every one was frozen)."""
        unfrozen = self.train_seconds[self.frozen_epochs:] or self.train_seconds
        total = sum(unfrozen)
        return self.train_images * len(unfrozen) / total if total else 0.0


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
