from builders import make_calibration, texts

from advisor.advise.options import Option, local_option, recommend_options
from advisor.model.workload import Workload
from advisor.predict.whole_run import whole_run_estimate


def _estimate(step_seconds, images=7390):
    return whole_run_estimate(Workload(dataset_size=images), make_calibration(train=(step_seconds,) * 3),
                         accelerator="X")


def test_local_only_recommends_this_machine():
    rec = recommend_options([local_option(_estimate(1.0))])
    assert (rec.best, rec.fastest, rec.cheapest) == ("local", "local", None)


def test_a_gpu_less_than_3x_faster_is_not_worth_it():
    options = [local_option(_estimate(1.0)), Option("gpu", "cloud", "T4", 1, _estimate(0.5), cost_usd=0.2)]
    rec = recommend_options(options, objective="time")  # the GPU is fastest, but only 2x
    assert rec.best == "local" and rec.fastest == "gpu" and rec.cheapest == "gpu"
    assert rec.reason.startswith("train on this machine: gpu would be only 1.9x faster")


def test_a_gpu_more_than_3x_faster_is_recommended():
    # an hour here (1 s a step), 10 minutes there
    options = [local_option(_estimate(1.0, images=73900)),
               Option("gpu", "cloud", "T4", 1, _estimate(0.1, images=73900), cost_usd=0.2)]
    rec = recommend_options(options)
    assert rec.best == "gpu" and "faster than this machine" in rec.reason


def test_a_bare_gpu_has_no_price_so_balanced_keeps_this_machine_and_says_what_it_leaves():
    # about three hours here (1 s a step), steps a hundred times shorter on a bare GPU the
    # catalog does not price (15x sooner with the run's one-time set-up)
    options = [local_option(_estimate(1.0, images=739000)),
               Option("target:h100", "GPU", "H100", 1, _estimate(0.01, images=739000))]
    rec = recommend_options(options)
    assert rec.best == "local" and rec.fastest == "target:h100" and rec.cheapest is None
    assert rec.reason.startswith("train on this machine: it is the best priced option by balanced; target:h100 "
                                 "(H100) would be 15x faster, but has no price as a bare GPU")
    # a bare GPU not worth the move is not mentioned
    options = [local_option(_estimate(1.0)), Option("target:h100", "GPU", "H100", 1, _estimate(0.1))]
    assert recommend_options(options).reason == "train on this machine: it is the best option by balanced."


def test_a_run_of_minutes_stays_here_when_moving_it_takes_minutes_too():
    from advisor.advise.options import MOVE_OVERHEAD_S

    # 6.6 minutes here, 1 minute on the GPU: 6x faster, but not once the machine is started
    local, gpu = _estimate(1.0), _estimate(0.1)
    assert local.seconds / gpu.seconds > 3 and local.seconds / (gpu.seconds + MOVE_OVERHEAD_S) < 3
    rec = recommend_options([local_option(local), Option("gpu", "cloud", "T4", 1, gpu, cost_usd=0.2)])
    assert rec.best == "local" and rec.fastest == "gpu"
    assert "starting a machine" in rec.reason and rec.reason.startswith("train on this machine")
    assert rec.to_dict()["move_overhead_seconds"] == MOVE_OVERHEAD_S  # the rule is in the JSON too


def test_option_json_keeps_the_contract():
    d = local_option(_estimate(1.0)).to_dict()
    for key in ("id", "provider", "accelerator", "count", "seconds", "seconds_low", "seconds_high",
                "train_images_per_s", "cost_usd", "fits_memory", "bottleneck", "notes"):
        assert key in d
    assert d["id"] == "local" and d["cost_usd"] is None and isinstance(d["notes"], list)


# -- cost ------------------------------------------------------------------------------------

import datetime as dt  # noqa: E402

import pytest  # noqa: E402

from advisor.advise.options import apply_constraints, parse_duration, sort_options  # noqa: E402
from advisor.cloud.catalog import Offer  # noqa: E402
from advisor.cloud.pricing import offer_cost  # noqa: E402
from advisor.errors import UsageError  # noqa: E402


def offer(**kw):
    base = dict(provider="gcp", id="x", instance="x", billing="per_second_min_60s",
                as_of=dt.date(2026, 7, 30), source="t", usd_per_hour=3.6)
    return Offer(**{**base, **kw})


def test_gcp_bills_per_second_after_a_minute():
    assert offer_cost(offer(), 30)[0] == pytest.approx(3.6 * 60 / 3600)
    assert offer_cost(offer(), 1800)[0] == pytest.approx(1.8)


def test_hourly_billing_rounds_up_each_started_hour():
    assert offer_cost(offer(billing="hourly", usd_per_hour=0.76), 55)[0] == pytest.approx(0.76)
    assert offer_cost(offer(billing="hourly", usd_per_hour=0.76), 3601)[0] == pytest.approx(1.52)


def test_compute_units_and_free_tiers():
    colab = offer(billing="compute_units", usd_per_hour=None, compute_units_per_hour=13.08,
                  usd_per_compute_unit=0.0999)
    assert offer_cost(colab, 3600)[0] == pytest.approx(13.08 * 0.0999)
    assert offer_cost(offer(billing="free", usd_per_hour=0.0), 3600)[0] == 0.0
    unpriced = offer(billing="compute_units", usd_per_hour=None, usd_per_compute_unit=0.0999)
    usd, _, notes = offer_cost(unpriced, 3600)
    assert usd is None and any("no published rate" in n for n in texts(notes))


def test_runtime_limit_counts_sessions():
    usd, sessions, notes = offer_cost(offer(billing="free", usd_per_hour=0.0, runtime_limit_hours=12), 30 * 3600)
    assert sessions == 3 and any("checkpoint and resume across 3 sessions" in n for n in texts(notes))


def test_spot_price_when_asked():
    assert offer_cost(offer(spot_usd_per_hour=1.8), 3600, spot=True)[0] == pytest.approx(1.8)
    usd, _, notes = offer_cost(offer(), 3600, spot=True)
    assert usd == pytest.approx(3.6) and any("no spot price" in n for n in texts(notes))


# -- constraints and ranking -----------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [
    ("2h30m", 9000), ("90m", 5400), ("45s", 45), ("1d", 86400), ("1:30:00", 5400), ("0:45", 45),
    ("600", 600), ("1.5h", 5400),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "2x", "", "h"])
def test_unparsable_durations(text):
    with pytest.raises(UsageError, match="is not a duration"):
        parse_duration(text)


def _option(oid, step_seconds, cost):
    return Option(oid, "p", "A", 1, _estimate(step_seconds), cost_usd=cost)


def test_constraints_exclude_and_say_why():
    options = [local_option(_estimate(10.0)), _option("fast", 0.1, 5.0), _option("cheap", 1.0, 0.5),
               _option("unpriced", 0.2, None)]
    kept, excluded = apply_constraints(options, max_cost=1.0, deadline_s=options[2].estimate.seconds * 1.01)
    assert [o.id for o in kept] == ["cheap"]
    reasons = {x["id"]: x["reason"] for x in excluded}
    assert reasons["fast"] == "costs $5.00, over the cost limit of $1" and "cost unknown" in reasons["unpriced"]
    assert "past the deadline of" in reasons["local"]


def test_nothing_meets_the_constraints_names_what_excluded_what():
    rec = recommend_options([], excluded=[{"id": "gcp:x", "reason": "costs $5.00, over --max-cost $1"}])
    assert rec.best is None and "gcp:x costs $5.00" in rec.reason


def test_objectives_order_the_options():
    options = [_option("fast", 0.1, 5.0), _option("cheap", 1.0, 0.1), _option("mid", 0.2, 0.3)]
    assert [o.id for o in sort_options(options, "time")] == ["fast", "mid", "cheap"]
    assert [o.id for o in sort_options(options, "cost")] == ["cheap", "mid", "fast"]
    assert sort_options(options, "balanced")[0].id == "mid"
    # a free option 30x slower does not beat one that costs 1.7x more and runs 96x faster
    days = [_option("local", 5431.0, None), _option("t4", 182.5, 98.55), _option("8xh100", 1.9, 169.0)]
    assert [o.id for o in sort_options(days, "balanced")][:2] == ["8xh100", "local"]
    with pytest.raises(UsageError):
        sort_options(options, "speed")


def test_options_that_do_not_fit_go_last_and_are_never_best():
    from dataclasses import replace

    big = _option("big", 0.01, 0.01)
    big = replace(big, estimate=replace(big.estimate, fits_memory=False))
    options = [big, _option("ok", 1.0, 1.0)]
    assert [o.id for o in sort_options(options, "time")] == ["ok", "big"]
    assert recommend_options(options, "time").best == "ok"


def test_one_gpu_against_several_says_which_is_sooner_and_which_is_cheaper():
    from advisor.advise.options import compare_gpu_counts

    one = Option("t4", "colab", "T4", 1, _estimate(0.1), cost_usd=0.01, offer=offer(id="t4", gpu="t4"))
    many = Option("2l4", "gcp", "2x L4", 2, _estimate(0.2), cost_usd=0.03,
                  offer=offer(id="2l4", gpu="l4", gpu_count=2))
    text = compare_gpu_counts([one, many], "time")
    assert "the single GPU is" in text and "sooner and 3.0x cheaper." in text
    # several GPUs sooner and dearer
    many = Option("2l4", "gcp", "2x L4", 2, _estimate(0.05), cost_usd=0.03,
                  offer=offer(id="2l4", gpu="l4", gpu_count=2))
    assert compare_gpu_counts([one, many], "time").endswith("x sooner, at 3.0x the cost.")


def test_advice_as_a_dataframe_has_one_row_per_option_with_its_marks():
    from builders import make_calibration, make_profile

    from advisor.advise import advise
    from advisor.cloud.catalog import load_catalog

    prof = make_profile(make_calibration())
    advice = advise(prof, Workload(dataset_size=7390), load_catalog(), providers=("colab",))
    df = advice.to_frame()
    assert list(df["id"]) == [o.id for o in advice.options]
    best = df.loc[df["id"] == advice.recommendation.best, "mark"].item()
    assert "B" in best and {"seconds", "seconds_low", "seconds_high", "cost_usd", "bound", "fits_memory",
                            "seconds_training"} <= set(df.columns)
