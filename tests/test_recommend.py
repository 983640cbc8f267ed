from advisor.estimate import estimate_impl
from advisor.recommend import Option, local_option, recommend_impl
from advisor.workload import Workload

from conftest import make_calibration


def _estimate(step_seconds):
    return estimate_impl(Workload(), make_calibration(train=(step_seconds,) * 3), accelerator="X")


def test_local_only_recommends_this_machine():
    rec = recommend_impl([local_option(_estimate(1.0))])
    assert (rec.best, rec.fastest, rec.cheapest) == ("local", "local", None)


def test_a_gpu_less_than_3x_faster_is_not_worth_it():
    options = [local_option(_estimate(1.0)), Option("gpu", "cloud", "T4", 1, _estimate(0.5), cost_usd=0.2)]
    rec = recommend_impl(options, objective="time")  # the GPU is fastest, but only 2x
    assert rec.best == "local" and rec.fastest == "gpu" and rec.cheapest == "gpu"
    assert "stay here" in rec.reason


def test_a_gpu_more_than_3x_faster_is_recommended():
    options = [local_option(_estimate(1.0)), Option("gpu", "cloud", "T4", 1, _estimate(0.1), cost_usd=0.2)]
    assert recommend_impl(options).best == "gpu"


def test_option_json_keeps_the_contract():
    d = local_option(_estimate(1.0)).to_dict()
    for key in ("id", "provider", "accelerator", "count", "seconds", "seconds_low", "seconds_high",
                "train_images_per_s", "cost_usd", "fits_memory", "bottleneck", "notes"):
        assert key in d
    assert d["id"] == "local" and d["cost_usd"] is None and isinstance(d["notes"], list)
