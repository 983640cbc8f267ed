"""The catalog's records: GPU datasheets, interconnects, offers and the loaded catalog."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from advisor.errors import UsageError, did_you_mean

STALE_PRICE_DAYS = 180


BILLING_RULES = ("per_second_min_60s", "hourly", "compute_units", "free")


PROVIDERS = {"colab": "Google Colab", "gcp": "Google Cloud Compute Engine", "paperspace": "Paperspace"}


TFLOPS = 1e12


class CatalogError(UsageError):
    """A catalog file with a missing or bad field, naming file, entry and field."""


@dataclass(frozen=True)
class GpuSpec:
    id: str
    name: str
    arch: str
    compute_capability: tuple[int, int]
    vram_bytes: int
    memory_bandwidth_bytes_per_s: float
    fp32_flops_per_s: float
    tf32_tensor_flops_per_s: float | None = None
    fp16_tensor_flops_per_s: float | None = None
    bf16_tensor_flops_per_s: float | None = None
    sm_count: int | None = None
    boost_clock_mhz: float | None = None
    tdp_watts: float | None = None
    aliases: tuple[str, ...] = ()
    source: str = ""
    derived: tuple[str, ...] = ()
    notes: str = ""
    # what real runs on this GPU say of the step model's predictions for it, where it is known;
    # options on the GPU show it
    checked: str = ""

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Interconnect:
    """How the GPUs inside one machine reach each other (data/interconnects.toml)."""

    id: str
    name: str
    kind: str  # "nvlink" or "pcie"
    link_bytes_per_s: float  # per GPU, both directions together, as datasheets state it
    source: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


INTERCONNECT_KINDS = ("nvlink", "pcie")


@dataclass(frozen=True)
class RateSeen:
    """One dated observation of an offer's rate (Colab's compute units per hour drift)."""

    as_of: _dt.date
    source: str
    compute_units_per_hour: float | None = None
    usd_per_hour: float | None = None

    def to_dict(self) -> dict:
        return {**self.__dict__, "as_of": self.as_of.isoformat()}


# fields an offer may record as unknown (no source gives them), rather than leave out unexplained
UNKNOWABLE_FIELDS = ("vcpus", "ram_gb", "usd_per_hour", "compute_units_per_hour", "runtime_limit_hours")


@dataclass(frozen=True)
class Offer:
    """One machine a provider rents out. Prices are for the whole machine, USD."""

    provider: str
    id: str
    instance: str
    billing: str
    as_of: _dt.date
    source: str
    gpu: str | None = None  # GpuSpec id; None for a CPU-only machine
    gpu_count: int = 1
    vcpus: int | None = None
    ram_bytes: int | None = None
    usd_per_hour: float | None = None
    spot_usd_per_hour: float | None = None
    compute_units_per_hour: float | None = None
    usd_per_compute_unit: float | None = None
    runtime_limit_hours: float | None = None
    region: str | None = None
    derived: bool = False
    interconnect: str | None = None  # Interconnect id, between this machine's GPUs
    interconnect_assumed: bool = False  # the provider does not publish it
    network_bits_per_s: float | None = None  # between machines, where a source states it
    network_source: str = ""
    rates_seen: tuple[RateSeen, ...] = ()
    unknown: tuple[str, ...] = ()  # of UNKNOWABLE_FIELDS: no source gives them
    last_known: str = ""  # why a price no recent source confirms is kept
    origin: str = ""  # the file it came from

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.id}"

    @property
    def provider_name(self) -> str:
        return PROVIDERS.get(self.provider, self.provider)

    def hourly_usd(self, spot: bool = False) -> float | None:
        """USD per hour; None when the source gives no rate."""
        if self.billing == "free":
            return 0.0
        if self.billing == "compute_units":
            if self.compute_units_per_hour is None or self.usd_per_compute_unit is None:
                return None
            return self.compute_units_per_hour * self.usd_per_compute_unit
        if spot and self.spot_usd_per_hour is not None:
            return self.spot_usd_per_hour
        return self.usd_per_hour

    def age_days(self, today: _dt.date) -> int:
        return (today - self.as_of).days

    def rate_range(self) -> tuple[RateSeen, RateSeen] | None:
        """The lowest and highest rate seen since the price's year began, when they differ."""
        recent = [r for r in self.rates_seen if r.as_of.year >= self.as_of.year]
        key = (lambda r: r.compute_units_per_hour or 0.0) if self.billing == "compute_units" \
            else (lambda r: r.usd_per_hour or 0.0)
        if len(recent) < 2:
            return None
        low, high = min(recent, key=key), max(recent, key=key)
        return (low, high) if key(low) != key(high) else None

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["as_of"] = self.as_of.isoformat()
        d["rates_seen"] = [r.to_dict() for r in self.rates_seen]
        d["unknown"] = list(self.unknown)
        d["key"] = self.key
        return d


@dataclass(frozen=True)
class Catalog:
    gpus: dict[str, GpuSpec]
    offers: tuple[Offer, ...]
    files: tuple[str, ...] = field(default_factory=tuple)
    interconnects: dict[str, Interconnect] = field(default_factory=dict)

    def gpu(self, name: str) -> GpuSpec:
        return find_gpu(self.gpus, name)

    def gpus_frame(self):
        """The GPU datasheets, one row each, as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame([g.to_dict() for g in self.gpus.values()])

    def offers_frame(self):
        """The offers with their hourly price, one row each, as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame([{**o.to_dict(), "hourly_usd": o.hourly_usd()} for o in self.offers])


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def find_gpu(gpus: dict[str, GpuSpec], name: str) -> GpuSpec:
    """A GPU by id, name or alias, ignoring case, spaces and dashes; did-you-mean otherwise."""
    wanted = _norm(name)
    for spec in gpus.values():
        if wanted in {_norm(spec.id), _norm(spec.name), *(_norm(a) for a in spec.aliases)}:
            return spec
    names = sorted({*gpus, *(a for s in gpus.values() for a in s.aliases)})
    raise UsageError(
        f"unknown GPU {name!r}." + (did_you_mean(name, names) or f" Known: {', '.join(sorted(gpus))}.")
        + " `advisor catalog gpus` lists them."
    )
