"""A machine profile: hardware facts, micro-benchmarks and calibrations, and their JSON form.

Reading and writing profile files (schema checks, atomic saves) is advisor.store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from advisor.model.calibration import Calibration, CalibrationKey
from advisor.model.machine import MachineInfo, MicroBenchmarks
from advisor.model.parallel import DistributedMeasurement

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Profile:
    machine: MachineInfo
    device: str  # where calibrations ran: "cpu" or "cuda:N"
    device_name: str  # "AMD EPYC (2 cores)" or the GPU's name
    microbenchmarks: MicroBenchmarks
    calibrations: tuple[Calibration, ...]
    created_at: str
    advisor_version: str
    schema_version: int = SCHEMA_VERSION
    notes: tuple[str, ...] = ()
    # data-parallel measurements (profile --nproc N, or under torchrun); None when not measured
    distributed: DistributedMeasurement | None = None
    # under torchrun: every machine of the cluster as it described itself (rank 0's first)
    cluster: tuple[dict, ...] = ()

    @property
    def accelerator(self) -> str:
        return "CPU" if self.device == "cpu" else self.device_name

    def find(self, key: CalibrationKey) -> Calibration | None:
        for cal in self.calibrations:
            if cal.key == key:
                return cal
        return None

    def with_calibrations(self, cals) -> Profile:
        """A copy holding `cals`, each replacing any earlier calibration of the same key."""
        keys = {c.key for c in cals}
        kept = tuple(c for c in self.calibrations if c.key not in keys)
        return replace(self, calibrations=kept + tuple(cals))

    def to_dict(self) -> dict:
        return {
            "schema_version": self.schema_version,
            "advisor_version": self.advisor_version,
            "created_at": self.created_at,
            "device": self.device,
            "device_name": self.device_name,
            "machine": self.machine.to_dict(),
            "microbenchmarks": self.microbenchmarks.to_dict(),
            "calibrations": [c.to_dict() for c in self.calibrations],
            "distributed": None if self.distributed is None else self.distributed.to_dict(),
            "cluster": list(self.cluster),
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_json_default) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> Profile:
        return cls(
            schema_version=d["schema_version"], advisor_version=d["advisor_version"],
            created_at=d["created_at"], device=d["device"], device_name=d["device_name"],
            machine=MachineInfo.from_dict(d["machine"]),
            microbenchmarks=MicroBenchmarks.from_dict(d["microbenchmarks"]),
            calibrations=tuple(Calibration.from_dict(c) for c in d["calibrations"]),
            notes=tuple(d.get("notes", ())),
            distributed=None if d.get("distributed") is None else DistributedMeasurement.from_dict(d["distributed"]),
            cluster=tuple(d.get("cluster", ())),
        )


def _json_default(value):
    if isinstance(value, tuple):
        return list(value)
    return None  # N/A
