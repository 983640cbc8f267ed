"""Keeping the catalog honest: which entries are old, unsourced or incomplete.

`check_catalog` is what `advisor catalog check` prints; `stale_offers` is what a
recommendation warns about, for the offers that matter to its answer.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from advisor.cloud.records import STALE_PRICE_DAYS, Catalog, Offer

# A maintainer's threshold: a price nobody confirmed for a year fails the check. Users are
# warned earlier (STALE_PRICE_DAYS) about the offers in their answer.
CHECK_MAX_AGE_DAYS = 365


@dataclass(frozen=True)
class Finding:
    offer: str  # the offer's key, provider:id
    kind: str  # stale, last-known, no-source, missing-machine, no-rate, rate-not-latest, needless-last-known
    text: str
    fails: bool  # False: reported, but the entry says why it is kept (last_known)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def check_catalog(catalog: Catalog, today: _dt.date, max_age_days: int = CHECK_MAX_AGE_DAYS) -> list[Finding]:
    """Every problem of every offer, failing ones first."""
    findings: list[Finding] = []
    for o in catalog.offers:
        findings.extend(_offer_findings(o, today, max_age_days))
    return sorted(findings, key=lambda f: (not f.fails, f.offer))


def _offer_findings(o: Offer, today: _dt.date, max_age_days: int):
    def finding(kind, text, fails=True):
        return Finding(o.key, kind, text, fails)

    age = o.age_days(today)
    what = "availability" if o.billing == "free" else "price"
    if age > max_age_days:
        if o.last_known:
            yield finding("last-known", f"{what} as of {o.as_of} ({age} days), kept: {o.last_known}", fails=False)
        else:
            yield finding("stale", f"{what} as of {o.as_of}, {age} days old (more than {max_age_days}); "
                          "confirm it and update as_of and source, or say why it is kept in last_known")
    elif o.last_known:
        yield finding("needless-last-known", f"as_of {o.as_of} is within {max_age_days} days, but last_known "
                      "says the price is unconfirmed; remove one of the two")
    if not o.source.strip():
        yield finding("no-source", "no source: name where the price and machine figures come from")
    missing = [name for name, value in (("vcpus", o.vcpus), ("ram_gb", o.ram_bytes))
               if value is None and name not in o.unknown]
    if missing:
        yield finding("missing-machine", f"no {' or '.join(missing)}: give {'them' if len(missing) > 1 else 'it'}, "
                      "or list what no source publishes in `unknown`")
    if o.billing == "compute_units" and o.compute_units_per_hour is None \
            and "compute_units_per_hour" not in o.unknown:
        yield finding("no-rate", "billed in compute units, but no `compute_units_per_hour`: give it, or list it "
                      "in `unknown`")
    if o.rates_seen and o.rates_seen[-1].as_of > o.as_of:
        latest = o.rates_seen[-1]
        yield finding("rate-not-latest", f"a rate seen {latest.as_of} ({latest.source}) is newer than the price "
                      f"used (as of {o.as_of})")


def stale_offers(offers, today: _dt.date, days: int = STALE_PRICE_DAYS) -> list[Offer]:
    """Priced offers whose price is older than `days`, oldest first."""
    return sorted((o for o in offers if o.billing != "free" and o.age_days(today) > days), key=lambda o: o.as_of)


def stale_warning(offers, today: _dt.date, days: int = STALE_PRICE_DAYS, named: int = 5) -> str | None:
    """A warning naming the offers among `offers` whose prices are older than `days`."""
    old = stale_offers(offers, today, days)
    if not old:
        return None
    names = [f"{o.key} ({o.as_of}{', last known' if o.last_known else ''})" for o in old[:named]]
    more = f" and {len(old) - named} more" if len(old) > named else ""
    return (f"prices older than {days} days: {', '.join(names)}{more}; check them "
            "(`advisor catalog check`), or add current ones in a catalog file")
