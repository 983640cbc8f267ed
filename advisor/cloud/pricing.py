"""What an offer costs for a run of a given length, under its billing rule and session limit."""

from __future__ import annotations

import math

from advisor.cloud.catalog import Offer
from advisor.model.notes import Note, info, warning


def offer_cost(offer: Offer, seconds: float, spot: bool = False) -> tuple[float | None, int, list[Note]]:
    """Cost of running `seconds` on `offer` under its billing rule, the sessions its runtime
    limit splits the run into, and notes."""
    notes: list[Note] = []
    hourly = offer.hourly_usd(spot)
    sessions = 1
    if offer.runtime_limit_hours:
        sessions = max(1, math.ceil(seconds / (offer.runtime_limit_hours * 3600)))
        if sessions > 1:
            notes.append(warning("sessions", f"longer than the {offer.runtime_limit_hours:g} h session limit: "
                                 f"needs checkpoint and resume across {sessions} sessions"))
    if spot and offer.spot_usd_per_hour is None and offer.billing not in ("free",):
        notes.append(info("no-spot-price", "no spot price for this offer: on-demand price used"))
    if spot and offer.spot_usd_per_hour is not None:
        notes.append(warning("spot", "spot: can be preempted at any time; checkpoint to resume"))
    if hourly is None:
        notes.append(warning("cost-unknown", "no published rate for this offer: cost unknown"))
        return None, sessions, notes
    if offer.billing == "per_second_min_60s":
        cost = hourly * max(60.0, seconds) / 3600
    elif offer.billing == "hourly":
        per_session = seconds / sessions
        cost = hourly * sessions * math.ceil(per_session / 3600)
        notes.append(info("hourly-billing", "billed by the started hour"))
    else:  # compute units or free: continuous
        cost = hourly * seconds / 3600
    return cost, sessions, notes
