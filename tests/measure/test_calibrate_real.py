"""Real measurements on a tiny workload (seconds on a 2-core CPU); no timing is asserted."""

import json
import sys

import pytest

from advisor.cli import main
from advisor.errors import RuntimeFailure
from advisor.measure.calibrate import calibrate, op_split_from_profile, time_steps
from advisor.measure.sampledata import write_image_folder
from advisor.measure.steps import issue_seconds
from advisor.measure.training import run_training
from advisor.model.workload import Workload

# these train real models in fresh processes: seconds each
pytestmark = pytest.mark.slow

TINY = dict(model="resnet18", image_size=32, batch_size=4, num_classes=3)


class FakeClock:
    """Each call advances by `step` seconds: step timing becomes exact."""

    def __init__(self, step=1.0):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def test_timed_steps_stop_at_the_deadline_but_not_before_the_minimum():
    clock = FakeClock()
    times = time_steps(lambda: None, lambda: None, clock, min_n=3, max_n=100, deadline=2.0)
    assert times == [1.0, 1.0, 1.0]


def test_fast_steps_past_the_deadline_go_on_until_they_span_the_phase_minimum():
    # the warm-up used the phase's time: 0.1-s steps go on until they add up to the 1.95 s minimum
    fast = time_steps(lambda: None, lambda: None, FakeClock(0.1), min_n=3, max_n=100, deadline=0.0,
                       min_seconds=1.95)
    assert len(fast) == 20
    # ...never past the phase's most steps
    assert len(time_steps(lambda: None, lambda: None, FakeClock(0.1), min_n=3, max_n=12, deadline=0.0,
                           min_seconds=1.95)) == 12
    # slow steps keep the minimum of three
    assert len(time_steps(lambda: None, lambda: None, FakeClock(), min_n=3, max_n=100, deadline=0.0,
                           min_seconds=2.0)) == 3


def test_timed_steps_stop_once_the_median_is_known_from_ten_spread_out_samples():
    # identical 1 s steps; each clock read advances it by 1 s, three reads a step
    times = time_steps(lambda: None, lambda: None, FakeClock(), min_n=3, max_n=100, deadline=41.0)
    assert times == [1.0] * 10  # ten samples, and 30 s of a 40 s phase spent
    # a longer phase: ten samples are not enough before half of its 80 s have passed
    assert len(time_steps(lambda: None, lambda: None, FakeClock(), min_n=3, max_n=100, deadline=81.0)) == 14
    assert len(time_steps(lambda: None, lambda: None, FakeClock(), min_n=3, max_n=100, deadline=1e9)) == 100


def test_op_split_shares_of_step_time():
    class E:
        def __init__(self, key, us):
            self.key, self.self_cpu_time_total, self.self_device_time_total = key, us, 0

    events = [E("aten::convolution_backward", 600), E("aten::mkldnn_convolution", 100),
              E("aten::native_batch_norm", 200), E("ProfilerStep", 50)]
    assert op_split_from_profile(events, 0.001, use_device_time=False) == {
        "compute": 0.7, "memory": 0.2, "other": 0.1}


def test_calibration_of_a_tiny_cnn_records_what_the_estimator_needs():
    (cal,) = calibrate(Workload(**TINY), "cpu", budget_s=5)
    assert cal.key.model == "resnet18" and cal.key.batch_size == 4
    assert cal.train_step_seconds.n >= 3 and cal.eval_step_seconds.n >= 3
    assert cal.frozen_step_seconds.n >= 2 and len(cal.warmup_train_step_seconds) == 2
    assert cal.train_step_seconds.median > 0 and min(cal.warmup_train_step_seconds) > 0
    assert sum(cal.op_split.values()) == pytest.approx(1.0, abs=1e-3)
    assert cal.peak_memory_kind == "cpu resident growth"
    assert cal.host_train_step_seconds is None  # a CPU step ends when its ops do: no host side apart
    assert cal.window_steps == 1  # ...and each step is a sample
    if sys.platform.startswith("linux"):  # the kernel's part of the training steps' CPU time
        assert 0.0 <= cal.kernel_time_share <= 1.0 and cal.page_faulted_bytes_per_step is not None


def test_calibration_with_an_image_folder_measures_the_loader(tmp_path):
    data = write_image_folder(tmp_path / "imgs", classes=2, per_class=6, width=64, height=48)
    synthetic, fed = calibrate(Workload(**TINY, data_dir=str(data), workers=1), "cpu", budget_s=6)
    assert synthetic.key.data_source == "synthetic"
    assert fed.key.data_source == "imagefolder" and fed.key.workers == 1
    assert fed.decode_images_per_s.median > 0 and fed.synthetic_train_step_seconds is not None


def test_a_workload_without_validation_still_measures_both_loaders(tmp_path):
    data = write_image_folder(tmp_path / "imgs", classes=2, per_class=3, width=48, height=48)
    synthetic, fed = calibrate(Workload(**TINY, data_dir=str(data), valid_fraction=0.0), "cpu", budget_s=5)
    assert fed.train_step_seconds.median > 0 and fed.eval_step_seconds.median > 0


def test_real_training_run_measures_each_phase():
    run = run_training(Workload(**TINY, dataset_size=20, epochs=1, frozen_epochs=1), "cpu")
    assert run.epochs_completed == 2 and len(run.train_seconds) == 2
    assert run.seconds >= sum(run.train_seconds) + sum(run.valid_seconds) - 1e-6
    assert run.epoch_seconds == tuple(t + v for t, v in zip(run.train_seconds, run.valid_seconds))
    assert (run.train_images, run.valid_images) == (16, 4)


@pytest.mark.parametrize("image_folder", [False, True])
def test_a_real_run_validates_in_batches_of_its_validation_loader(tmp_path, image_folder):
    data = str(write_image_folder(tmp_path / "imgs", classes=2, per_class=6, width=40, height=40)) \
        if image_folder else None
    seen = []

    def prepare(trainer):
        step = trainer.eval_step
        trainer.eval_step = lambda x: (seen.append(len(x)), step(x))[1]

    run_training(Workload(**TINY, dataset_size=12, valid_fraction=0.5, epochs=1, valid_batch_size=5, data_dir=data),
                 "cpu", prepare=prepare)
    assert seen == [5, 1]  # 6 validation images; training in batches of 4


def test_corrupt_image_is_named(tmp_path):
    data = write_image_folder(tmp_path / "imgs", classes=2, per_class=3, width=32, height=32)
    (data / "class_00" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(RuntimeFailure, match="broken.jpg"):
        run_training(Workload(**TINY, dataset_size=7, valid_fraction=0.0, epochs=1, data_dir=str(data)), "cpu")


def test_end_to_end_profile_then_recommend(tmp_path, capsys):
    out = tmp_path / "p.json"
    args = ["--model", "resnet18", "--image-size", "32", "--batch-size", "4"]
    assert main(["profile", *args, "--budget-s", "6", "--output", str(out)]) == 0
    assert "Saved to" in capsys.readouterr().out
    assert main(["recommend", "--dataset-size", "200", *args, "--profile", str(out), "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    local = next(o for o in payload["options"] if o["id"] == "local")
    assert local["basis"] == "measured" and local["seconds"] > 0
    # a workload the profile lacks is calibrated on the spot and added to the profile
    assert main(["recommend", "--dataset-size", "200", "--model", "resnet18", "--image-size", "40",
                 "--batch-size", "4", "--profile", str(out), "--budget-s", "5", "--format", "json"]) == 0
    capsys.readouterr()
    saved = json.loads(out.read_text())
    assert sorted(c["key"]["image_size"] for c in saved["calibrations"]) == [32, 40]


def test_out_of_memory_halves_the_batch_and_says_so(monkeypatch):
    import advisor.measure.calibrate as calibrate_module

    tried = []
    real = calibrate_module._calibrate_once

    def fake_once(w, device, budget_s, progress, timer, max_seconds=None):
        tried.append(w.batch_size)
        if w.batch_size > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(w, device, budget_s, progress, timer, max_seconds)

    monkeypatch.setattr(calibrate_module, "_calibrate_once", fake_once)
    (cal,) = calibrate(Workload(**{**TINY, "batch_size": 8}), "cpu", budget_s=5)
    assert tried == [8, 4, 2]
    assert cal.key.batch_size == 2 and cal.requested_batch_size == 8 and cal.fitted_smaller_batch
    assert "largest batch that fitted: 2 (requested 8)" in cal.notes


def test_progress_shows_stage_and_time_left():
    import io

    from advisor.render.progress import Progress

    stream = io.StringIO()
    p = Progress(60, stream=stream, enabled=True)
    p("timing training steps", 0.5)
    p.done("profile measured")
    text = stream.getvalue()
    assert "timing training steps" in text and "s left]" in text and text.rstrip().endswith("profile measured") and text.endswith("\n")
    # a calibration whose fewest steps outlast its budget keeps counting down what is expected
    long = io.StringIO()
    Progress(30, stream=long, enabled=True, expected_s=600)("timing training steps", 1.0)
    assert "~600 s left]" in long.getvalue() or "~599 s left]" in long.getvalue()
    quiet = io.StringIO()
    Progress(60, stream=quiet, enabled=False)("x", 0.1)
    assert quiet.getvalue() == ""
    # what is measured can revise it: a calibration whose warm-up shows 5 more minutes, with a
    # minute planned after it
    revised = io.StringIO()
    p = Progress(30, stream=revised, enabled=True, then_s=60)
    p.expect(300)
    p("timing training steps", 0.9)
    assert "~360 s left]" in revised.getvalue() or "~359 s left]" in revised.getvalue()


@pytest.mark.parametrize("workers", [0, 1])
def test_corrupt_image_in_profile_data_is_one_line(tmp_path, capsys, workers):
    data = write_image_folder(tmp_path / "imgs", classes=2, per_class=2, width=32, height=32)
    for c in ("class_00", "class_01"):
        for f in (data / c).iterdir():
            f.write_bytes(b"truncated")
    code = main(["profile", *["--model", "resnet18", "--image-size", "32", "--batch-size", "2"],
                 "--data", str(data), "--workers", str(workers), "--budget-s", "5",
                 "--output", str(tmp_path / "p.json")])
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "cannot decode image" in err and ".jpg" in err
    assert not (tmp_path / "p.json").exists()


def test_training_in_a_fresh_process_returns_the_run(tmp_path):
    from advisor.measure.training import run_training_in_fresh_process

    data = write_image_folder(tmp_path / "imgs", classes=2, per_class=4, width=48, height=48)
    run = run_training_in_fresh_process(
        Workload(**TINY, dataset_size=8, epochs=1, data_dir=str(data), workers=1), "cpu")
    assert run.epochs_completed == 1 and run.seconds > 0


def test_a_calibration_takes_its_budget_or_its_fewest_steps_whichever_is_longer():
    from advisor.measure.calibrate import expected_calibration_seconds

    assert expected_calibration_seconds(60, train_step_s=0.5, eval_step_s=0.1, startup_s=5) == 65
    # 2 warm-up + 3 timed + 1 (two half batches) + 1 profiled training steps; 1 warm-up + 3 timed
    # + 1 half-batch pair + 1 first frozen + 2 frozen eval-sized steps
    assert expected_calibration_seconds(30, train_step_s=10, eval_step_s=3, startup_s=5) == 5 + 70 + 24
    # a GPU: one more warm-up step, and a second pair of half batches (the aligned shape)
    assert expected_calibration_seconds(30, 10, 3, device="cuda:0", startup_s=0) == 90 + 27


def test_after_its_warm_up_a_calibration_knows_how_long_it_still_takes():
    from advisor.measure.calibrate import remaining_calibration_seconds

    # 3 timed + 1 + 1 training steps and 8 eval-sized ones outlast the 10 s left of the budget
    assert remaining_calibration_seconds(30, 20, train_step_s=10, eval_step_s=3) == 50 + 24
    assert remaining_calibration_seconds(60, 20, train_step_s=0.5, eval_step_s=0.1) == 40
    # a GPU's cold first step used the whole 6-s budget: its three phases still time 0.6 s each
    left = remaining_calibration_seconds(6, 16, train_step_s=0.01, eval_step_s=0.004, device="cuda:0")
    assert left == pytest.approx(3 * 0.6 + 3 * 0.01 + 4 * 0.004)


def test_channels_last_trains_the_model_and_inputs_in_nhwc():
    import torch

    from advisor.measure.training import Trainer, synthetic_batch

    w = Workload(**TINY, channels_last=True)
    trainer = Trainer(w, "cpu")
    conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    trainer.train_step(*synthetic_batch(w, "cpu"))
    (cal,) = calibrate(w, "cpu", budget_s=5)
    assert cal.key.channels_last and cal.train_step_seconds.n >= 3


def test_a_calibration_that_would_run_for_ages_stops_after_its_first_step_and_says_so():
    from advisor.errors import UsageError

    slow = FakeClock(step=100.0)  # every step appears to take 100 s
    with pytest.raises(UsageError, match=r"would take about \d+ min .*first training step took 100 s.*--no-calibrate"):
        calibrate(Workload(**TINY), "cpu", budget_s=5, timer=slow, max_seconds=600)
    (cal,) = calibrate(Workload(**TINY), "cpu", budget_s=5, max_seconds=600)  # a quick one is not refused
    assert cal.train_step_seconds.n >= 3


def test_convolutions_are_timed_in_each_type_with_fp32_and_bf16_alternating():
    from advisor.measure.microbench import conv_train_throughputs

    rates = conv_train_throughputs(repeats=4, emulated_repeats=2, timer=FakeClock(step=0.5))
    assert {k: v.n for k, v in rates.items()} == {"fp32": 4, "bf16": 4, "fp16": 2}
    flops = 3 * 2.0 * 8 * 64 * 64 * 9 * 28 * 28
    assert rates["fp32"].median == pytest.approx(flops / 0.5)


def test_new_batch_shapes_stand_for_a_partial_batch_the_full_batch_and_a_partial_validation_batch():
    from advisor.measure.calibrate import new_shape_sizes

    # half plus one: a partial batch of any alignment; about half, of the full batch's parity:
    # the full batch's own first step (an odd shape autotuned 1.2-1.5x longer on an H100)
    assert new_shape_sizes(64) == {"partial": 33, "aligned": 32, "eval": 17}
    assert new_shape_sizes(50) == {"partial": 26, "aligned": 24, "eval": 13}
    assert new_shape_sizes(25)["aligned"] == 11
    # tiny batches: never the full batch, never a shape timed before
    assert new_shape_sizes(4) == {"partial": 3, "aligned": 2, "eval": None}
    assert new_shape_sizes(2) == {"partial": None, "aligned": None, "eval": 1}
    assert new_shape_sizes(1) == {"partial": None, "aligned": None, "eval": None}


def test_gpu_steps_are_timed_in_windows_between_two_synchronisations():
    syncs, steps = [], []
    clock = FakeClock(0.1)
    times = time_steps(lambda: steps.append(1), lambda: syncs.append(1), clock, min_n=4, max_n=10,
                       deadline=0.0, window=5)
    # four samples of five steps each, one synchronisation a window, each sample a step's mean
    assert len(times) == 4 and len(steps) == 20 and len(syncs) == 4
    assert times == pytest.approx([0.1 / 5] * 4)


def test_the_host_side_of_a_gpu_step_is_timed_from_an_idle_device_until_the_call_returns():
    # the clock is read once before and once after each step; the syncs around it are not timed
    events = []
    clock = FakeClock(0.002)
    times = issue_seconds(lambda: events.append("step"), lambda: events.append("sync"), clock, 3)
    assert times == pytest.approx([0.002] * 3)
    assert events == ["sync", "step", "sync"] * 3
