"""A GPU profile's workloads that were not calibrated: scaled from the closest calibration by the
GPU step model, not by the CPU's serial roofline."""

import pytest
from builders import make_calibration, make_cost, make_profile, texts

from advisor.cloud.catalog import load_catalog
from advisor.model.cost import OpBin, PhaseCost, StepCost
from advisor.model.workload import Workload
from advisor.predict.gpu import Efficiency, gpu_steps
from advisor.predict.local import Estimator, gpu_scale_factors, host_speed

A100 = load_catalog().gpus["a100-40gb"]
LAB_GPU = """
[gpu.lab-x9]
name = "Lab Accelerator X9"
arch = "Hopper"
compute_capability = "9.0"
vram_gb = 80
memory_bandwidth_gb_per_s = 3000
sm_count = 132
boost_clock_mhz = 1980
fp32_tflops = 60
tf32_tensor_tflops = 400
source = "our lab's datasheet"
"""
# half of every peak, no kernel cost, 10 µs of host an op, a hard maximum of host and device
EFF = Efficiency(conv_tensor=0.5, matmul_tensor=0.5, simt=0.5, memory=0.5, half_intensity=0.0, kernel_s=0.0,
                 host_op_s=1e-5, host_step_s=0.0, overlap=1e6, cast_ops=0.0)


def _cost(op_class: str, flops: float, batch: int = 64) -> StepCost:
    """A step whose arithmetic is all in `op_class` (at high intensity), with a little traffic."""
    def phase(scale):
        return PhaseCost((OpBin(op_class, 10, scale * flops, scale * flops / 1024, 50 * scale),
                          OpBin("memory", -12, 0.0, scale * 1e8, 50 * scale)))
    return StepCost(batch_size=batch, train=phase(3), eval=phase(1), frozen=phase(1), parameters=1000,
                    trainable_head_parameters=10)


def _gpu_profile(cost: StepCost, train_s: float = 0.05):
    cal = make_calibration(device="cuda:0", train=(train_s,) * 3, evals=(train_s / 3,) * 3,
                           frozen=(train_s / 3,) * 2, cost=cost)
    return make_profile(cal, device="cuda:0")


def test_a_workload_not_calibrated_on_a_known_gpu_is_its_measured_step_times_the_step_models_ratio():
    ref = _cost("conv", 1e12)
    target = _cost("conv", 2e12)
    profile = _gpu_profile(ref, train_s=0.05)
    e = Estimator(profile, count=lambda *key: target, gpu=A100, gpu_efficiency=EFF).estimate(
        Workload(model="resnet50"))
    model = lambda c: gpu_steps(c, A100, "fp32", EFF)["train"].seconds  # noqa: E731
    assert e.basis == "scaled"
    assert 64 / e.train_images_per_s == pytest.approx(0.05 * model(target) / model(ref))
    assert any("by the GPU step model on " + A100.name in t for t in texts(e.notes))


def test_the_scale_follows_the_paths_pytorch_takes_on_the_gpu():
    # the same FLOPs in matmuls run at the FP32 peak (PyTorch's default), in convolutions on TF32
    # tensor cores: compute-bound, the ratio of the two peaks
    conv, matmul = _cost("conv", 4e12), _cost("matmul", 4e12)
    cal = make_calibration(device="cuda:0", cost=conv)
    factors = gpu_scale_factors(cal, matmul, Workload(model="vit_b_16"), A100, EFF)
    assert factors["train"] == pytest.approx(A100.tf32_tensor_flops_per_s / A100.fp32_flops_per_s, rel=0.02)
    # and a 16-bit precision takes the BF16 tensor cores: twice the TF32 peak on an A100
    half = gpu_scale_factors(cal, conv, Workload(precision="amp-bf16"), A100, EFF)
    assert half["train"] == pytest.approx(A100.tf32_tensor_flops_per_s / A100.bf16_tensor_flops_per_s, rel=0.02)


def test_a_host_bound_step_scales_with_the_ops_the_host_issues_not_the_flops():
    # tiny steps: 10 µs an op of host time, whatever the arithmetic
    small, smaller = _cost("conv", 1e8), _cost("conv", 1e7)
    cal = make_calibration(device="cuda:0", cost=small)
    assert gpu_scale_factors(cal, smaller, Workload(), A100, EFF)["train"] == pytest.approx(1.0)


def test_a_cpu_profile_keeps_its_roofline_even_when_given_a_gpu():
    profile = make_profile(make_calibration(split={"compute": 0.7, "memory": 0.3, "other": 0.0}))
    e = Estimator(profile, count=lambda *key: make_cost(64, 2e9, 2e8), gpu=A100).estimate(Workload(model="resnet50"))
    assert e.train_images_per_s == pytest.approx(32.0)  # twice the work per image, as on any CPU
    assert not any("GPU step model" in t for t in texts(e.notes))


def test_the_package_estimator_finds_the_profiled_gpu_in_the_catalog():
    from dataclasses import replace

    from advisor.app.workflows import Estimator as PackageEstimator

    profile = replace(_gpu_profile(_cost("conv", 1e12)), device_name="NVIDIA A100-SXM4-40GB")
    assert PackageEstimator(profile).gpu.id == "a100-40gb"
    unknown = replace(profile, device_name="Some Future GPU")
    assert PackageEstimator(unknown).gpu is None  # scaled by the roofline, as before


def _timed_host(cost: StepCost, host_s: float, train_s: float, split: dict):
    from dataclasses import replace

    from advisor.model.stats import Samples

    cal = make_calibration(device="cuda:0", train=(train_s,) * 3, cost=cost, split=split)
    return replace(cal, host_train_step_seconds=Samples((host_s,) * 3))


def test_a_host_the_calibration_timed_slower_than_the_models_slows_host_bound_workloads_alike():
    # the reference (38 ms of arithmetic) is bound by the device; the target (3 ms of host for
    # 300 ops, hardly any arithmetic) by the host. This host took twice the model's 3 ms.
    ref, tiny = _cost("conv", 1e12), _cost("conv", 1e7)
    model_host = gpu_steps(ref, A100, "fp32", EFF)["train"].host_s
    plain = make_calibration(device="cuda:0", cost=ref)
    timed = _timed_host(ref, 2 * model_host, 0.04, {"compute": 0.9, "memory": 0.05, "other": 0.05})
    assert host_speed(timed, A100, EFF) == pytest.approx(2.0)
    slow = gpu_scale_factors(timed, tiny, Workload(), A100, EFF)["train"]
    assert slow == pytest.approx(2 * gpu_scale_factors(plain, tiny, Workload(), A100, EFF)["train"])
    # and the estimate says which host it assumed
    profile = make_profile(timed, device="cuda:0")
    e = Estimator(profile, count=lambda *key: tiny, gpu=A100, gpu_efficiency=EFF).estimate(Workload(model="resnet18"))
    assert any("with this machine's host (6.0 ms to issue a step: 2.00x the step model's host)" in t
               for t in texts(e.notes))


def test_a_host_that_took_as_long_as_a_busy_device_may_have_waited_for_it():
    # 40 ms to issue a 40-ms step the profiler saw the device busy for: the launch queue was full,
    # so the host is at most that slow; it keeps the model's host, which is faster
    ref = _cost("conv", 1e12)
    busy = _timed_host(ref, 0.04, 0.04, {"compute": 0.9, "memory": 0.08, "other": 0.02})
    assert host_speed(busy, A100, EFF) == pytest.approx(1.0)
    # a device idle for much of the step: the host bounded it, and its time is the host's
    idle = _timed_host(ref, 0.04, 0.04, {"compute": 0.3, "memory": 0.1, "other": 0.6})
    assert host_speed(idle, A100, EFF) > 10


def test_the_profile_summary_says_how_long_the_host_takes_to_issue_a_gpu_step():
    from advisor.render.profile import profile_summary

    text = profile_summary(make_profile(_timed_host(_cost("conv", 1e12), 0.011, 0.0207, {}), device="cuda:0"))
    assert "Host: resnet34 224px batch 64 fp32 takes 11.0 ms to issue a training step, which takes 20.7 ms" in text
    bound = profile_summary(make_profile(_timed_host(_cost("conv", 1e10), 0.011, 0.0115, {}), device="cuda:0"))
    assert "which takes 11.5 ms (bound by the host)" in " ".join(bound.split())


def test_a_gpu_calibration_that_synchronised_every_step_says_its_steps_read_long():
    from dataclasses import replace

    from builders import codes

    old = make_calibration(device="cuda:0")  # made before steps were timed in windows
    assert "synchronised-steps" in codes(Estimator(make_profile(old, device="cuda:0")).estimate(Workload()).notes)
    windowed = replace(old, window_steps=10)
    assert "synchronised-steps" not in codes(
        Estimator(make_profile(windowed, device="cuda:0")).estimate(Workload()).notes)
    # a CPU step ends with its ops: one step a sample is how it runs
    assert "synchronised-steps" not in codes(Estimator(make_profile(make_calibration())).estimate(Workload()).notes)


def test_a_gpu_only_a_catalog_file_describes_scales_by_its_entry(tmp_path):
    from dataclasses import replace

    from advisor.app.workflows import Estimator as PackageEstimator
    from advisor.cloud.catalog import load_catalog as load

    extra = tmp_path / "mine.toml"
    extra.write_text(LAB_GPU)
    profile = replace(_gpu_profile(_cost("conv", 1e12)), device_name="Lab Accelerator X9")
    assert PackageEstimator(profile).gpu is None
    assert PackageEstimator(profile, catalog=load((str(extra),))).gpu.id == "lab-x9"


def test_a_workload_not_calibrated_on_a_gpu_is_told_whether_it_fits_from_its_counted_memory():
    from dataclasses import replace

    from builders import codes

    from advisor.model.machine import GpuInfo
    from advisor.predict.memory import CUDA_CONTEXT_BYTES, counted_memory_bytes

    # 1000 parameters, and 256 MiB kept for backward per image: about 16 GiB at batch 64
    big = replace(_cost("conv", 1e12), saved_bytes=64 * 2**28, saved_bytes_per_sample=2**28)
    gpu = GpuInfo(0, "NVIDIA A100-SXM4-40GB", 16 * 2**30, 108, 1410, 1215, 5120, 4, 16, 400.0, (8, 0))
    profile = _gpu_profile(_cost("conv", 1e12))
    profile = replace(profile, machine=replace(profile.machine, gpus=(gpu,)))
    e = Estimator(profile, count=lambda *key: big, gpu=A100, gpu_efficiency=EFF).estimate(Workload(model="resnet50"))
    assert e.peak_memory_bytes == counted_memory_bytes(big, 64, "fp32")
    assert not e.fits_memory and "no-fit" in codes(e.notes)
    # the largest batch within the 15 GiB left beside the CUDA context
    assert any(f"the largest batch that fits is about {(16 * 2**30 - CUDA_CONTEXT_BYTES - 12_000) // 2**28}" in t
               for t in texts(e.notes))
    small = Estimator(profile, count=lambda *key: big, gpu=A100, gpu_efficiency=EFF).estimate(
        Workload(model="resnet50", batch_size=32))
    assert small.fits_memory and small.peak_memory_bytes < 15 * 2**30


def test_a_gpu_calibration_fits_by_its_steady_peak_not_its_autotuning_workspace():
    from dataclasses import replace

    from advisor.model.machine import GpuInfo

    # 20 GiB at most in the first steps (cuDNN trying algorithms while memory was free), 10 GiB
    # a training step after them, on a 16 GiB GPU
    gpu = GpuInfo(0, "NVIDIA A100-SXM4-40GB", 16 * 2**30, 108, 1410, 1215, 5120, 4, 16, 400.0, (8, 0))
    cost = _cost("conv", 1e12)
    cal = replace(make_calibration(device="cuda:0", cost=cost), peak_memory_bytes=20 * 2**30,
                  peak_memory_kind="cuda allocator peak", steady_peak_memory_bytes=10 * 2**30)
    profile = make_profile(cal, device="cuda:0")
    profile = replace(profile, machine=replace(profile.machine, gpus=(gpu,)))
    e = Estimator(profile, gpu=A100, gpu_efficiency=EFF).estimate(Workload())
    assert e.basis == "measured" and e.fits_memory and e.peak_memory_bytes == 10 * 2**30
    # a calibration from before steady peaks were recorded keeps the whole peak
    old = replace(cal, steady_peak_memory_bytes=None)
    e = Estimator(replace(profile, calibrations=(old,)), gpu=A100, gpu_efficiency=EFF).estimate(Workload())
    assert not e.fits_memory and e.peak_memory_bytes == 20 * 2**30
    # the profile shows the steady peak, and what the first steps held beside it
    from advisor.render.profile import profile_summary

    text = " ".join(profile_summary(profile).split())
    assert "10.0 GiB" in text and ("Memory: resnet34 224px batch 64 fp32 held 20.0 GiB at most in its first steps "
                                   "(cuDNN's autotuning workspace, taken only while memory is free), 10.0 GiB training"
                                   in text)


def test_a_slower_host_issues_every_kind_of_step_slower():
    from advisor.predict.gpu import DEFAULT_GPU_EFFICIENCY
    from advisor.predict.local import with_host_speed

    slow = with_host_speed(DEFAULT_GPU_EFFICIENCY, 2.0)
    for name in ("host_op_s", "host_step_s", "host_tensor_s", "host_eval_op_s"):
        assert getattr(slow, name) == pytest.approx(2 * getattr(DEFAULT_GPU_EFFICIENCY, name)), name
    # the device's side is the GPU's, whatever the host
    assert slow.conv_tensor == DEFAULT_GPU_EFFICIENCY.conv_tensor and slow.overlap == DEFAULT_GPU_EFFICIENCY.overlap
