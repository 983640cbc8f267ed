"""A machine profile: hardware facts, micro-benchmarks and calibrations, stored as JSON.

Files are written atomically (a temporary file in the same directory, then a rename), so an
interrupted run leaves the previous profile intact. Reading checks the schema version and turns
every kind of damage into one clear error.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from advisor.calibrate import Calibration, CalibrationKey
from advisor.ddp import DistributedMeasurement
from advisor.errors import RuntimeFailure, UsageError
from advisor.microbench import MicroBenchmarks
from advisor.probe import MachineInfo

SCHEMA_VERSION = 1
DATA_DIR_ENV = "ADVISOR_DATA_DIR"


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


def same_setup_impl(new: Profile, old: Profile) -> bool:
    """Whether two profiles measured the same machine, device, driver and torch: after a change
    of any, the older measurements no longer hold."""
    a, b = new.machine, old.machine
    return ((new.device, new.device_name) == (old.device, old.device_name)
            and (a.hostname, a.torch_version, a.driver_version, a.cpu.model, a.cpu.usable_cores)
            == (b.hostname, b.torch_version, b.driver_version, b.cpu.model, b.cpu.usable_cores))


def carried_over_impl(new: Profile, old: Profile) -> Profile:
    """`new` with what `old` measured that `new` did not: the workloads calibrated since the
    last `advisor profile` (each can take minutes) and a data-parallel measurement; only from a
    profile of the same set-up (same_setup_impl)."""
    if not same_setup_impl(new, old):
        return new
    keys = {c.key for c in new.calibrations}
    kept = tuple(c for c in old.calibrations if c.key not in keys)
    return replace(new, calibrations=new.calibrations + kept,
                   distributed=new.distributed if new.distributed is not None else old.distributed)


def default_profile_path() -> Path:
    """One profile per machine in the user data directory (ADVISOR_DATA_DIR overrides it)."""
    base = os.environ.get(DATA_DIR_ENV)
    if not base:
        import platformdirs

        base = platformdirs.user_data_dir("advisor", appauthor=False)
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in platform.node()) or "machine"
    return Path(base) / "profiles" / f"{name}.json"


def load_profile(path: str | os.PathLike | None = None) -> Profile:
    """Read a profile; the default is this machine's in the user data directory."""
    p = Path(path) if path is not None else default_profile_path()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no profile at {p}; run `advisor profile` first (about a minute).") from None
    except IsADirectoryError:
        raise UsageError(f"profile {p} is a directory; give the path of a profile JSON file.") from None
    except (PermissionError, OSError) as exc:
        raise RuntimeFailure(f"cannot read profile {p}: {exc.strerror or exc}; check its permissions.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuntimeFailure(
            f"profile {p} is not valid JSON ({exc.msg} at line {exc.lineno}); "
            "re-run `advisor profile` to replace it."
        ) from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise RuntimeFailure(f"{p} is not an advisor profile (no schema_version); re-run `advisor profile`.")
    version = data["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RuntimeFailure(
            f"profile {p} has schema version {version!r}, newer than this advisor reads "
            f"({SCHEMA_VERSION}); upgrade advisor or re-run `advisor profile`."
        )
    try:
        return Profile.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise RuntimeFailure(
            f"profile {p} is damaged or incomplete ({type(exc).__name__}: {exc}); "
            "re-run `advisor profile` to replace it."
        ) from None


def save_profile(profile: Profile, path: str | os.PathLike | None = None, *, create_dirs: bool = False) -> Path:
    """Write atomically; the default location's directories are created, an --output's are not."""
    p = Path(path) if path is not None else default_profile_path()
    if path is None or create_dirs:
        p.parent.mkdir(parents=True, exist_ok=True)
    if not p.parent.is_dir():
        raise UsageError(f"cannot write {p}: directory {p.parent} does not exist; create it or choose another --output.")
    text = profile.to_json()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    except PermissionError:
        raise UsageError(f"cannot write {p}: directory {p.parent} is not writable; choose another --output.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return p


def _json_default(value):
    if isinstance(value, tuple):
        return list(value)
    return None  # N/A



def load_reference_profiles() -> list[Profile]:
    """The reference profiles measured on real GPUs that ship in profiles/measured/."""
    from advisor.catalog import measured_profiles_dir

    refs = []
    directory = measured_profiles_dir()
    if not directory.is_dir():
        return refs
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            refs.append(load_profile(Path(str(entry))))
    return refs
