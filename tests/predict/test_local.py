"""The estimator as a specification: exact numbers from known calibrations."""

from dataclasses import replace

import pytest
from builders import codes, make_calibration, make_cost, make_profile, texts

from advisor.errors import RuntimeFailure
from advisor.measure.steps import kernel_usage
from advisor.model.workload import Workload
from advisor.predict.local import Estimator
from advisor.predict.setup import expected_first_steps_seconds, first_steps_range_seconds, prefetched_batches
from advisor.predict.whole_run import MEASURED_BAND, kernel_time_note, whole_run_estimate


def test_training_time_is_steps_plus_validation_plus_first_steps_overhead():
    # 1 s per 64-image step, 0.25 s per eval batch, warm-up (3 s + 2 s) is 3 s over two steady
    # steps, of which a run after the calibration is expected to pay half
    cal = make_calibration()
    w = Workload(dataset_size=640, valid_fraction=0.2, epochs=2)  # 512 train, 128 valid
    e = whole_run_estimate(w, cal, accelerator="CPU")
    assert e.breakdown_seconds == {
        "first_steps_overhead": 1.5, "frozen_training": 0.0, "training": 16.0,
        "validation": 1.0, "loader_start": 0.0,
    }
    assert e.seconds == pytest.approx(18.5)
    assert e.train_images_per_s == pytest.approx(64.0)
    assert e.eval_images_per_s == pytest.approx(256.0)
    assert e.basis == "measured"


def test_a_gpu_run_after_the_calibration_pays_the_warm_set_up_and_the_band_reaches_the_cold_one():
    from dataclasses import replace

    from advisor.predict.setup import GPU_FIRST_STEP_FLOOR_S, WARM_SETUP_LOW_FACTOR

    # the calibration's first step (10 s over a 1-s step) was the first on the machine to load the
    # kernels; a new batch shape, autotuned with them loaded, took 2 s more than a steady step
    cold = replace(make_calibration(device="cuda:0", warm_train=(10.0, 1.0), warm_eval=(0.25,)),
                   new_shape_overhead_seconds=2.0)
    assert cold.first_steps_overhead_seconds == pytest.approx(9.0)
    assert first_steps_range_seconds(cold) == pytest.approx((WARM_SETUP_LOW_FACTOR * 2.0, 2.0, 9.0))
    w = Workload(dataset_size=640, valid_fraction=0.2, epochs=2)  # full batches only
    e = whole_run_estimate(w, cold, accelerator="GPU")
    assert e.breakdown_seconds["first_steps_overhead"] == pytest.approx(2.0)
    assert e.seconds_high > e.seconds + 7.0 - 1e-9  # a run as cold as the calibration still inside
    # where the calibration also timed a new shape aligned like the full batch, that one stands for
    # the run's first step; the odd shape stays for a partial last batch
    aligned = replace(cold, aligned_shape_overhead_seconds=1.5)
    assert first_steps_range_seconds(aligned) == pytest.approx((WARM_SETUP_LOW_FACTOR * 1.5, 1.5, 9.0))
    partial = Workload(dataset_size=700, valid_fraction=0.2, epochs=2)  # 560 train: a partial batch
    assert whole_run_estimate(partial, aligned, accelerator="GPU").breakdown_seconds["first_steps_overhead"] == \
        pytest.approx(1.5 + 2.0)
    # little to autotune (no convolutions): the first step's own floor
    vit = replace(cold, new_shape_overhead_seconds=0.2)
    assert expected_first_steps_seconds(vit) == pytest.approx(GPU_FIRST_STEP_FLOOR_S)
    # a CPU's first step recurs in every process, but the first process to run a workload (the
    # calibration) pays most of it: a run is expected to pay part, the band reaching none to all
    from advisor.predict.setup import CPU_FIRST_STEP_EXPECTED_FACTOR

    cpu = replace(make_calibration(warm_train=(10.0, 1.0), warm_eval=(0.25,)), new_shape_overhead_seconds=2.0)
    assert first_steps_range_seconds(cpu) == pytest.approx((0.0, CPU_FIRST_STEP_EXPECTED_FACTOR * 9.0, 9.0))


def test_partial_last_batch_counts_pro_rata():
    cal = make_calibration(warm_train=(1.0, 1.0), warm_eval=(0.25,))  # no warm-up excess
    w = Workload(dataset_size=100, valid_fraction=0.0, epochs=1)  # 64 + 36 images
    assert whole_run_estimate(w, cal, accelerator="CPU").seconds == pytest.approx(100 / 64)


def test_frozen_epochs_use_the_frozen_step_and_still_validate():
    cal = make_calibration(warm_train=(1.0, 1.0), warm_eval=(0.25,))
    w = Workload(dataset_size=640, epochs=1, frozen_epochs=2)
    e = whole_run_estimate(w, cal, accelerator="CPU")
    assert e.breakdown_seconds["frozen_training"] == pytest.approx(2 * 8 * 0.3)
    assert e.breakdown_seconds["validation"] == pytest.approx(3 * 2 * 0.25)
    assert any("frozen" in n for n in texts(e.notes))


def test_loader_start_is_paid_every_epoch():
    cal = make_calibration(warm_train=(1.0, 1.0), warm_eval=(0.25,), data_source="imagefolder",
                           workers=2, epoch_start=0.5, valid_start=0.2, synthetic=(1.0, 1.0))
    w = Workload(dataset_size=640, epochs=3, data_dir="/x", workers=2)
    assert whole_run_estimate(w, cal, accelerator="CPU").breakdown_seconds["loader_start"] == pytest.approx(2.1)


def test_the_batches_workers_decoded_ahead_run_at_the_models_own_speed():
    from dataclasses import replace

    from advisor.model.stats import Samples

    # fed steps 1.5 s (workers and model share the cores), the model alone 1.0 s; the loader alone
    # delivers a batch in 0.4 s, so its 2 workers stay 2 x 2 batches ahead and finish early
    fed = replace(make_calibration(train=(1.5,) * 3, evals=(0.6,) * 3, warm_train=(1.5, 1.5), warm_eval=(0.6,),
                                   data_source="imagefolder", workers=2, synthetic=(1.0,) * 3),
                  synthetic_eval_step_seconds=Samples((0.25,) * 3), loader_images_per_s=Samples((160.0,)))
    assert prefetched_batches(fed, "train") == 4
    w = Workload(dataset_size=640, epochs=1, data_dir="/x", workers=2)  # 8 training, 2 validation batches
    e = whole_run_estimate(w, fed, accelerator="CPU")
    assert e.breakdown_seconds["training"] == pytest.approx(8 * 1.5 - 4 * (1.5 - 1.0))
    # no faster than the loader alone: 0.4 s a batch, slower than the model's 0.25 s eval step
    assert e.breakdown_seconds["validation"] == pytest.approx(2 * 0.6 - 2 * (0.6 - 0.4))
    # workers that are the bottleneck (1.4 s a batch alone) are never ahead
    slow = replace(fed, loader_images_per_s=Samples((64 / 1.4,)))
    assert prefetched_batches(slow, "train") == 0
    assert whole_run_estimate(w, slow, accelerator="CPU").breakdown_seconds["training"] == pytest.approx(8 * 1.5)
    # in the main process (no workers) nothing is decoded ahead
    assert prefetched_batches(replace(fed, key=replace(fed.key, workers=0)), "train") == 0


def test_band_contains_the_estimate_and_widens_with_spread():
    steady = dict(warm_train=(1.0, 1.0), warm_eval=(0.25,))  # no warm-up excess: the steps' band alone
    tight = whole_run_estimate(Workload(), make_calibration(train=(1.0,) * 9, **steady), accelerator="CPU")
    noisy = whole_run_estimate(Workload(), make_calibration(train=(0.8, 0.9, 1.0, 1.1, 1.2), **steady),
                          accelerator="CPU")
    assert tight.seconds_low < tight.seconds < tight.seconds_high
    assert tight.seconds_high / tight.seconds == pytest.approx(1 + MEASURED_BAND)
    assert noisy.seconds_high - noisy.seconds_low > tight.seconds_high - tight.seconds_low


def test_slow_loader_is_the_bottleneck():
    cal = make_calibration(data_source="imagefolder", workers=0, train=(2.0, 2.0, 2.0), synthetic=(1.0, 1.0))
    e = whole_run_estimate(Workload(data_dir="/x"), cal, accelerator="CPU")
    assert e.bottleneck == "input pipeline"
    assert any("data loader" in n for n in texts(e.notes))


def test_bottleneck_follows_the_op_split():
    memory_bound = make_calibration(split={"compute": 0.3, "memory": 0.6, "other": 0.1})
    assert whole_run_estimate(Workload(), memory_bound, accelerator="CPU").bottleneck == "memory"
    assert whole_run_estimate(Workload(), make_calibration(), accelerator="CPU").bottleneck == "compute"


def test_estimator_uses_the_matching_calibration():
    fast = make_calibration(batch=32, train=(0.25,) * 3)
    profile = make_profile(make_calibration(), fast)
    e = Estimator(profile).estimate(Workload(batch_size=32))
    assert e.train_images_per_s == pytest.approx(128.0) and e.basis == "measured"


def test_uncalibrated_workload_is_scaled_by_counted_work_with_a_wide_band():
    # the reference does 1e9 FLOPs and 1e8 bytes per eval step; the target twice both, in as
    # many ops (no per-op overhead in this profile)
    profile = make_profile(make_calibration(split={"compute": 0.7, "memory": 0.3, "other": 0.0}))
    counted = []

    def count(model, classes, size, batch, precision):
        counted.append((model, size, batch))
        return make_cost(batch, 2e9, 2e8)

    e = Estimator(profile, count=count).estimate(Workload(model="resnet50"))
    assert counted == [("resnet50", 224, 64)]
    assert e.basis == "scaled"
    assert e.train_images_per_s == pytest.approx(32.0)  # twice the work per image
    assert e.seconds_high / e.seconds > 1.3
    assert any("not calibrated" in n for n in texts(e.notes))


def test_validation_at_its_own_batch_is_scaled_from_the_calibrated_one_by_counted_work():
    # calibrated at batch 64 (an eval step of 0.25 s); a step at any batch counts work in proportion
    def count(model, classes, size, batch, precision):
        return make_cost(batch, 1e9 * batch / 64, 1e8 * batch / 64)

    def validation(profile, **changes):
        e = Estimator(profile, count=count).estimate(Workload(**changes))
        return e, e.breakdown_seconds["validation"]

    # no cost per op: twice the batch takes twice as long a step, half as many of them
    free = make_profile(make_calibration(split={"compute": 0.7, "memory": 0.3, "other": 0.0}))
    same, at_64 = validation(free)
    doubled, at_128 = validation(free, valid_batch_size=128)
    assert at_128 == pytest.approx(at_64)
    assert doubled.breakdown_seconds["training"] == same.breakdown_seconds["training"]
    assert doubled.eval_images_per_s == pytest.approx(same.eval_images_per_s)
    assert any("validation at batch 128: its step scaled from batch 64" in n for n in texts(doubled.notes))
    assert doubled.basis == "measured"  # the training steps are still the calibration's own
    # where each op costs time of its own, fewer, larger steps validate faster
    costly = make_profile(make_calibration(split={"compute": 0.5, "memory": 0.2, "other": 0.3}), op_overhead_s=5e-4)
    _, slow = validation(costly)
    _, fast = validation(costly, valid_batch_size=128)
    assert fast < slow


def test_batch_that_did_not_fit_is_reported():
    cal = make_calibration(batch=32, requested_batch=128)
    profile = make_profile(cal)
    e = Estimator(profile, count=lambda *a: make_cost(a[3], 1e9 * a[3] / 32, 1e8)).estimate(
        Workload(batch_size=128))
    assert not e.fits_memory
    assert any("largest that fitted is 32" in n for n in texts(e.notes))


def test_cpu_run_needing_more_than_the_ram_does_not_fit():
    cal = make_calibration(peak=15 * 2**30)
    e = Estimator(make_profile(cal, ram=16 * 2**30)).estimate(Workload())
    assert not e.fits_memory


def test_profile_without_countable_calibrations_cannot_scale():
    cal = make_calibration(cost=None)
    object.__setattr__(cal, "step_cost", None)
    with pytest.raises(RuntimeFailure, match="re-run `advisor profile`"):
        Estimator(make_profile(cal), count=lambda *a: None).estimate(Workload(model="vgg11"))


def test_auto_precision_resolves_to_the_profiled_device():
    profile = make_profile(make_calibration())
    assert Estimator(profile).resolve(Workload(precision="auto")).precision == "fp32"


def test_estimate_rows_become_a_dataframe():
    from advisor import to_dataframe

    e = Estimator(make_profile()).estimate(Workload())
    df = to_dataframe([e, e])
    assert len(df) == 2
    assert {"seconds", "seconds_low", "workload_model", "seconds_training"} <= set(df.columns)


def test_per_op_overhead_makes_many_small_ops_cost_more():
    profile = make_profile(make_calibration(), op_overhead_s=1e-4)
    few = Estimator(profile, count=lambda *a: make_cost(64, 1e9, 1e8, ops=100)).estimate(Workload(model="a"))
    many = Estimator(profile, count=lambda *a: make_cost(64, 1e9, 1e8, ops=1000)).estimate(Workload(model="b"))
    step_few = 64 / few.train_images_per_s
    step_many = 64 / many.train_images_per_s
    assert step_few == pytest.approx(1.0)  # the reference's own work: its measured step
    # the roofline puts the 1 s reference step at 0.7 + 0.25 s of ops + 300 ops x 0.1 ms = 0.98 s;
    # 2700 more ops add 0.27 s of model time, scaled by the measured/model ratio 1 / 0.98
    assert step_many - step_few == pytest.approx(2700 * 1e-4 / 0.98)


def test_each_new_batch_shape_pays_its_set_up_once():
    from dataclasses import replace

    cal = replace(make_calibration(warm_train=(1.0, 1.0), warm_eval=(0.25,)),
                  new_shape_overhead_seconds=2.0, new_shape_eval_overhead_seconds=0.5,
                  frozen_first_step_overhead_seconds=0.3)
    even = Workload(dataset_size=640, epochs=3)  # 512 train, 128 valid: no partial batch
    assert whole_run_estimate(even, cal, accelerator="CPU").breakdown_seconds["first_steps_overhead"] == 0
    odd = Workload(dataset_size=700, epochs=3, frozen_epochs=1)  # 560 train, 140 valid: both partial
    # once for the partial training shape, once for the partial validation shape, once for the
    # frozen graph; later epochs reuse them
    assert whole_run_estimate(odd, cal, accelerator="CPU").breakdown_seconds["first_steps_overhead"] == pytest.approx(2.8)


def test_an_uncalibrated_workload_is_counted_once():
    calls = []

    def count(*args):
        calls.append(args)
        return make_cost(args[3], 2e9, 2e8)

    estimator = Estimator(make_profile(make_calibration()), count=count)
    estimator.estimate(Workload(model="resnet50"))
    estimator.step_cost(Workload(model="resnet50"))
    assert len(calls) == 1


def test_another_batch_of_a_calibrated_model_is_scaled_without_counting():
    from advisor.measure.opcount import bin_ops
    from advisor.model.cost import StepCost

    phase = bin_ops([("conv", "convolution", 64e9, 1e8), ("memory", "relu", 64e6, 64e8)],
                         [("conv", "convolution", 128e9, 1.5e8), ("memory", "relu", 128e6, 128e8)], 64)
    cal = make_calibration(batch=64, cost=StepCost(64, phase, phase, phase, 1000, 10))

    def count(*args):
        raise AssertionError(f"counted {args}")

    cost = Estimator(make_profile(cal), count=count).step_cost(Workload(batch_size=128))
    assert cost.batch_size == 128 and cost.train.compute_flops == 128e9


def test_another_precision_is_scaled_by_the_measured_convolution_speed():
    from dataclasses import replace

    from advisor.model.stats import Samples

    prof = make_profile(make_calibration(split={"compute": 1.0, "memory": 0.0, "other": 0.0}))
    same_work = lambda *a: make_cost(a[3], 1e9, 1e8)  # noqa: E731 - the counted work does not change
    plain = Estimator(prof, count=same_work).estimate(Workload(precision="amp-bf16"))
    convs = {"fp32": Samples((100e9,)), "bf16": Samples((200e9,))}
    prof = replace(prof, microbenchmarks=replace(prof.microbenchmarks, conv_train_flops_per_s=convs))
    faster = Estimator(prof, count=same_work).estimate(Workload(precision="amp-bf16"))
    # all of the step is arithmetic: twice the convolution speed, twice the training speed
    assert faster.train_images_per_s == pytest.approx(2 * plain.train_images_per_s, rel=0.01)


def test_a_jpeg_workload_timed_from_synthetic_steps_says_decoding_is_missing():
    w = Workload(dataset_size=640, data_dir="/photos", workers=1)
    notes = whole_run_estimate(w, make_calibration(), accelerator="CPU", basis="scaled").notes
    assert any("JPEG decoding (1 loader worker(s)) is not included" in n for n in texts(notes))
    assert not any(n.startswith("synthetic tensors") for n in texts(notes))


def test_a_retimed_calibration_slows_every_step_it_measured():
    from dataclasses import replace

    from advisor.model.stats import Samples
    from advisor.predict.whole_run import retimed_calibration

    fed = replace(make_calibration(data_source="imagefolder", workers=2, synthetic=(1.0,) * 3),
                  synthetic_eval_step_seconds=Samples((0.25,) * 3))
    slow = retimed_calibration(fed, 2.0, train_add_s=0.1)
    assert slow.train_step_seconds.median == pytest.approx(2.1)
    assert slow.synthetic_train_step_seconds.median == pytest.approx(2.1)
    assert slow.eval_step_seconds.median == pytest.approx(0.5)
    assert slow.synthetic_eval_step_seconds.median == pytest.approx(0.5)


def test_the_kernels_share_of_cpu_time_comes_from_two_usage_readings():
    # (user s, system s, bytes page-faulted) before and after three steps
    share, faulted = kernel_usage((10.0, 1.0, 1e9), (16.0, 4.0, 16e9), steps=3)
    assert share == pytest.approx(3.0 / 9.0) and faulted == pytest.approx(5e9)
    assert kernel_usage(None, (1.0, 1.0, 0.0), steps=3) == (None, None)  # not measured here
    assert kernel_usage((1.0, 1.0, 0.0), (1.0, 1.0, 0.0), steps=3) == (None, None)  # no CPU time


def test_a_cpu_step_spent_in_the_kernel_gets_the_advice_to_reuse_memory():
    busy = replace(make_calibration(), kernel_time_share=0.57, page_faulted_bytes_per_step=20.7e9)
    note = kernel_time_note(busy)
    assert note.severity == "tip" and note.code == "reuse-memory"
    assert "57 % of this CPU's training time is the kernel" in note.text and "20.7 GB" in note.text
    assert "glibc.malloc.mmap_max=0" in note.text and "about 43 % of this estimate" in note.text
    e = Estimator(make_profile(busy)).estimate(Workload())
    assert note in e.notes
    # not worth a note, not measured, or not a CPU: no advice
    assert kernel_time_note(replace(busy, kernel_time_share=0.05)) is None
    assert kernel_time_note(replace(busy, kernel_time_share=None)) is None
    gpu = make_calibration(device="cuda:0")
    assert kernel_time_note(replace(gpu, kernel_time_share=0.5)) is None


def test_a_scaled_estimate_does_not_pass_on_its_references_kernel_share():
    busy = replace(make_calibration(), kernel_time_share=0.57, page_faulted_bytes_per_step=20.7e9)
    e = Estimator(make_profile(busy), count=lambda *a: make_cost(64, 2e9, 2e8)).estimate(Workload(model="resnet50"))
    assert e.basis == "scaled" and "reuse-memory" not in codes(e.notes)


def test_the_profile_summary_gives_the_same_advice_under_its_calibration():
    from advisor.render.profile import profile_summary

    busy = replace(make_calibration(), kernel_time_share=0.21, page_faulted_bytes_per_step=5.1e9)
    text = profile_summary(make_profile(busy))
    (tip,) = [line for line in text.splitlines() if line.startswith("Tip:")]
    assert "resnet34 spends 21 % of its CPU time in the kernel" in tip and len(tip) <= 100
