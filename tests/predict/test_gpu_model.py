"""The GPU step model: precision paths, device and host time, how steps follow batch and precision."""

import pytest

from advisor.cloud.catalog import load_catalog
from advisor.model.cost import OpBin, PhaseCost, StageOps
from advisor.predict.gpu import (
    DEFAULT_GPU_EFFICIENCY,
    Efficiency,
    autocast_ops,
    compute_path,
    foreach_optimizer,
    gpu_phase,
    gpu_phase_seconds,
)
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


# plain constants, so that each term can be checked by hand: half of every peak, no intensity
# penalty, no kernel cost, a host that takes 10 µs an op and nothing per step, a hard maximum
EFF = Efficiency(conv_tensor=0.5, matmul_tensor=0.5, simt=0.5, memory=0.5, half_intensity=0.0, kernel_s=0.0,
                 host_op_s=1e-5, host_step_s=0.0, overlap=1e6, cast_ops=0.0)
A100 = GPUS["a100-40gb"]  # 156 TFLOPS TF32, 19.5 FP32, 1555 GB/s


def test_each_bin_is_bound_by_arithmetic_or_traffic_and_the_step_by_the_slower_of_host_and_device():
    cost = PhaseCost((
        OpBin("conv", 10, 78e12 * 0.01, 1e6, 1),  # 0.01 s of arithmetic at half of TF32 peak
        OpBin("memory", -4, 1e6, 777.5e9 * 0.02, 1),  # 0.02 s of traffic at half the bandwidth
        OpBin("memory", -4, 0.0, 0.0, 998),  # allocations and reshapes: host time, no kernel
    ))
    parts = gpu_phase(cost, A100, "fp32", EFF)
    assert parts.compute_s == pytest.approx(0.01) and parts.memory_s == pytest.approx(0.02)
    assert parts.host_s == pytest.approx(0.01) and parts.seconds == pytest.approx(0.03)
    assert parts.bound == "memory"
    # the host issues 5000 ops (0.05 s) for the same device work: the GPU waits
    busy = PhaseCost(cost.bins[:2] + (OpBin("memory", -4, 0.0, 0.0, 4998),))
    assert gpu_phase(busy, A100, "fp32", EFF).seconds == pytest.approx(0.05)
    assert gpu_phase(busy, A100, "fp32", EFF).bound == "host"


def test_a_convolution_runs_on_the_fp32_units_where_they_beat_the_tensor_cores_share():
    # convolutions reach a fifth of the TF32 peak, FP32 kernels 70 % of theirs: cuDNN's autotuning
    # keeps the faster, which on an A10 (TF32 only twice FP32) is the FP32 units, on an A100 not
    from dataclasses import replace

    eff = replace(EFF, conv_tensor=0.2, simt=0.7)
    conv = PhaseCost((OpBin("conv", 10, 1e12, 1e6, 1),))
    a10, a100 = GPUS["a10"], A100
    assert gpu_phase(conv, a10, "fp32", eff).compute_s == pytest.approx(1e12 / (0.7 * a10.fp32_flops_per_s))
    assert gpu_phase(conv, a100, "fp32", eff).compute_s == pytest.approx(1e12 / (0.2 * a100.tf32_tensor_flops_per_s))
    # the A10's 16-bit tensor cores (four times FP32) win
    assert gpu_phase(conv, a10, "amp-fp16", eff).compute_s == pytest.approx(1e12 / (0.2 * a10.fp16_tensor_flops_per_s))


def test_host_and_device_overlap_less_than_fully_near_the_crossover():
    cost = PhaseCost((OpBin("conv", 10, 78e12 * 0.01, 1e6, 1), OpBin("memory", -4, 0.0, 0.0, 999)))
    soft = Efficiency(**{**EFF.__dict__, "overlap": 2.0})
    # 0.01 s on each side: a hard maximum says 0.01 s, the soft one sqrt(2) x that
    assert gpu_phase_seconds(cost, A100, "fp32", EFF) == pytest.approx(0.01)
    assert gpu_phase_seconds(cost, A100, "fp32", soft) == pytest.approx(0.01 * 2 ** 0.5)


def test_kernels_cost_time_of_their_own_and_low_intensity_slows_arithmetic():
    cost = PhaseCost((OpBin("conv", 6, 78e12 * 0.01, 78e12 * 0.01 / 64, 100),))  # 64 FLOPs a byte
    slow = Efficiency(**{**EFF.__dict__, "kernel_s": 1e-5, "half_intensity": 64.0})
    parts = gpu_phase(cost, A100, "fp32", slow)
    assert parts.compute_s == pytest.approx(0.02)  # half the rate at the half intensity
    assert parts.kernels_s == pytest.approx(1e-3)


def _resnet_like(batch: int) -> PhaseCost:
    """A resnet34-like training step: per image 22 GFLOPs of convolutions and 170 MB of
    traffic, 250 ops."""
    return PhaseCost((OpBin("conv", 6, 0.0, 0.0, 80, 22e9, 22e9 / 200),
                      OpBin("memory", -3, 0.0, 0.0, 170, 1e7, 6e7))).at_batch(batch)


# a GPU step model as fitted: 30 µs an op on the host, 1 ms a step, a soft maximum
FITTED = Efficiency(conv_tensor=0.3, matmul_tensor=0.6, simt=0.8, memory=1.0, half_intensity=100.0,
                    kernel_s=2e-6, host_op_s=30e-6, host_step_s=1e-3, overlap=2.0, cast_ops=2.0)


def test_throughput_grows_with_the_batch_until_the_gpu_saturates():
    h100 = GPUS["h100-sxm"]
    rate = {b: b / gpu_phase_seconds(_resnet_like(b), h100, "fp32", FITTED) for b in (4, 8, 256, 512)}
    assert rate[8] / rate[4] > 1.7  # host-bound: a bigger batch costs almost nothing
    assert rate[512] / rate[256] < 1.1  # device-bound: twice the batch, about twice the time
    assert gpu_phase(_resnet_like(4), h100, "fp32", FITTED).bound == "host"
    assert gpu_phase(_resnet_like(512), h100, "fp32", FITTED).bound == "compute"


def test_pytorch_fp32_runs_convolutions_in_tf32_but_matmuls_in_fp32():
    conv = PhaseCost((OpBin("conv", 8, 1e12, 1e9, 10),))
    matmul = PhaseCost((OpBin("matmul", 8, 1e12, 1e9, 10),))
    t = {(name, p): gpu_phase_seconds(c, A100, p, EFF, training=False)
         for name, c in (("conv", conv), ("matmul", matmul)) for p in ("fp32", "tf32", "fp32-strict")}
    assert t["conv", "fp32"] == t["conv", "tf32"] < t["conv", "fp32-strict"]
    assert t["matmul", "fp32"] == t["matmul", "fp32-strict"] == pytest.approx(8 * t["matmul", "tf32"])


def test_autocast_adds_host_ops_for_each_forward_matmul_and_convolution():
    forward = PhaseCost((OpBin("conv", 8, 1e9, 1e7, 30), OpBin("matmul", 8, 1e9, 1e7, 2),
                         OpBin("memory", -3, 1e6, 1e7, 60)))
    eff = Efficiency(**{**EFF.__dict__, "cast_ops": 2.0})
    assert autocast_ops(forward, "amp-bf16", eff) == 64 and autocast_ops(forward, "fp32", eff) == 0
    tiny = PhaseCost((OpBin("conv", 8, 1e3, 1e2, 300),))  # host-bound: casts are pure cost
    assert gpu_phase_seconds(tiny, A100, "amp-bf16", eff, cast_ops=64) > gpu_phase_seconds(tiny, A100, "fp32", eff)


def test_16_bit_convolutions_on_nchw_tensors_pay_their_transposes():
    cost = PhaseCost((OpBin("conv", 0, 1e9, 777.5e9 * 0.01, 10),))  # 0.01 s of traffic at half the bandwidth
    eff = Efficiency(**{**EFF.__dict__, "host_op_s": 0.0, "nchw_transpose": 0.75})
    nchw = gpu_phase(cost, A100, "amp-fp16", eff)
    nhwc = gpu_phase(cost, A100, "amp-fp16", eff, channels_last=True)
    assert nchw.memory_s - nhwc.memory_s == pytest.approx(0.0075)
    # FP32 and TF32 convolutions read NCHW directly
    assert gpu_phase(cost, A100, "fp32", eff) == gpu_phase(cost, A100, "fp32", eff, channels_last=True)


def test_faster_gpus_predict_shorter_device_bound_steps():
    cost = _resnet_like(256)
    times = [gpu_phase_seconds(cost, GPUS[g], "fp32", DEFAULT_GPU_EFFICIENCY)
             for g in ("k80", "t4", "v100", "a100-40gb", "h100-sxm")]
    assert times == sorted(times, reverse=True)



    assert times == sorted(times, reverse=True)


def test_loader_throughput_follows_the_measured_core_curve_on_machines_without_hyperthreads():
    # one worker per core: 2 workers on a 2-core VM and on a 16-vCPU host both gave 1.96x
    assert loader_images_per_s(1, 280, threads_per_core=1) == pytest.approx(280)
    assert loader_images_per_s(2, 280, threads_per_core=1) == pytest.approx(280 * 1.96)
    assert loader_images_per_s(8, 100, threads_per_core=1) == pytest.approx(475)


def test_the_optimizer_runs_as_multi_tensor_ops_on_a_gpu():
    # counted as a per-parameter loop: 3 ops for each of 100 parameter tensors, 1M numbers in all
    loop = PhaseCost((OpBin("memory", -3, 3e6, 3.6e7, 300),), StageOps(backward=0, optimizer=300, tensors=100,
                                                                        elements=1_000_000))
    host_only = Efficiency(**{**EFF.__dict__, "host_op_s": 1e-5, "host_step_s": 0.0, "kernel_s": 1e-6})
    parts = gpu_phase(loop, A100, "fp32", host_only)
    # PyTorch's default (foreach): 3 ops, each launching ceil(100 / 48) = 3 kernels
    assert foreach_optimizer(loop.stages) == (3, 9)
    assert parts.host_s == pytest.approx(3 * 1e-5)
    assert parts.kernels_s == pytest.approx(9 * 1e-6)
    # the traffic is the loop's
    assert parts.memory_s == pytest.approx(3.6e7 / (A100.memory_bandwidth_bytes_per_s * EFF.memory))


def test_each_trained_parameter_tensor_costs_host_time_of_its_own():
    def phase(tensors):
        return PhaseCost((OpBin("memory", -3, 0.0, 1.0, 10),), StageOps(0, 3 * tensors, tensors, 1000 * tensors))

    per_tensor = Efficiency(**{**EFF.__dict__, "host_op_s": 0.0, "host_step_s": 1e-3, "host_tensor_s": 5e-5})
    # a frozen body trains the head's 2 tensors, the whole model its 110
    assert gpu_phase(phase(2), A100, "fp32", per_tensor).host_s == pytest.approx(1e-3 + 2 * 5e-5)
    assert gpu_phase(phase(110), A100, "fp32", per_tensor).host_s == pytest.approx(1e-3 + 110 * 5e-5)
    # an evaluation step trains nothing: no per-step or per-tensor cost
    assert gpu_phase(phase(110), A100, "fp32", per_tensor, training=False).host_s == 0.0


def test_an_evaluation_pass_has_its_own_host_cost_per_op_and_overlaps_host_and_device_more_fully():
    # 0.01 s of device work and 1000 ops: at 10 µs an op, 0.01 s of host
    cost = PhaseCost((OpBin("conv", 10, 78e12 * 0.01, 1e6, 1), OpBin("memory", -4, 0.0, 0.0, 999)))
    soft = Efficiency(**{**EFF.__dict__, "overlap": 2.0})
    forward = Efficiency(**{**soft.__dict__, "host_eval_op_s": 3e-5, "eval_overlap": 1e6})
    # a training step: 10 µs an op and the soft maximum, whatever the evaluation constants
    train = gpu_phase(cost, A100, "fp32", forward)
    assert train.host_s == pytest.approx(0.01) and train.seconds == pytest.approx(0.01 * 2 ** 0.5)
    # an evaluation pass: 30 µs an op (0.03 s), a hard maximum: the host's 0.03 s
    evaluation = gpu_phase(cost, A100, "fp32", forward, training=False)
    assert evaluation.host_s == pytest.approx(0.03) and evaluation.seconds == pytest.approx(0.03)
    # autocast's casts, issued from C++, cost what any op does
    cast = gpu_phase(cost, A100, "amp-bf16", forward, cast_ops=100, training=False)
    assert cast.host_s == pytest.approx(0.03 + 100 * 1e-5)
    # without evaluation constants, an evaluation pass is costed as a training step's ops are
    assert gpu_phase(cost, A100, "fp32", soft, training=False).seconds == pytest.approx(0.01 * 2 ** 0.5)


def test_an_evaluation_pass_reaches_its_own_share_of_the_memory_bandwidth():
    # 1 GB moved by elementwise kernels: bound by bandwidth on any GPU
    cost = PhaseCost((OpBin("memory", -3, 0.0, 1e9, 10),))
    eff = Efficiency(**{**EFF.__dict__, "memory": 0.5, "eval_memory": 0.9})
    bandwidth = A100.memory_bandwidth_bytes_per_s
    assert gpu_phase(cost, A100, "fp32", eff).memory_s == pytest.approx(1e9 / (0.5 * bandwidth))
    assert gpu_phase(cost, A100, "fp32", eff, training=False).memory_s == pytest.approx(1e9 / (0.9 * bandwidth))
    # without its own share, an evaluation pass moves memory as a training step does
    same = Efficiency(**{**EFF.__dict__, "memory": 0.5, "eval_memory": None})
    assert gpu_phase(cost, A100, "fp32", same, training=False).memory_s == pytest.approx(1e9 / (0.5 * bandwidth))


@pytest.mark.parametrize("precision, share", [("fp32", 0.02), ("tf32", 0.02), ("amp-bf16", 0.5)])
def test_depthwise_convolutions_run_without_tensor_cores_at_their_own_share_of_the_fp32_peak(precision, share):
    assert compute_path(A100, "depthwise", precision)[0].name == "fp32"
    eff = Efficiency(**{**EFF.__dict__, "depthwise": 0.02, "half_depthwise": 0.5})
    cost = PhaseCost((OpBin("depthwise", 3, 19.5e12 * 0.01, 1.0, 1),))
    assert gpu_phase(cost, A100, precision, eff).compute_s == pytest.approx(0.01 / share)
