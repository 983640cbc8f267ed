import json
import os

import pytest
from builders import make_calibration, make_profile

from advisor.errors import RuntimeFailure, UsageError
from advisor.model.profile import SCHEMA_VERSION
from advisor.store import default_profile_path, load_profile, save_profile


def test_round_trip_keeps_raw_samples(tmp_path):
    p = make_profile(make_calibration(train=(1.0, 1.1, 0.9)))
    path = save_profile(p, tmp_path / "p.json")
    back = load_profile(path)
    assert back == p
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["calibrations"][0]["train_step_seconds"]["values"] == [1.0, 1.1, 0.9]


def test_default_location_is_per_machine_in_the_data_dir(data_home):
    path = save_profile(make_profile())
    assert path == default_profile_path() and path.parent == data_home / "profiles"
    assert load_profile() == make_profile()


def test_failed_write_leaves_the_previous_profile_intact(tmp_path, monkeypatch):
    path = save_profile(make_profile(), tmp_path / "p.json")
    before = path.read_text()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        save_profile(make_profile(make_calibration(batch=8)), path)
    assert path.read_text() == before
    assert [f.name for f in tmp_path.iterdir()] == ["p.json"]  # no temporary left behind


def test_missing_profile_says_how_to_make_one(tmp_path):
    with pytest.raises(UsageError, match="run `advisor profile`"):
        load_profile(tmp_path / "none.json")


def test_corrupt_profile(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(RuntimeFailure, match="not valid JSON"):
        load_profile(bad)


def test_newer_schema_is_refused(tmp_path):
    path = save_profile(make_profile(), tmp_path / "p.json")
    data = json.loads(path.read_text())
    data["schema_version"] = SCHEMA_VERSION + 1
    path.write_text(json.dumps(data))
    with pytest.raises(RuntimeFailure, match="newer than this advisor reads"):
        load_profile(path)


def test_incomplete_profile(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"schema_version": 1, "device": "cpu"}))
    with pytest.raises(RuntimeFailure, match="damaged or incomplete"):
        load_profile(path)


def test_not_a_profile(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("[1, 2]")
    with pytest.raises(RuntimeFailure, match="not an advisor profile"):
        load_profile(path)


def test_output_in_a_missing_directory(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        save_profile(make_profile(), tmp_path / "nope" / "p.json")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_output_in_a_read_only_directory(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(UsageError, match="not writable"):
        save_profile(make_profile(), ro / "p.json")


def test_a_profile_from_before_the_layout_option_loads_as_nchw(tmp_path):
    path = save_profile(make_profile(make_calibration()), tmp_path / "p.json")
    data = json.loads(path.read_text())
    for cal in data["calibrations"]:
        del cal["key"]["channels_last"]
    path.write_text(json.dumps(data))
    assert load_profile(path).calibrations[0].key.channels_last is False


def test_a_new_profile_keeps_what_the_one_it_replaces_measured_beyond_it(tmp_path):
    from dataclasses import replace

    from advisor.app.workflows import save_measured
    from advisor.store import carried_over

    old_default = make_calibration(train=(2.0,) * 3)
    resnet50 = make_calibration(model="resnet50", train=(4.0,) * 3)  # calibrated later, on the spot
    old = make_profile(old_default, resnet50)
    new = make_profile(make_calibration(train=(1.9,) * 3))
    merged = carried_over(new, old)
    # the default workload as newly measured, the spot calibration kept
    assert [c.train_step_seconds.median for c in merged.calibrations] == [1.9, 4.0]
    # nothing from another software stack: the old steps no longer hold
    upgraded = replace(new, machine=replace(new.machine, torch_version="2.99"))
    assert carried_over(upgraded, old) == upgraded
    # saving says what it kept
    path = save_profile(old, tmp_path / "p.json")
    saved = save_measured(new, str(path))
    assert len(load_profile(path).calibrations) == 2 and saved.kept == ("resnet50 224px batch 64 fp32",)
    fresh = save_measured(new, str(tmp_path / "none.json"))
    assert fresh.kept == () and fresh.backup is None and load_profile(fresh.path) == new
    # one of other software is not merged, and not lost: it stays beside the new one
    saved = save_measured(upgraded, str(path))
    assert load_profile(path) == upgraded and saved.backup == tmp_path / "p.previous.json"
    assert load_profile(tmp_path / "p.previous.json") == merged
