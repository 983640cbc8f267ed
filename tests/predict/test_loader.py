"""The decode-scaling rule: a cloud machine's DataLoader from its vCPU count."""

import pytest

from advisor.predict.loader import (
    CLOUD_THREADS_PER_CORE,
    DEFAULT_DECODE_IMAGES_PER_S,
    HYPERTHREAD_GAIN,
    loader_rate,
    loader_scaling,
)


def test_two_cloud_vcpus_are_one_core_and_decode_far_less_than_twice_one_process():
    # a 2-vCPU Colab runtime is one core's two hyper-threads: 1.25x, not 2x
    assert loader_scaling(2) == pytest.approx(HYPERTHREAD_GAIN)
    assert 1.2 < loader_scaling(2) < 1.3


def test_sixteen_vcpus_reproduce_the_fifteen_worker_measurement_not_fifteen_times():
    assert loader_scaling(16) == pytest.approx(5.93, rel=0.01)


def test_scaling_grows_with_vcpus_but_ever_more_slowly():
    ratios = [loader_scaling(v) for v in (1, 2, 4, 8, 12, 16, 48)]
    assert ratios == sorted(ratios)
    per_vcpu = [r / v for r, v in zip(ratios, (1, 2, 4, 8, 12, 16, 48))]
    assert per_vcpu == sorted(per_vcpu, reverse=True)


def test_a_lone_vcpu_decodes_as_one_process():
    assert loader_scaling(1) == pytest.approx(1.0)


def test_the_training_process_takes_its_share_of_the_vcpus():
    idle = loader_rate(2, 272.0).images_per_s
    busy = loader_rate(2, 272.0, main_busy_share=0.5).images_per_s
    assert busy == pytest.approx(idle * (1 - 0.5 / 2))
    assert loader_rate(2, 272.0, main_busy_share=3.0).main_busy_share == 1.0  # at most one vCPU


def test_the_rate_says_what_it_assumed():
    measured = loader_rate(2, 272.0, main_busy_share=0.05)
    text = measured.describe()
    assert "2 vCPUs" in text and "272 images/s per core as measured here" in text and "1 core" in text
    default = loader_rate(12, None)
    assert default.per_core_images_per_s == DEFAULT_DECODE_IMAGES_PER_S and not default.per_core_measured
    assert "none measured here" in default.describe()
    assert default.cores == 12 / CLOUD_THREADS_PER_CORE
