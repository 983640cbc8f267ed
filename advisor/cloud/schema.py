"""Reading catalog files: every table, entry and field checked, and any problem named by file,
entry and field with what is valid."""

from __future__ import annotations

import datetime as _dt
import difflib
import tomllib
from pathlib import Path

from advisor.cloud.records import (
    BILLING_RULES,
    INTERCONNECT_KINDS,
    TFLOPS,
    UNKNOWABLE_FIELDS,
    CatalogError,
    GpuSpec,
    Interconnect,
    Offer,
    RateSeen,
)
from advisor.errors import did_you_mean

GPU_REQUIRED = ("name", "arch", "compute_capability", "vram_gb", "memory_bandwidth_gb_per_s",
                "fp32_tflops", "source")
GPU_FIELDS = (*GPU_REQUIRED, "tf32_tensor_tflops", "fp16_tensor_tflops", "bf16_tensor_tflops", "sm_count",
              "boost_clock_mhz", "tdp_w", "aliases", "derived", "notes", "checked")
INTERCONNECT_FIELDS = ("name", "kind", "link_gb_per_s", "source")
OFFER_REQUIRED = ("id", "instance", "as_of", "source")
PRICE_FIELDS = ("usd_per_hour", "spot_usd_per_hour", "compute_units_per_hour", "usd_per_compute_unit")
OFFER_FIELDS = (*OFFER_REQUIRED, *PRICE_FIELDS, "billing", "gpu", "gpu_count", "vcpus", "ram_gb",
                "runtime_limit_hours", "region", "derived", "interconnect", "interconnect_assumed",
                "network_gbps", "network_source", "rates_seen", "unknown", "last_known")
RATE_SEEN_FIELDS = ("as_of", "source", "compute_units_per_hour", "usd_per_hour")
# a file's top level: its provider and default billing (files with offers), and its tables
FILE_FIELDS = ("provider", "provider_name", "billing", "gpu", "interconnect", "offer")


def check_document(origin: str, doc: dict) -> None:
    """The shape of one catalog file: known top-level keys and tables, `[gpu.ID]` and
    `[interconnect.ID]` tables, `[[offer]]` arrays of tables, and known fields in each entry
    (a misspelt key would otherwise be silently ignored)."""
    for key in doc:
        if key not in FILE_FIELDS:
            raise CatalogError(f"catalog {origin}: unknown top-level key or table {key!r}."
                               + (did_you_mean(key, FILE_FIELDS) or f" Valid: {', '.join(FILE_FIELDS)}."))
    for kind, fields in (("gpu", GPU_FIELDS), ("interconnect", INTERCONNECT_FIELDS)):
        tables = doc.get(kind, {})
        if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
            raise CatalogError(f"catalog {origin}: {kind} entries must be tables, [{kind}.ID] each.")
        for eid, table in tables.items():
            _check_fields(origin, f"{kind} {eid!r}", table, fields)
    offers = doc.get("offer", [])
    if not isinstance(offers, list) or not all(isinstance(o, dict) for o in offers):
        raise CatalogError(f"catalog {origin}: offers must be an array of tables, [[offer]] each.")
    for table in offers:
        _check_fields(origin, f"offer {table.get('id', '?')!r}", table, OFFER_FIELDS)
    for key in ("provider", "provider_name", "billing"):
        if key in doc and not isinstance(doc[key], str):
            raise _err(origin, "file", key, f"must be a string, not {doc[key]!r}")


def _closest(value: str, choices) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_fields(origin: str, entry: str, table: dict, fields: tuple[str, ...]) -> None:
    for key in table:
        if key not in fields:
            raise _err(origin, entry, key, "is not a known field"
                       + (_closest(key, fields) or f"; valid: {', '.join(fields)}"))


def _err(origin: str, entry: str, field_: str, problem: str) -> CatalogError:
    return CatalogError(f"catalog {origin}: {entry}: field {field_!r} {problem}.")


def _number(origin, entry, name, value, *, positive=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err(origin, entry, name, f"must be a number, not {value!r}")
    if value < 0 or (positive and value == 0):
        raise _err(origin, entry, name, f"must be {'positive' if positive else 'zero or more'}, not {value}")
    return float(value)


def _strings(origin, entry, name, value) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _err(origin, entry, name, f"must be a list of strings, not {value!r}")
    return tuple(value)


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
        sm_count=None if "sm_count" not in d else int(_number(origin, entry, "sm_count", d["sm_count"], positive=True)),
        boost_clock_mhz=None if "boost_clock_mhz" not in d else _number(origin, entry, "boost_clock_mhz",
                                                                        d["boost_clock_mhz"], positive=True),
        tdp_watts=None if "tdp_w" not in d else _number(origin, entry, "tdp_w", d["tdp_w"], positive=True),
        aliases=_strings(origin, entry, "aliases", d.get("aliases", [])), source=str(d["source"]),
        derived=_strings(origin, entry, "derived", d.get("derived", [])), notes=str(d.get("notes", "")),
        checked=str(d.get("checked", "")),
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
        raise _err(origin, entry, "gpu", f"names unknown GPU {gpu!r}" + _closest(gpu, gpus))
    as_of = _date(origin, entry, "as_of", d["as_of"])
    limit = d.get("runtime_limit_hours")
    count = d.get("gpu_count", 1)
    vcpus = d.get("vcpus")
    if vcpus is not None and (isinstance(vcpus, bool) or not isinstance(vcpus, int) or vcpus < 1):
        raise _err(origin, entry, "vcpus", f"must be a whole number of vCPUs, 1 or more, not {vcpus!r}")
    for name in ("derived", "interconnect_assumed"):
        if name in d and not isinstance(d[name], bool):
            raise _err(origin, entry, name, f"must be true or false, not {d[name]!r}")
    for name in ("id", "instance", "source", "region", "gpu", "interconnect", "network_source", "last_known"):
        if name in d and not isinstance(d[name], str):
            raise _err(origin, entry, name, f"must be a string, not {d[name]!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise _err(origin, entry, "gpu_count", f"must be a whole number of GPUs, 1 or more, not {count!r}")
    interconnect = d.get("interconnect")
    if interconnect is not None and interconnect not in (interconnects or {}):
        raise _err(origin, entry, "interconnect", f"names unknown interconnect {interconnect!r}"
                   + _closest(interconnect, interconnects or {}))
    network = d.get("network_gbps")
    if network is not None:
        network = _number(origin, entry, "network_gbps", network, positive=True) * 1e9
        if "network_source" not in d:
            raise _err(origin, entry, "network_source", "is missing (network_gbps needs its source)")
    unknown = _strings(origin, entry, "unknown", d.get("unknown", []))
    for name in unknown:
        if name not in UNKNOWABLE_FIELDS:
            raise _err(origin, entry, "unknown", f"lists {name!r}, which is not a field that can be unknown"
                       + (_closest(name, UNKNOWABLE_FIELDS) or f"; valid: {', '.join(UNKNOWABLE_FIELDS)}"))
        if name in d:
            raise _err(origin, entry, "unknown", f"lists {name!r}, but the offer gives it; remove one of the two")
    return Offer(
        provider=provider, id=str(d["id"]), instance=str(d["instance"]), billing=billing,
        as_of=as_of, source=str(d["source"]), gpu=gpu, gpu_count=count,
        vcpus=vcpus,
        ram_bytes=None if "ram_gb" not in d else int(_number(origin, entry, "ram_gb", d["ram_gb"]) * 1e9),
        runtime_limit_hours=None if limit is None else _number(origin, entry, "runtime_limit_hours", limit, positive=True),
        region=d.get("region"), derived=bool(d.get("derived", False)), interconnect=interconnect,
        interconnect_assumed=bool(d.get("interconnect_assumed", False)), network_bits_per_s=network,
        network_source=str(d.get("network_source", "")),
        rates_seen=_rates_seen(origin, entry, d.get("rates_seen", [])), unknown=unknown,
        last_known=str(d.get("last_known", "")), origin=origin, **prices,
    )


def _date(origin, entry, name, value) -> _dt.date:
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value)
        except ValueError:
            pass
    elif isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return value
    raise _err(origin, entry, name, f"must be a date (YYYY-MM-DD), not {value!r}")


def _rates_seen(origin, entry, value) -> tuple[RateSeen, ...]:
    """`rates_seen = [{compute_units_per_hour = 1.19, as_of = "2026-03-10", source = "..."}, ...]`"""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _err(origin, entry, "rates_seen", "must be a list of tables ({ as_of = ..., source = ..., "
                   "compute_units_per_hour = ... })")
    seen = []
    for i, table in enumerate(value):
        where = f"{entry} rates_seen[{i}]"
        _check_fields(origin, where, table, RATE_SEEN_FIELDS)
        for name in ("as_of", "source"):
            if name not in table:
                raise _err(origin, where, name, "is missing")
        rates = {k: _number(origin, where, k, table[k], positive=True)
                 for k in ("compute_units_per_hour", "usd_per_hour") if k in table}
        if not rates:
            raise _err(origin, where, "compute_units_per_hour", "is missing (or usd_per_hour)")
        seen.append(RateSeen(as_of=_date(origin, where, "as_of", table["as_of"]), source=str(table["source"]),
                             **rates))
    return tuple(sorted(seen, key=lambda r: r.as_of))


def _read_toml(path) -> dict:
    origin = str(path)
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8") if isinstance(path, (str, Path))
                             else path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"catalog {origin}: no such file.") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalog {origin}: not valid TOML ({exc}).") from None
