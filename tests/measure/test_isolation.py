"""Measurements in a fresh interpreter behave like the in-process ones: results, errors, Ctrl-C."""

import pytest

from advisor.errors import RuntimeFailure, UsageError
from advisor.measure.calibrate import calibrate_in_fresh_process
from advisor.measure.isolation import run_in_fresh_process
from advisor.measure.opcount import count_step
from advisor.measure.sampledata import write_image_folder
from advisor.measure.training import run_training_in_fresh_process
from advisor.model.workload import Workload

# these train real models in fresh processes: seconds each
pytestmark = pytest.mark.slow

TINY = dict(model="resnet18", image_size=32, batch_size=4, num_classes=3)


def test_a_fresh_process_calibration_comes_back_whole_with_its_progress():
    w = Workload(**TINY)
    cost = count_step(w.model, w.num_classes, w.image_size, w.batch_size, w.precision)
    class Recorder:
        def __init__(self):
            self.stages, self.left = [], []

        def __call__(self, stage, fraction):
            self.stages.append(stage)

        def expect(self, seconds_left):
            self.left.append(seconds_left)

    progress = Recorder()
    (cal,) = calibrate_in_fresh_process(w, "cpu", budget_s=8, progress=progress, step_cost=cost)
    assert cal.key.model == "resnet18" and cal.key.batch_size == 4 and cal.key.device == "cpu"
    assert len(cal.train_step_seconds.values) >= 3 and cal.eval_step_seconds.median > 0
    assert cal.step_cost == cost
    assert "timing training steps" in progress.stages
    # after its warm-up the child says how long it still takes (the rest of its budget, or more
    # where its fewest steps take longer on a busy machine): about what it then took
    assert len(progress.left) == 1 and 0 < progress.left[0] <= 2 * cal.elapsed_s


def test_a_usage_error_in_the_child_stays_a_usage_error():
    with pytest.raises(UsageError, match="dataset"):
        run_in_fresh_process("advisor.measure.training:_train_request",
                             {"workload": {**TINY, "dataset_size": 0}, "device": "cpu"})


def test_a_failure_in_the_child_is_one_line_naming_the_cause(tmp_path):
    data = write_image_folder(tmp_path / "imgs", classes=2, per_class=2, width=32, height=32)
    (data / "class_00" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(RuntimeFailure, match="cannot decode image .*broken.jpg"):
        run_training_in_fresh_process(
            Workload(**TINY, dataset_size=5, valid_fraction=0.0, epochs=1, data_dir=str(data)), "cpu")


def test_a_child_that_dies_without_a_result_is_reported_with_its_last_words():
    with pytest.raises(RuntimeFailure, match="ended without a result: .*no_such_function"):
        run_in_fresh_process("advisor.measure.training:no_such_function", {})


def test_ctrl_c_stops_fresh_process_training_with_what_it_measured():
    def interrupt_after_the_first_epoch(epoch, epochs, step, steps, elapsed_s):
        if epoch == 1 and step == 0:
            raise KeyboardInterrupt

    run = run_training_in_fresh_process(Workload(**TINY, dataset_size=400, epochs=50), "cpu",
                                        progress=interrupt_after_the_first_epoch)
    assert run.interrupted and 1 <= run.epochs_completed < 50


def test_a_child_past_its_time_limit_is_stopped_with_what_it_started():
    # a training of hours, stopped after two seconds (the interpreter may not have finished
    # importing torch by then: the limit counts from the start)
    with pytest.raises(TimeoutError, match="stopped after 2 s"):
        run_in_fresh_process("advisor.measure.training:_train_request",
                             {"workload": {**TINY, "dataset_size": 10**6, "epochs": 100}, "device": "cpu"},
                             timeout_s=2)


def test_a_spot_calibration_stopped_at_its_hard_limit_is_a_usage_error_naming_the_way_out(monkeypatch):
    import advisor.measure.isolation

    seen = {}

    def stopped(target, kwargs, progress=None, timeout_s=None):
        seen["timeout_s"] = timeout_s
        raise TimeoutError("stopped")

    monkeypatch.setattr(advisor.measure.isolation, "run_in_fresh_process", stopped)
    with pytest.raises(UsageError, match=r"stopped after 15 min, past its 10 min limit; pass --no-calibrate") as info:
        calibrate_in_fresh_process(Workload(**TINY, precision="amp-fp16"), "cpu", budget_s=30, max_seconds=600)
    assert info.value.code == "calibration-too-long" and seen["timeout_s"] == 900
