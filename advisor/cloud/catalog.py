"""The hardware catalog: GPU specifications and cloud offers, read from TOML data files.

The public front over `data/gpus.toml`, `data/interconnects.toml` and `data/offers/*.toml`
beside this module: one loader that validates every entry and names the file, the entry and the
field of any problem, plus pure functions over the loaded tables. Extra files given with
`--catalog` add entries or override built-in ones of the same id.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

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

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["as_of"] = self.as_of.isoformat()
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


# -- pure functions over loaded tables --------------------------------------------------------

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


# Words that make a different part of the same family: "H100 NVL" is not the H100 SXM, "RTX 4090
# Laptop GPU" not the desktop card. A device name carrying one that the entry does not name
# matches nothing, rather than the wrong datasheet.
VARIANT_WORDS = frozenset({"nvl", "pcie", "sxm", "sxm2", "sxm3", "sxm4", "sxm5", "laptop", "mobile", "maxq",
                           "ti", "super", "ada", "d"})


def _tokens(name: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", name.lower().replace("max-q", "maxq")))


def gpu_for_device_name(gpus: dict[str, GpuSpec], device_name: str) -> GpuSpec | None:
    """The catalog entry of a GPU as NVML or torch names it ("NVIDIA H100 80GB HBM3"), if any.

    Whole words are compared, so "Tesla P40" is not the P4 nor "NVIDIA L40S" the L4; the entry
    whose name or alias shares most words wins; a variant word ("NVL", "PCIe", "Laptop") or a
    memory size ("32GB") that the entry's names contradict rules it out.
    """
    wanted = _tokens(device_name)
    best = None
    for spec in gpus.values():
        names = [_tokens(n) for n in (spec.name, *spec.aliases)]
        known = set().union(*names)
        sizes = {t for t in known if re.fullmatch(r"\d+gb", t)}
        if any(t in VARIANT_WORDS and t not in known for t in wanted) or \
                any(re.fullmatch(r"\d+gb", t) and sizes and t not in sizes for t in wanted):
            continue
        for words in names:
            if words and words <= wanted and (best is None or len(words) > best[0]):
                best = (len(words), spec)
    return best[1] if best else None


def check_providers(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    for n in names:
        if n not in PROVIDERS:
            raise UsageError(f"unknown provider {n!r}; valid: {', '.join(PROVIDERS)}."
                             + did_you_mean(n, PROVIDERS))
    return tuple(names)


def filter_offers(offers, providers=(), gpu: str | None = None) -> tuple[Offer, ...]:
    return tuple(o for o in offers
                 if (not providers or o.provider in providers) and (gpu is None or o.gpu == gpu))


def stale_prices(offers, today: _dt.date, days: int = STALE_PRICE_DAYS) -> str | None:
    """A warning naming how old the oldest prices used are, when older than `days`."""
    priced = [o for o in offers if o.billing != "free"]
    old = [o for o in priced if (today - o.as_of).days > days]
    if not old:
        return None
    oldest = min(o.as_of for o in old)
    providers = sorted({o.provider for o in old})
    return (f"prices of {len(old)} offer(s) ({', '.join(providers)}) are older than {days} days "
            f"(oldest {oldest.isoformat()}); check them, or add current ones in a catalog file")


# -- loading ----------------------------------------------------------------------------------

def _data_dir():
    return files("advisor.cloud").joinpath("data")


GPU_REQUIRED = ("name", "arch", "compute_capability", "vram_gb", "memory_bandwidth_gb_per_s",
                "fp32_tflops", "source")
OFFER_REQUIRED = ("id", "instance", "as_of", "source")
PRICE_FIELDS = ("usd_per_hour", "spot_usd_per_hour", "compute_units_per_hour", "usd_per_compute_unit")


def _err(origin: str, entry: str, field_: str, problem: str) -> CatalogError:
    return CatalogError(f"catalog {origin}: {entry}: field {field_!r} {problem}.")


def _number(origin, entry, name, value, *, positive=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err(origin, entry, name, f"must be a number, not {value!r}")
    if value < 0 or (positive and value == 0):
        raise _err(origin, entry, name, f"must be {'positive' if positive else 'zero or more'}, not {value}")
    return float(value)


def parse_gpu(origin: str, gid: str, d: dict) -> GpuSpec:
    entry = f"gpu {gid!r}"
    for name in GPU_REQUIRED:
        if name not in d:
            raise _err(origin, entry, name, "is missing")
    try:
        major, minor = (int(x) for x in str(d["compute_capability"]).split("."))
    except ValueError:
        raise _err(origin, entry, "compute_capability", f"must look like '8.0', not {d['compute_capability']!r}") from None

    def opt(name):
        return None if name not in d else _number(origin, entry, name, d[name], positive=True) * TFLOPS

    return GpuSpec(
        id=gid, name=str(d["name"]), arch=str(d["arch"]), compute_capability=(major, minor),
        vram_bytes=int(_number(origin, entry, "vram_gb", d["vram_gb"], positive=True) * 1e9),
        memory_bandwidth_bytes_per_s=_number(origin, entry, "memory_bandwidth_gb_per_s",
                                             d["memory_bandwidth_gb_per_s"], positive=True) * 1e9,
        fp32_flops_per_s=_number(origin, entry, "fp32_tflops", d["fp32_tflops"], positive=True) * TFLOPS,
        tf32_tensor_flops_per_s=opt("tf32_tensor_tflops"),
        fp16_tensor_flops_per_s=opt("fp16_tensor_tflops"),
        bf16_tensor_flops_per_s=opt("bf16_tensor_tflops"),
        sm_count=d.get("sm_count"), boost_clock_mhz=d.get("boost_clock_mhz"), tdp_watts=d.get("tdp_w"),
        aliases=tuple(d.get("aliases", ())), source=str(d["source"]),
        derived=tuple(d.get("derived", ())), notes=str(d.get("notes", "")),
    )


def parse_interconnect(origin: str, iid: str, d: dict) -> Interconnect:
    entry = f"interconnect {iid!r}"
    for name in ("name", "kind", "link_gb_per_s", "source"):
        if name not in d:
            raise _err(origin, entry, name, "is missing")
    if d["kind"] not in INTERCONNECT_KINDS:
        raise _err(origin, entry, "kind", f"must be one of {', '.join(INTERCONNECT_KINDS)}, not {d['kind']!r}")
    return Interconnect(id=iid, name=str(d["name"]), kind=d["kind"],
                        link_bytes_per_s=1e9 * _number(origin, entry, "link_gb_per_s", d["link_gb_per_s"],
                                                       positive=True),
                        source=str(d["source"]))


def parse_offer(origin: str, provider: str, default_billing: str | None, d: dict, gpus: dict,
                interconnects: dict | None = None) -> Offer:
    entry = f"offer {d.get('id', '?')!r}"
    for name in OFFER_REQUIRED:
        if name not in d:
            raise _err(origin, entry, name, "is missing")
    billing = d.get("billing", default_billing)
    if billing not in BILLING_RULES:
        raise _err(origin, entry, "billing", f"must be one of {', '.join(BILLING_RULES)}, not {billing!r}")
    prices = {k: _number(origin, entry, k, d[k]) for k in PRICE_FIELDS if k in d}
    if billing in ("per_second_min_60s", "hourly") and "usd_per_hour" not in prices:
        raise _err(origin, entry, "usd_per_hour", f"is missing (billing {billing})")
    gpu = d.get("gpu")
    if gpu is not None and gpu not in gpus:
        raise _err(origin, entry, "gpu", f"names unknown GPU {gpu!r}" + did_you_mean(gpu, gpus))
    as_of = d["as_of"]
    if isinstance(as_of, str):
        try:
            as_of = _dt.date.fromisoformat(as_of)
        except ValueError:
            raise _err(origin, entry, "as_of", f"must be a date (YYYY-MM-DD), not {as_of!r}") from None
    if not isinstance(as_of, _dt.date):
        raise _err(origin, entry, "as_of", f"must be a date (YYYY-MM-DD), not {as_of!r}")
    limit = d.get("runtime_limit_hours")
    count = d.get("gpu_count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise _err(origin, entry, "gpu_count", f"must be a whole number of GPUs, 1 or more, not {count!r}")
    interconnect = d.get("interconnect")
    if interconnect is not None and interconnect not in (interconnects or {}):
        raise _err(origin, entry, "interconnect", f"names unknown interconnect {interconnect!r}"
                   + did_you_mean(interconnect, interconnects or {}))
    network = d.get("network_gbps")
    if network is not None:
        network = _number(origin, entry, "network_gbps", network, positive=True) * 1e9
        if "network_source" not in d:
            raise _err(origin, entry, "network_source", "is missing (network_gbps needs its source)")
    return Offer(
        provider=provider, id=str(d["id"]), instance=str(d["instance"]), billing=billing,
        as_of=as_of, source=str(d["source"]), gpu=gpu, gpu_count=count,
        vcpus=d.get("vcpus"),
        ram_bytes=None if "ram_gb" not in d else int(_number(origin, entry, "ram_gb", d["ram_gb"]) * 1e9),
        runtime_limit_hours=None if limit is None else _number(origin, entry, "runtime_limit_hours", limit, positive=True),
        region=d.get("region"), derived=bool(d.get("derived", False)), interconnect=interconnect,
        interconnect_assumed=bool(d.get("interconnect_assumed", False)), network_bits_per_s=network,
        network_source=str(d.get("network_source", "")), origin=origin, **prices,
    )


def _read_toml(path) -> dict:
    origin = str(path)
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8") if isinstance(path, (str, Path))
                             else path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"catalog {origin}: no such file.") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalog {origin}: not valid TOML ({exc}).") from None


def catalog_from_documents(documents: list[tuple[str, dict]]) -> Catalog:
    """Build a catalog from parsed TOML documents, in order; later ones override earlier ones."""
    gpus: dict[str, GpuSpec] = {}
    interconnects: dict[str, Interconnect] = {}
    for origin, doc in documents:  # GPUs and interconnects first: offers of any file name them
        for gid, table in doc.get("gpu", {}).items():
            gpus[gid] = parse_gpu(origin, gid, table)
        for iid, table in doc.get("interconnect", {}).items():
            interconnects[iid] = parse_interconnect(origin, iid, table)
    offers: dict[str, Offer] = {}
    for origin, doc in documents:
        if "offer" not in doc:
            continue
        provider = doc.get("provider")
        if provider is None:
            raise _err(origin, "file", "provider", "is missing (a file with offers names its provider)")
        seen = set()
        for table in doc["offer"]:
            offer = parse_offer(origin, provider, doc.get("billing"), table, gpus, interconnects)
            if offer.id in seen:
                raise _err(origin, f"offer {offer.id!r}", "id", "is a duplicate within the file")
            seen.add(offer.id)
            offers[offer.key] = offer
    return Catalog(gpus=gpus, offers=tuple(offers.values()), files=tuple(o for o, _ in documents),
                   interconnects=interconnects)


def builtin_documents() -> list[tuple[str, dict]]:
    data = _data_dir()
    docs = [(f"advisor/cloud/data/{name}", tomllib.loads(data.joinpath(name).read_text(encoding="utf-8")))
            for name in ("gpus.toml", "interconnects.toml")]
    for entry in sorted(data.joinpath("offers").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            docs.append((f"advisor/cloud/data/offers/{entry.name}", tomllib.loads(entry.read_text(encoding="utf-8"))))
    return docs


@functools.lru_cache(maxsize=8)
def load_catalog(extra_files: tuple[str, ...] = ()) -> Catalog:
    """The built-in catalog plus `extra_files` (each may add or override GPUs and offers)."""
    return catalog_from_documents(builtin_documents() + [(str(f), _read_toml(f)) for f in extra_files])


def measured_profiles_dir():
    return _data_dir().joinpath("measured")
