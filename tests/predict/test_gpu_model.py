"""Cross-hardware prediction: precision semantics, the roofline and the input pipeline."""

import pytest

from advisor.cloud.catalog import load_catalog
from advisor.model.cost import OpBin, PhaseCost
from advisor.predict.gpu import DEFAULT_GPU_EFFICIENCY, Efficiency, compute_path, gpu_phase_breakdown, gpu_phase_seconds
from advisor.predict.loader import loader_images_per_s

GPUS = load_catalog().gpus


@pytest.mark.parametrize("gpu, op_class, precision, path", [
    ("a100-40gb", "conv", "fp32", "tf32 tensor cores"),   # cudnn.allow_tf32 defaults to True
    ("a100-40gb", "matmul", "fp32", "fp32"),              # matmul.allow_tf32 defaults to False
    ("a100-40gb", "matmul", "tf32", "tf32 tensor cores"),
    ("a100-40gb", "conv", "fp32-strict", "fp32"),
    ("v100", "conv", "fp32", "fp32"),                      # no TF32 before Ampere
    ("v100", "conv", "amp-fp16", "fp16 tensor cores"),
    ("p100", "conv", "amp-fp16", "fp32"),                  # no tensor cores before Volta
    ("t4", "conv", "amp-bf16", "fp16 tensor cores"),       # no bf16 before Ampere: fp16 instead
    ("h100-sxm", "conv", "amp-bf16", "bf16 tensor cores"),
])
def test_precision_paths(gpu, op_class, precision, path):
    assert compute_path(GPUS[gpu], op_class, precision)[0].name == path


def test_unsupported_precisions_say_so():
    assert "no bf16 before Ampere" in compute_path(GPUS["t4"], "conv", "amp-bf16")[1]
    assert "no tensor cores" in compute_path(GPUS["p100"], "conv", "amp-fp16")[1]


EFF = Efficiency(tensor=0.5, simt=0.5, memory=0.5, launch_s=1e-5)


def test_each_bin_is_bound_by_flops_or_bytes_and_the_step_by_the_host_where_it_is_slower():
    a100 = GPUS["a100-40gb"]  # 156 TFLOPS TF32, 1555 GB/s
    cost = PhaseCost((
        OpBin("conv", 10, 78e12 * 0.01, 1e6, 1),  # 0.01 s of arithmetic at half of TF32 peak
        OpBin("memory", -4, 1e6, 777.5e9 * 0.02, 1),  # 0.02 s of traffic at half the bandwidth
        OpBin("memory", -4, 10, 100, 1000),  # 1000 tiny ops: 0.01 s of host time
    ))
    parts = gpu_phase_breakdown(cost, a100, "fp32", EFF)
    assert parts["compute"] == pytest.approx(0.01)
    assert parts["memory"] == pytest.approx(0.02)
    assert parts["other"] == 0.0  # the host's 0.01 s hides behind 0.03 s of device work
    assert gpu_phase_seconds(cost, a100, "fp32", EFF) == pytest.approx(0.03)
    # the host issues 5000 ops (0.05 s) for the same device work: the GPU waits 0.02 s
    busy = PhaseCost(cost.bins[:2] + (OpBin("memory", -4, 10, 100, 4998),))
    assert gpu_phase_breakdown(busy, a100, "fp32", EFF)["other"] == pytest.approx(0.02)
    assert gpu_phase_seconds(busy, a100, "fp32", EFF) == pytest.approx(0.05)


def test_16_bit_convolutions_on_nchw_tensors_pay_their_transposes():
    a100 = GPUS["a100-40gb"]
    cost = PhaseCost((OpBin("conv", 10, 1e12, 777.5e9 * 0.01, 10),))  # 0.01 s of traffic at half the bandwidth
    eff = Efficiency(tensor=0.5, simt=0.5, memory=0.5, launch_s=0.0, nchw_transpose=0.75)
    nchw = gpu_phase_breakdown(cost, a100, "amp-fp16", eff)
    nhwc = gpu_phase_breakdown(cost, a100, "amp-fp16", eff, channels_last=True)
    assert nchw["memory"] - nhwc["memory"] == pytest.approx(0.0075)
    # FP32 and TF32 convolutions read NCHW directly
    assert gpu_phase_breakdown(cost, a100, "fp32", eff) == gpu_phase_breakdown(cost, a100, "fp32", eff, True)


def test_faster_gpus_predict_shorter_steps():
    cost = PhaseCost((OpBin("conv", 8, 1e12, 1e9, 100), OpBin("memory", -3, 1e8, 4e9, 200)))
    times = [gpu_phase_seconds(cost, GPUS[g], "fp32", DEFAULT_GPU_EFFICIENCY)
             for g in ("k80", "t4", "v100", "a100-40gb", "h100-sxm")]
    assert times == sorted(times, reverse=True)


def test_loader_throughput_follows_the_measured_worker_curve():
    assert loader_images_per_s(1, 280) == pytest.approx(280)
    assert loader_images_per_s(2, 280) == pytest.approx(280 * 1.96)
    assert loader_images_per_s(8, 100) == pytest.approx(475)
    assert loader_images_per_s(3, 100) < loader_images_per_s(4, 100) < loader_images_per_s(32, 100)
