"""The hardware catalog: GPU specifications and cloud offers, read from TOML data files.

The public front over `data/gpus.toml`, `data/interconnects.toml` and `data/offers/*.toml`
beside this module: one loader that validates every entry and names the file, the entry and the
field of any problem, plus pure functions over the loaded tables. Extra files given with
`--catalog` add entries or override built-in ones of the same id.
"""

from __future__ import annotations

import functools
import re
import tomllib
from importlib.resources import files

from advisor.cloud.check import CHECK_MAX_AGE_DAYS, Finding, check_catalog, stale_offers, stale_warning
from advisor.cloud.records import (
    BILLING_RULES,
    INTERCONNECT_KINDS,
    PROVIDERS,
    STALE_PRICE_DAYS,
    Catalog,
    CatalogError,
    GpuSpec,
    Interconnect,
    Offer,
    RateSeen,
    find_gpu,
)
from advisor.cloud.schema import _err, _read_toml, check_document, parse_gpu, parse_interconnect, parse_offer
from advisor.errors import UsageError, did_you_mean

__all__ = ["BILLING_RULES", "CHECK_MAX_AGE_DAYS", "INTERCONNECT_KINDS", "PROVIDERS", "STALE_PRICE_DAYS", "Catalog",
           "CatalogError", "Finding", "GpuSpec", "Interconnect", "Offer", "RateSeen", "builtin_documents",
           "catalog_from_documents", "check_catalog", "check_providers", "filter_offers", "find_gpu",
           "gpu_for_device_name", "load_catalog", "measured_profiles_dir", "stale_offers", "stale_warning"]


# -- pure functions over loaded tables --------------------------------------------------------

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
    memory size ("32GB") that the entry's names contradict rules it out. A name without a model
    number (Paperspace's "GPU+") identifies nothing on its own.
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
            numbered = any(ch.isdigit() for t in words for ch in t)  # a model number, not only a brand
            if numbered and words <= wanted and (best is None or len(words) > best[0]):
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


# -- loading ----------------------------------------------------------------------------------

def _data_dir():
    return files("advisor.cloud").joinpath("data")


def catalog_from_documents(documents: list[tuple[str, dict]]) -> Catalog:
    """Build a catalog from parsed TOML documents, in order; later ones override earlier ones."""
    gpus: dict[str, GpuSpec] = {}
    interconnects: dict[str, Interconnect] = {}
    for origin, doc in documents:
        check_document(origin, doc)
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
