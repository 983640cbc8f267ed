"""Counting a step's work without running it, and scaling the count to other batch sizes."""

import pytest

from advisor.measure.opcount import bin_ops, count_step
from advisor.model.cost import PhaseCost, StepCost
from advisor.predict.roofline import Rates, phase_seconds


def test_bins_keep_what_each_image_adds():
    # a conv whose weights (400 bytes) are fixed and whose activations grow 100 bytes an image
    at_4 = [("conv", "convolution", 4000.0, 800.0), ("memory", "relu", 40.0, 320.0)]
    at_8 = [("conv", "convolution", 8000.0, 1200.0), ("memory", "relu", 80.0, 640.0)]
    phase = bin_ops(at_4, at_8, extra_images=4)
    conv = next(b for b in phase.bins if b.op_class == "conv")
    assert (conv.flops_per_sample, conv.bytes_per_sample) == (1000.0, 100.0)
    at_16 = phase.at_batch(12)
    assert at_16.compute_flops == 16000.0 and at_16.compute_bytes == 400.0 + 16 * 100.0
    assert at_16.memory_bytes == 16 * 80.0


def test_counts_that_dispatched_different_ops_give_no_per_image_parts():
    phase = bin_ops([("matmul", "mm", 10.0, 5.0)], [("memory", "view", 1.0, 5.0), ("matmul", "mm", 20.0, 9.0)], 1)
    assert not phase.scalable
    # the same classes, other ops: a transformer's addmm becomes mm at another batch
    assert not bin_ops([("matmul", "addmm", 10.0, 5.0)], [("matmul", "mm", 20.0, 9.0)], 1).scalable
    assert StepCost(1, phase, phase, phase, 10, 1).at_batch(4) is None


def test_per_image_parts_survive_a_round_trip_and_old_bins_still_load():
    phase = bin_ops([("conv", "convolution", 4.0, 2.0)], [("conv", "convolution", 8.0, 3.0)], 1)
    assert PhaseCost.from_dict(phase.to_dict()) == phase
    old = PhaseCost.from_dict({"bins": [["conv", 1, 4.0, 2.0, 1]]})
    assert old.bins[0].flops_per_sample is None and not old.scalable


@pytest.mark.slow
@pytest.mark.parametrize("model, size, batch", [("resnet18", 64, 8), ("mobilenet_v3_small", 96, 6),
                                                ("vit_b_16", 32, 4)])
def test_a_count_scaled_to_another_batch_matches_counting_it(model, size, batch):
    counted = count_step(model, 10, size, batch)
    assert counted.scalable
    for other in (2, 3 * batch):
        direct, scaled = count_step(model, 10, size, other), counted.at_batch(other)
        assert scaled.batch_size == other
        for name in ("train", "eval", "frozen"):
            d, s = getattr(direct, name), getattr(scaled, name)
            assert s.compute_flops == pytest.approx(d.compute_flops, rel=1e-9)
            assert s.memory_bytes == pytest.approx(d.memory_bytes, rel=1e-9)
            assert s.compute_bytes == pytest.approx(d.compute_bytes, rel=1e-9)
            assert s.ops == d.ops
            # bins are kept as counted, so an op near the ridge may sit in the neighbouring bin
            for rates in (Rates(1e11, 2e10, 1e-5), Rates(2e14, 2e12, 5e-6)):
                assert phase_seconds(s, rates) == pytest.approx(phase_seconds(d, rates), rel=0.02)


def test_training_counts_forward_backward_and_the_optimizer():
    cost = count_step("resnet18", 10, 64, 4)
    # backward computes two gradients per convolution: about three forward passes in all
    assert cost.train.compute_flops == pytest.approx(3 * cost.eval.compute_flops, rel=0.05)
    # with only the head trainable, the body's backward is skipped
    assert cost.frozen.compute_flops < 1.1 * cost.eval.compute_flops
    assert cost.parameters > cost.trainable_head_parameters > 0
