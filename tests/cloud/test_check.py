"""`advisor catalog check`: old, unsourced or incomplete entries, and the shipped catalog passes."""

import datetime as dt

import pytest

from advisor.cloud.catalog import CatalogError, catalog_from_documents, check_catalog, load_catalog, stale_warning

TODAY = dt.date(2026, 11, 29)
T4 = {"name": "Tesla T4", "arch": "turing", "compute_capability": "7.5", "vram_gb": 16,
      "memory_bandwidth_gb_per_s": 320, "fp32_tflops": 8.1, "source": "datasheet"}


def catalog(drop=(), billing="hourly", **fields):
    """A catalog of one GCP offer with a T4: vCPUs, memory, a recent sourced price, unless changed."""
    offer = {"id": "box", "instance": "a box", "as_of": "2026-10-01", "source": "a page", "usd_per_hour": 1.0,
             "gpu": "t4", "vcpus": 4, "ram_gb": 16, **fields}
    for name in drop:
        offer.pop(name)
    return catalog_from_documents([("gpus.toml", {"gpu": {"t4": T4}}),
                                   ("offers.toml", {"provider": "gcp", "billing": billing, "offer": [offer]})])


def kinds(cat, days=365):
    return {(f.kind, f.fails) for f in check_catalog(cat, TODAY, days)}


def test_the_shipped_catalog_passes():
    findings = check_catalog(load_catalog(), TODAY)
    assert not [f for f in findings if f.fails], [f.text for f in findings if f.fails]


def test_no_shipped_colab_offer_is_older_than_2026():
    colab = [o for o in load_catalog().offers if o.provider == "colab"]
    assert colab and all(o.as_of >= dt.date(2026, 1, 1) for o in colab)


def test_colab_l4_and_g4_are_priced_and_their_cpus_known():
    offers = {o.id: o for o in load_catalog().offers if o.provider == "colab"}
    for runtime, vcpus in (("l4-gpu", 12), ("g4-gpu", 48), ("t4-gpu", 2), ("t4-gpu-free", 2)):
        assert offers[runtime].hourly_usd() is not None and offers[runtime].vcpus == vcpus


def test_a_drifting_colab_rate_keeps_the_rates_seen_and_prices_with_the_latest():
    t4 = next(o for o in load_catalog().offers if o.key == "colab:t4-gpu")
    assert t4.compute_units_per_hour == t4.rates_seen[-1].compute_units_per_hour
    low, high = t4.rate_range()
    assert low.compute_units_per_hour < high.compute_units_per_hour and low.as_of.year == high.as_of.year == 2026


def test_a_clean_entry_has_no_findings():
    assert kinds(catalog()) == set()


def test_an_old_price_fails_unless_the_entry_says_why_it_is_kept():
    assert ("stale", True) in kinds(catalog(as_of="2024-01-01"))
    assert kinds(catalog(as_of="2024-01-01", last_known="no later source")) == {("last-known", False)}
    assert kinds(catalog(as_of="2024-01-01"), days=2000) == set()


def test_a_reason_for_an_old_price_on_a_fresh_one_is_a_contradiction():
    assert ("needless-last-known", True) in kinds(catalog(last_known="unconfirmed"))


def test_a_blank_source_fails():
    assert ("no-source", True) in kinds(catalog(source=" "))


def test_missing_vcpus_or_memory_fail_unless_recorded_as_unknown():
    assert ("missing-machine", True) in kinds(catalog(drop=("vcpus",)))
    assert ("missing-machine", True) in kinds(catalog(drop=("ram_gb",)))
    assert kinds(catalog(drop=("vcpus", "ram_gb"), unknown=["vcpus", "ram_gb"])) == set()


def test_a_compute_unit_offer_without_a_rate_fails_unless_recorded_as_unknown():
    cu = {"drop": ("usd_per_hour",), "billing": "compute_units", "usd_per_compute_unit": 0.1}
    assert ("no-rate", True) in kinds(catalog(**cu))
    assert kinds(catalog(**cu, unknown=["compute_units_per_hour"])) == set()
    assert kinds(catalog(**cu, compute_units_per_hour=1.07)) == set()


def test_a_rate_seen_after_the_price_used_fails():
    seen = [{"compute_units_per_hour": 1.2, "as_of": "2026-11-01", "source": "a log"}]
    cu = {"drop": ("usd_per_hour",), "billing": "compute_units", "usd_per_compute_unit": 0.1,
          "compute_units_per_hour": 1.07}
    assert ("rate-not-latest", True) in kinds(catalog(**cu, rates_seen=seen))


@pytest.mark.parametrize("fields, message", [
    ({"unknown": ["vcpus"]}, "lists 'vcpus', but the offer gives it"),
    ({"unknown": ["vcpu"]}, "did you mean 'vcpus'"),
    ({"rates_seen": [{"compute_units_per_hour": 1.0, "source": "x"}]}, "'as_of' is missing"),
    ({"rates_seen": [{"as_of": "2026-01-01", "source": "x"}]}, "'compute_units_per_hour' is missing"),
    ({"rates_seen": [{"as_of": "2026-01-01", "source": "x", "cu": 1}]}, "not a known field"),
    ({"rates_seen": "1.07"}, "must be a list of tables"),
    ({"last_known": True}, "must be a string"),
])
def test_bad_new_fields_name_the_entry_and_what_is_valid(fields, message):
    with pytest.raises(CatalogError, match=message):
        catalog(**fields)


def test_the_stale_warning_names_the_offers_not_a_count():
    old = catalog(as_of="2024-01-01", last_known="no later source").offers
    text = stale_warning(old, TODAY)
    assert "gcp:box (2024-01-01, last known)" in text and "older than 180 days" in text
    assert stale_warning(catalog().offers, TODAY) is None
