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


def _count(model, size=8, batch=2):
    from advisor.measure.opcount import count_module, meta_copy

    return count_module(lambda: meta_copy(model), (model[0].in_channels, size, size), batch)


def test_in_place_ops_are_counted_like_the_kernels_they_launch():
    import torch.nn as nn

    def net(inplace):
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=inplace), nn.Flatten(), nn.Linear(144, 5))

    inplace, copying = _count(net(True)), _count(net(False))
    assert inplace.eval.ops == copying.eval.ops
    assert inplace.eval.memory_bytes == pytest.approx(copying.eval.memory_bytes)


def test_a_training_step_knows_its_backward_and_optimizer_ops_and_the_tensors_it_updates():
    import torch.nn as nn

    cost = _count(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 5)))
    st = cost.train.stages
    # SGD with momentum, steady state: momentum update, gradient added, parameter updated
    assert (st.tensors, st.elements) == (4, 4 * 3 * 9 + 4 + 144 * 5 + 5)
    assert st.optimizer == 3 * 4
    assert 0 < st.backward < cost.train.ops - st.optimizer
    assert cost.eval.stages is None
    # only the head trains in the frozen phase
    assert cost.frozen.stages.tensors == 2
    assert StepCost.from_dict(cost.to_dict()) == cost


def test_depthwise_convolutions_are_a_class_of_their_own():
    import torch.nn as nn

    depthwise = _count(nn.Sequential(nn.Conv2d(8, 8, 3, groups=8), nn.Flatten(), nn.Linear(288, 5)))
    grouped = _count(nn.Sequential(nn.Conv2d(8, 8, 3, groups=2), nn.Flatten(), nn.Linear(288, 5)))
    assert {b.op_class for b in depthwise.train.bins} >= {"depthwise", "matmul"}
    assert "conv" not in {b.op_class for b in depthwise.train.bins}
    assert "depthwise" not in {b.op_class for b in grouped.train.bins}


def test_counts_written_before_in_place_ops_were_counted_are_not_current():
    cost = count_step("resnet18", 10, 32, 2)
    assert cost.current
    old = cost.to_dict()
    del old["counting"]
    assert not StepCost.from_dict(old).current
