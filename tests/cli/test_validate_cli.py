"""`advisor validate`: predicted against measured, refusals, Ctrl-C and the CSV history."""

import csv
import json

import pytest
from builders import make_calibration, make_profile

from advisor.cli import main
from advisor.errors import UsageError
from advisor.measure.training import run_training
from advisor.model.run import TrainingRun, Validation, completed_workload
from advisor.model.workload import Workload
from advisor.predict.whole_run import whole_run_estimate
from advisor.store import RECORD_FIELDS, append_record, save_profile

TINY = ["--model", "resnet18", "--image-size", "32", "--batch-size", "4", "--num-classes", "3"]


def _run(seconds, epochs=1):
    return TrainingRun(seconds=seconds, train_seconds=(seconds * 0.8,) * epochs,
                       valid_seconds=(seconds * 0.2,) * epochs, train_images=512, valid_images=128,
                       frozen_epochs=0)


def test_error_is_relative_to_the_measured_time():
    e = whole_run_estimate(Workload(dataset_size=640, epochs=1), make_calibration(), accelerator="CPU")
    v = Validation(e, _run(e.seconds / 1.5))
    assert v.error == pytest.approx(0.5)
    assert not v.inside_band
    assert Validation(e, _run(e.seconds)).inside_band


def test_interrupted_runs_compare_the_completed_epochs():
    w = Workload(epochs=4, frozen_epochs=2)
    assert completed_workload(w, 1).frozen_epochs == 1 and completed_workload(w, 1).epochs == 0
    assert completed_workload(w, 3).frozen_epochs == 2 and completed_workload(w, 3).epochs == 1


def test_ctrl_c_keeps_what_was_measured():
    def progress(epoch, epochs, step, steps, elapsed):
        if epoch == 1 and step == 1:
            raise KeyboardInterrupt

    w = Workload(model="resnet18", image_size=32, batch_size=4, num_classes=3, dataset_size=12, epochs=3)
    run = run_training(w, "cpu", progress)
    assert run.interrupted and run.epochs_completed == 1
    assert run.seconds == pytest.approx(run.train_seconds[0] + run.valid_seconds[0], rel=0.2)


def test_record_file_gets_a_header_once_and_rows_appended(tmp_path):
    e = whole_run_estimate(Workload(dataset_size=640, epochs=1), make_calibration(), accelerator="CPU")
    row = Validation(e, _run(20.0)).record_row("host", "0.1.0")
    path = tmp_path / "history.csv"
    append_record(path, row)
    append_record(path, row)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 2 and tuple(rows[0]) == RECORD_FIELDS
    assert rows[0]["measured_s"] == "20.0" and rows[0]["model"] == "resnet34"


def test_a_record_file_from_before_the_channels_last_column_keeps_its_columns(tmp_path):
    e = whole_run_estimate(Workload(dataset_size=640, epochs=1), make_calibration(), accelerator="CPU")
    row = Validation(e, _run(20.0)).record_row("host", "0.1.0")
    path = tmp_path / "history.csv"
    earlier = RECORD_FIELDS[:-1]
    path.write_text(",".join(earlier) + "\n" + ",".join(str(row[k]) for k in earlier) + "\n")
    append_record(path, row)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 2 and tuple(rows[1]) == earlier and rows[1]["measured_s"] == "20.0"


def test_the_record_file_tells_how_right_the_predictions_on_this_machine_have_been():
    from advisor.store import history_line

    rows = [{"host": "box", "device": "cpu", "error_pct": "-4.0", "inside_band": "True"},
            {"host": "box", "device": "cpu", "error_pct": "2.0", "inside_band": "True"},
            {"host": "box", "device": "cpu", "error_pct": "12.5", "inside_band": "False"},
            {"host": "box", "device": "cuda:0", "error_pct": "50.0", "inside_band": "False"},
            {"host": "other", "device": "cpu", "error_pct": "90.0", "inside_band": "False"}]
    assert history_line(rows, "box", "cpu") == (
        "3 validation(s) recorded on box (cpu): median |error| 4.0 %, max 12.5 %, 2 of 3 inside the band")
    assert history_line(rows, "new", "cpu") is None


def test_record_file_of_another_kind_is_refused(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b,c\n1,2,3\n")
    e = whole_run_estimate(Workload(), make_calibration(), accelerator="CPU")
    with pytest.raises(UsageError, match="other columns"):
        append_record(path, Validation(e, _run(1.0)).record_row("h", "v"))
    assert path.read_text() == "a,b,c\n1,2,3\n"


def test_validate_refuses_a_long_run_without_yes(tmp_path, capsys):
    profile = str(save_profile(make_profile(make_calibration()), tmp_path / "p.json"))
    code = main(["validate", "--dataset-size", "20000", "--profile", profile])  # about 18 min
    err = capsys.readouterr().err
    assert code == 2 and "over the limit of 600 s" in err and "--yes" in err


def test_validate_on_another_device_than_profiled(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    profile = str(save_profile(make_profile(make_calibration()), tmp_path / "p.json"))
    code = main(["validate", "--dataset-size", "100", "--profile", profile, "--device", "cuda"])
    assert code == 2 and "no CUDA GPU" in capsys.readouterr().err


@pytest.mark.slow
def test_validate_end_to_end_on_a_tiny_workload(tmp_path, capsys):
    profile = tmp_path / "p.json"
    assert main(["profile", *TINY, "--budget-s", "6", "--output", str(profile)]) == 0
    capsys.readouterr()
    record = tmp_path / "history.csv"
    code = main(["validate", "--dataset-size", "40", "--epochs", "2", *TINY, "--profile", str(profile),
                 "--record", str(record), "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0
    result = json.loads(captured.out)
    assert result["measured"]["epochs_completed"] == 2 and result["measured"]["seconds"] > 0
    assert result["predicted"]["basis"] == "measured"
    assert isinstance(result["inside_band"], bool) and "error_pct" in result
    (row,) = list(csv.DictReader(record.open()))
    assert row["model"] == "resnet18" and float(row["measured_s"]) > 0
    assert "Recorded in" in captured.err and "1 validation(s) recorded on" in captured.err
    # the table form
    assert main(["validate", "--dataset-size", "40", "--epochs", "1", *TINY, "--profile", str(profile)]) == 0
    out = capsys.readouterr().out
    assert "training time" in out and "predicted" in out and "measured" in out
