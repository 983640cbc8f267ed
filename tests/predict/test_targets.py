"""Estimates on other hardware: GPU memory, the input pipeline, cloud CPUs, reference profiles."""

from dataclasses import replace

import pytest
from builders import make_calibration, make_profile, texts

from advisor.advise.advice import advise
from advisor.cloud.catalog import load_catalog
from advisor.model.cost import OpBin, PhaseCost, StepCost
from advisor.model.workload import Workload
from advisor.predict.gpu import DEFAULT_GPU_EFFICIENCY
from advisor.predict.loader import HYPERTHREAD_GAIN
from advisor.predict.memory import largest_batch, training_memory_bytes
from advisor.predict.targets import cpu_estimate, gpu_estimate
from advisor.predict.whole_run import whole_run_estimate

CAT = load_catalog()


def cost(batch=64, params=20_000_000):
    phase = PhaseCost((OpBin("conv", 8, 2e12, 2e9, 300), OpBin("memory", -3, 1e9, 1e10, 400)))
    return StepCost(batch, phase, phase, phase, params, 20_000)


def test_memory_grows_with_the_batch_from_the_local_measurement():
    local = make_calibration(batch=64, peak=12 * 20_000_000 + 64 * 30_000_000)  # 30 MB per image
    c = cost()
    assert training_memory_bytes(c, local, 64, "fp32") == local.peak_memory_bytes
    assert training_memory_bytes(c, local, 128, "fp32") == 12 * 20_000_000 + 128 * 30_000_000
    assert training_memory_bytes(c, local, 64, "amp-fp16") < local.peak_memory_bytes
    assert largest_batch(c, local, 12 * 20_000_000 + 100 * 30_000_000, "fp32") == 100


def test_a_batch_too_big_for_the_gpu_does_not_fit_and_names_the_largest():
    local = make_calibration(batch=64, peak=64 * 300_000_000)  # 300 MB per image
    e = gpu_estimate(Workload(), cost(), CAT.gpus["t4"], DEFAULT_GPU_EFFICIENCY, local=local, vcpus=8,
                     decode_images_per_s=None)
    assert not e.fits_memory
    assert any("the largest batch that fits is about" in n for n in texts(e.notes))


def test_two_vcpus_starve_a_fast_gpu_on_jpeg_data():
    w = Workload(data_dir="/imgs", workers=2)
    local = make_calibration()
    starved = gpu_estimate(w, cost(), CAT.gpus["a100-40gb"], DEFAULT_GPU_EFFICIENCY, local=local, vcpus=2,
                           decode_images_per_s=280.0)
    assert starved.bottleneck == "input pipeline"
    # one core's two hyper-threads, less what the training process keeps busy
    assert 0.5 * 280 * HYPERTHREAD_GAIN < starved.train_images_per_s < 280 * HYPERTHREAD_GAIN
    assert any("2 vCPUs as 1 core(s) of 2 hyper-threads, 280 images/s per core as measured here" in n
               for n in texts(starved.notes))
    fed = gpu_estimate(w, cost(), CAT.gpus["a100-40gb"], DEFAULT_GPU_EFFICIENCY, local=local, vcpus=48,
                       decode_images_per_s=280.0)
    assert fed.train_images_per_s > starved.train_images_per_s


def test_synthetic_workloads_only_warn_about_the_loader():
    e = gpu_estimate(Workload(), cost(), CAT.gpus["a100-40gb"], DEFAULT_GPU_EFFICIENCY,
                     local=make_calibration(), vcpus=2, decode_images_per_s=None)
    assert e.bottleneck != "input pipeline"
    assert any("the loader would be the bottleneck" in n for n in texts(e.notes))


def test_gpu_estimate_band_and_basis():
    e = gpu_estimate(Workload(), cost(), CAT.gpus["v100"], DEFAULT_GPU_EFFICIENCY, local=make_calibration(),
                     vcpus=8, decode_images_per_s=None)
    assert e.basis == "predicted" and e.seconds_low < e.seconds < e.seconds_high
    assert e.breakdown_seconds["first_steps_overhead"] > 0  # cudnn autotuning allowance


def test_a_gpu_bound_by_its_host_validates_faster_at_a_larger_batch():
    def scalable(batch):  # the same model counted at `batch`: work per image, ops per step
        phase = PhaseCost((OpBin("conv", 8, 1e9 * batch, 1e6 * batch, 300, 1e9, 1e6),
                           OpBin("memory", -3, 0.0, 1e6 * batch, 400, 0.0, 1e6)))
        return StepCost(batch, phase, phase, phase, 20_000_000, 20_000)

    h200 = CAT.gpus["h200"]
    one = Workload(batch_size=16)
    twice = Workload(batch_size=16, valid_batch_size=32)
    at_16 = gpu_estimate(one, scalable(16), h200, DEFAULT_GPU_EFFICIENCY, local=None, vcpus=None,
                         decode_images_per_s=None)
    at_32 = gpu_estimate(twice, scalable(16), h200, DEFAULT_GPU_EFFICIENCY, local=None, vcpus=None,
                         decode_images_per_s=None, eval_cost=scalable(32))
    assert at_32.breakdown_seconds["training"] == at_16.breakdown_seconds["training"]
    # small forward passes are bound by the host: half as many of them take about half the time
    assert at_32.breakdown_seconds["validation"] < 0.6 * at_16.breakdown_seconds["validation"]
    assert any("a validation step of 32 images of" in n for n in texts(at_32.notes))
    # a step of 32 still takes longer than one of 16: the device's share grows with the batch
    assert at_16.eval_images_per_s < at_32.eval_images_per_s < 2 * at_16.eval_images_per_s
    # without a count at that batch, the training batch's count is scaled to it
    scaled = gpu_estimate(twice, scalable(16), h200, DEFAULT_GPU_EFFICIENCY, local=None, vcpus=None,
                          decode_images_per_s=None)
    assert scaled.breakdown_seconds["validation"] == pytest.approx(at_32.breakdown_seconds["validation"])


def test_an_option_says_what_real_runs_on_its_gpu_showed_where_the_catalog_knows():
    t4 = gpu_estimate(Workload(), cost(), CAT.gpus["t4"], DEFAULT_GPU_EFFICIENCY, local=make_calibration(),
                      vcpus=8, decode_images_per_s=None)
    checked = [n.text for n in t4.notes if n.code == "gpu-checked"]
    assert checked == [f"Tesla T4: {CAT.gpus['t4'].checked}"] and "slower than" in checked[0]
    a100 = gpu_estimate(Workload(), cost(), CAT.gpus["a100-40gb"], DEFAULT_GPU_EFFICIENCY,
                        local=make_calibration(), vcpus=8, decode_images_per_s=None)
    assert not [n for n in a100.notes if n.code == "gpu-checked"]


def test_cloud_cpu_scales_from_the_local_cpu_by_cores():
    local = whole_run_estimate(Workload(), make_calibration(), accelerator="CPU")
    e8 = cpu_estimate(local, local_cores=2, vcpus=8, ram_bytes=30e9)
    assert e8.seconds == pytest.approx(local.seconds * (2 / 8) ** 0.8)
    assert e8.seconds_low < e8.seconds < e8.seconds_high and e8.basis == "scaled"


def test_advise_lists_offers_and_targets_and_applies_the_rule():
    profile = make_profile(make_calibration(train=(1.0,) * 3))
    # about an hour here at 1 s a step
    advice = advise(profile, Workload(dataset_size=73900), CAT, targets=("H200",))
    ids = [o.id for o in advice.options]
    assert "local" in ids and "target:h200" in ids and "gcp:a2-highgpu-1g" in ids
    target = next(o for o in advice.options if o.id == "target:h200")
    assert target.cost_usd is None and target.provider == "any"
    assert advice.recommendation.best != "local"  # a GPU is far more than 3x faster, move included
    assert any("older than 180 days" in w for w in advice.warnings)


def test_advise_with_a_provider_filter_and_a_deadline():
    profile = make_profile(make_calibration())
    advice = advise(profile, Workload(dataset_size=7390), CAT, providers=("colab",), deadline_s=60)
    assert all(o.id.startswith("colab:") for o in advice.options)
    assert any(x["id"] == "local" for x in advice.excluded)


def test_a_gpu_option_says_how_long_a_step_takes_and_what_bounds_it():
    e = gpu_estimate(Workload(dataset_size=7390), cost(), CAT.gpus["h100-sxm"], DEFAULT_GPU_EFFICIENCY,
                     local=make_calibration(), vcpus=None, decode_images_per_s=None)
    (basis,) = [n.text for n in e.notes if n.code == "gpu-basis"]
    assert "ms, " in basis and "-bound (device " in basis and "µs" in basis
    # the validation pass's step too, with its own host cost per op
    assert "a validation step of " in basis and f"({1e6 * DEFAULT_GPU_EFFICIENCY.host_eval_op_s:.0f} µs per op)" in basis
    assert e.bottleneck in ("compute", "memory", "overhead")


def test_gpu_set_up_is_a_base_plus_autotuning_of_each_convolution():
    from advisor.predict.setup import GPU_AUTOTUNE_S_PER_CONV_OP, GPU_FIRST_STEP_FLOOR_S, gpu_setup_seconds

    setup = gpu_setup_seconds(cost())  # 300 convolution ops per training step
    assert setup["first_steps"] == pytest.approx(GPU_FIRST_STEP_FLOOR_S + 300 * GPU_AUTOTUNE_S_PER_CONV_OP)
    assert setup["new_shape"] == pytest.approx(300 * GPU_AUTOTUNE_S_PER_CONV_OP)
    attention = PhaseCost((OpBin("matmul", 6, 2e12, 4e9, 500), OpBin("memory", -3, 1e9, 1e10, 400)))
    vit = gpu_setup_seconds(StepCost(64, attention, attention, attention, 86_000_000, 30_000))
    assert vit == {"first_steps": GPU_FIRST_STEP_FLOOR_S, "new_shape": 0.0, "new_shape_eval": 0.0}


# the step model with NCHW transposes as costly as the convolutions' own traffic, and no
# penalty for low intensity and a quick host (so that traffic bounds the step)
TRANSPOSING = replace(DEFAULT_GPU_EFFICIENCY, nchw_transpose=1.0, half_intensity=0.0, host_op_s=1e-6)


def test_amp_on_nchw_tensors_says_what_channels_last_would_save():
    # convolutions moving many bytes: their transposes cost time worth naming
    heavy = PhaseCost((OpBin("conv", 6, 2e12, 4e10, 300), OpBin("memory", -3, 1e9, 1e10, 400)))
    c = StepCost(64, heavy, heavy, heavy, 20_000_000, 20_000)
    amp = gpu_estimate(Workload(precision="amp-fp16"), c, CAT.gpus["a100-40gb"], TRANSPOSING,
                       local=make_calibration(), vcpus=None, decode_images_per_s=None)
    assert any("channels_last" in n and "faster" in n for n in texts(amp.notes))
    fp32 = gpu_estimate(Workload(), c, CAT.gpus["a100-40gb"], TRANSPOSING,
                        local=make_calibration(), vcpus=None, decode_images_per_s=None)
    assert not any("channels_last" in n for n in texts(fp32.notes))


def test_a_channels_last_workload_pays_no_transposes_and_is_not_told_to_switch():
    heavy = PhaseCost((OpBin("conv", 6, 2e12, 4e10, 300), OpBin("memory", -3, 1e9, 1e10, 400)))
    c = StepCost(64, heavy, heavy, heavy, 20_000_000, 20_000)
    args = dict(local=make_calibration(), vcpus=None, decode_images_per_s=None)
    nchw = gpu_estimate(Workload(precision="amp-fp16"), c, CAT.gpus["a100-40gb"], TRANSPOSING, **args)
    nhwc = gpu_estimate(Workload(precision="amp-fp16", channels_last=True), c, CAT.gpus["a100-40gb"],
                        TRANSPOSING, **args)
    assert nhwc.train_images_per_s > nchw.train_images_per_s
    assert not any("channels_last" in n for n in texts(nhwc.notes))


def test_memory_on_a_gpu_is_the_training_state_and_what_autograd_keeps_for_backward():
    from dataclasses import replace

    from advisor.predict.memory import AMP_SAVED_FACTOR, counted_memory_bytes, gpu_memory_bytes

    # 20M parameters; 2 GB kept for backward at batch 64, 30 MB of it per image
    c = replace(cost(), saved_bytes=2e9, saved_bytes_per_sample=30e6)
    assert counted_memory_bytes(c, 64, "fp32") == 12 * 20_000_000 + 2_000_000_000
    assert counted_memory_bytes(c, 128, "fp32") == 12 * 20_000_000 + 2_000_000_000 + 64 * 30_000_000
    # autocast keeps 16-bit activations, and 16-bit copies of the weights
    assert counted_memory_bytes(c, 64, "amp-bf16") == int(14 * 20_000_000 + AMP_SAVED_FACTOR * 2e9)
    # counted wins over a CPU's measured peak, which another allocator and maybe another model made
    local = make_calibration(batch=64, peak=10 * 2**30)
    assert gpu_memory_bytes(c, local, 64, "fp32") == counted_memory_bytes(c, 64, "fp32")
    assert gpu_memory_bytes(cost(), local, 64, "fp32") == local.peak_memory_bytes  # not counted: measured
    budget = 12 * 20_000_000 + 2_000_000_000 + 36 * 30_000_000
    assert largest_batch(c, None, budget, "fp32") == 100
