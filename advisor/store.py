"""Files a user keeps: machine profiles and the validation history.

Every file is written atomically (a temporary file in the same directory, then a rename), so an
interrupted run leaves the previous one intact. Reading checks the schema version and turns
every kind of damage into one clear error.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import platform
import tempfile
from dataclasses import replace
from pathlib import Path

from advisor.errors import RuntimeFailure, UsageError
from advisor.model.profile import SCHEMA_VERSION, Profile

DATA_DIR_ENV = "ADVISOR_DATA_DIR"


def same_setup(new: Profile, old: Profile) -> bool:
    """Whether two profiles measured the same machine, device, driver and torch: after a change
    of any, the older measurements no longer hold."""
    a, b = new.machine, old.machine
    return ((new.device, new.device_name) == (old.device, old.device_name)
            and (a.hostname, a.torch_version, a.driver_version, a.cpu.model, a.cpu.usable_cores)
            == (b.hostname, b.torch_version, b.driver_version, b.cpu.model, b.cpu.usable_cores))


def carried_over(new: Profile, old: Profile) -> Profile:
    """`new` with what `old` measured that `new` did not: the workloads calibrated since the
    last `advisor profile` (each can take minutes) and a data-parallel measurement; only from a
    profile of the same set-up (same_setup)."""
    if not same_setup(new, old):
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
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RuntimeFailure(f"profile {p} has schema version {version!r}, which no advisor writes; "
                             "re-run `advisor profile` to replace it.")
    if version > SCHEMA_VERSION:
        raise RuntimeFailure(
            f"profile {p} has schema version {version}, newer than this advisor reads "
            f"({SCHEMA_VERSION}); upgrade advisor or re-run `advisor profile`."
        )
    unknown = _unknown_fields(data)
    if unknown:
        raise RuntimeFailure(
            f"profile {p} has fields this advisor does not know ({', '.join(unknown[:4])}"
            f"{', ...' if len(unknown) > 4 else ''}), written by advisor {data.get('advisor_version', '?')}; "
            "upgrade advisor, or re-run `advisor profile` to replace it.")
    try:
        return Profile.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RuntimeFailure(
            f"profile {p} is damaged or incomplete ({type(exc).__name__}: {exc}); "
            "re-run `advisor profile` to replace it."
        ) from None


def check_writable(path: str | os.PathLike) -> Path:
    """Fail now, not after minutes of measuring, when `path` cannot be written: it is a
    directory, its directory is missing, or no file can be created there (permissions, a
    read-only or virtual file system such as /proc). Creates and removes a probe file."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{p} is a directory; give the path of a file.")
    parent = p.resolve().parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {p}: directory {parent} does not exist; create it first.")
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"cannot write {p}: the file is read-only; choose another path.")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        raise UsageError(f"cannot write {p}: no file can be created in {parent} "
                         f"({exc.strerror or exc}); choose another path.") from None
    os.close(fd)
    os.unlink(probe)
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """A temporary path beside `path` to write to; renamed over `path` when the block ends
    well, removed otherwise. An interruption leaves the old file as it was, and no other."""
    p = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    except OSError as exc:
        raise UsageError(f"cannot write {p}: no file can be created in {p.parent} "
                         f"({exc.strerror or exc}); choose another path.") from None
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, p)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def write_atomically(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` whole or not at all, flushed to disk before it replaces the old file."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


# what a profile's JSON holds beyond its records' fields: values derived for readers
DERIVED_CALIBRATION_FIELDS = ("first_steps_overhead_seconds", "train_images_per_s", "eval_images_per_s")


def _unknown_fields(data: dict) -> list[str]:
    """Fields of a profile's JSON that this version's records do not have: a newer advisor
    wrote them, and reading past them would misread the profile."""
    from dataclasses import fields

    from advisor.model.calibration import Calibration

    known = {"schema_version", "advisor_version", "created_at", "device", "device_name", "machine",
             "microbenchmarks", "calibrations", "distributed", "cluster", "notes"}
    unknown = [k for k in data if k not in known]
    cal_fields = {f.name for f in fields(Calibration)} | set(DERIVED_CALIBRATION_FIELDS)
    for cal in data.get("calibrations") or []:
        if isinstance(cal, dict):
            unknown += [f"calibrations.{k}" for k in cal if k not in cal_fields and f"calibrations.{k}" not in unknown]
    return unknown


def save_profile(profile: Profile, path: str | os.PathLike | None = None, *, create_dirs: bool = False) -> Path:
    """Write atomically; the default location's directories are created, a given path's are not."""
    p = Path(path) if path is not None else default_profile_path()
    if path is None or create_dirs:
        p.parent.mkdir(parents=True, exist_ok=True)
    if not p.parent.is_dir():
        raise UsageError(f"cannot write {p}: directory {p.parent} does not exist; create it or choose another path.")
    return write_atomically(p, profile.to_json())


def load_reference_profiles() -> list[Profile]:
    """The reference profiles measured on real GPUs that ship in advisor/cloud/data/measured/."""
    from advisor.cloud.catalog import measured_profiles_dir

    refs = []
    directory = measured_profiles_dir()
    if not directory.is_dir():
        return refs
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            refs.append(load_profile(Path(str(entry))))
    return refs


RECORD_FIELDS = (
    "recorded_at", "host", "accelerator", "device", "model", "image_size", "batch_size",
    "precision", "dataset_size", "valid_fraction", "epochs", "frozen_epochs", "data_source",
    "workers", "basis", "predicted_s", "predicted_low_s", "predicted_high_s", "measured_s",
    "error_pct", "inside_band", "predicted_train_images_per_s", "measured_train_images_per_s",
    "epochs_completed", "interrupted", "advisor_version", "channels_last",
)
# record files written before the channels_last column keep their columns
EARLIER_RECORD_FIELDS = (RECORD_FIELDS[:-1],)


def _record_header(p: Path) -> tuple[str, ...] | None:
    if not p.exists():
        return None
    with p.open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), None)
    return None if header is None else tuple(header)


def check_record_file(path: str | os.PathLike) -> None:
    """Fail before training, not after, when the record file cannot be appended to."""
    p = Path(path)
    if p.is_file():
        try:
            header = _record_header(p)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise UsageError(f"record file {p} cannot be read as CSV ({exc}); give a new file "
                             "or an earlier record file.") from None
        if header is not None and header != RECORD_FIELDS and header not in EARLIER_RECORD_FIELDS:
            raise UsageError(
                f"record file {p} has other columns than advisor's records "
                f"({', '.join(header[:4])}, ...); give a new file or an earlier record file."
            )
    check_writable(p)


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
    return write_atomically(p, old + buf.getvalue())


def read_records(path: str | os.PathLike) -> list[dict]:
    with Path(path).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def history_line(rows: list[dict], host: str, device: str) -> str | None:
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
