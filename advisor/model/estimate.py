"""A prediction of one whole training run on one device, as every layer above passes it on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from advisor.model.notes import Note
from advisor.model.workload import Workload

# `bottleneck` values (kept in the JSON) and the word the `bound` column uses for each
BOUNDS = {"compute": "compute", "memory": "memory", "overhead": "host", "input pipeline": "data"}


@dataclass(frozen=True)
class Estimate:
    workload: Workload
    device: str
    accelerator: str
    seconds: float
    seconds_low: float
    seconds_high: float
    train_images_per_s: float
    eval_images_per_s: float
    bottleneck: str  # "compute", "memory", "input pipeline", "overhead"
    fits_memory: bool
    peak_memory_bytes: int | None
    basis: str  # "measured" (calibrated here), "scaled" (from another calibration here) or
    # "predicted" (other hardware, from counted work and its specifications)
    breakdown_seconds: dict[str, float] = field(default_factory=dict)
    notes: tuple[Note, ...] = ()
    # data-parallel runs: GPUs, machines, per-GPU batch, scaling efficiency, communication
    parallel: dict | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["workload"] = self.workload.to_dict()
        d["notes"] = [n.text for n in self.notes]
        d["note_details"] = [n.to_dict() for n in self.notes]
        return d

    @property
    def train_step_seconds(self) -> float:
        """A steady training step (each rank's, for data-parallel runs)."""
        ranks = self.parallel["world"] if self.parallel else 1
        return ranks * self.workload.batch_size / self.train_images_per_s if self.train_images_per_s else 0.0

    @property
    def setup_seconds(self) -> float:
        """What the run pays once, or once an epoch, beyond its steady steps: the first steps
        (autotuning, allocator, new batch shapes) and the loaders' start."""
        b = self.breakdown_seconds
        return b.get("first_steps_overhead", 0.0) + b.get("loader_start", 0.0)

    @property
    def bound(self) -> str:
        """What limits a training step, in the words of the tables: compute, memory, host or data."""
        return BOUNDS.get(self.bottleneck, self.bottleneck)
