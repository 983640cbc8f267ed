"""advise(): the catalog's offers predicted from this machine's profile (fixed records, no torch)."""

import datetime as dt
import re
from dataclasses import replace

from builders import make_calibration, make_profile, texts

from advisor.advise.advice import advise
from advisor.cloud.catalog import load_catalog
from advisor.model.stats import Samples
from advisor.model.workload import Workload

TODAY = dt.date(2026, 11, 29)


def jpeg_profile(decode=300.0):
    """A CPU profile whose resnet34 calibration read JPEGs with 2 workers, one process decoding
    `decode` images/s."""
    cal = make_calibration(data_source="imagefolder", workers=2, synthetic=(0.9, 0.9, 0.9))
    return make_profile(replace(cal, decode_images_per_s=Samples((decode,) * 3)))


def test_a_two_vcpu_colab_t4_is_bound_by_decoding_and_says_what_it_assumed():
    w = Workload(data_dir="/photos", workers=2)
    advice = advise(jpeg_profile(), w, load_catalog(), providers=("colab",), today=TODAY)
    t4 = next(o for o in advice.options if o.id == "colab:t4-gpu")
    assert t4.estimate.bound == "data"
    assert any("JPEG decoding assumed: 2 vCPUs as 1 core(s) of 2 hyper-threads, 300 images/s per core as "
               "measured here" in n for n in texts(t4.estimate.notes))
    g4 = next(o for o in advice.options if o.id == "colab:g4-gpu")  # 48 vCPUs keep up better
    assert g4.estimate.train_images_per_s > t4.estimate.train_images_per_s


def test_the_stale_warning_names_only_offers_in_the_answer():
    advice = advise(make_profile(), Workload(), load_catalog(), providers=("paperspace",), today=TODAY)
    shown = {o.id for o in advice.options[:10]} | {advice.recommendation.best, advice.recommendation.fastest,
                                                  advice.recommendation.cheapest}
    warning = next((w for w in advice.warnings if "older than 180 days" in w), "")
    named = set(re.findall(r"([\w-]+:[\w.-]+) \(\d{4}-", warning))
    assert named and named <= shown
    assert "offer(s)" not in warning  # offers are named, not counted
