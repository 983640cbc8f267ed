"""Profiles written by an earlier advisor: their counted work is redone once, their measurements kept."""

import dataclasses

import pytest

pytest.importorskip("torch")

from builders import make_calibration, make_cost, make_profile  # noqa: E402

from advisor.app import workflows  # noqa: E402
from advisor.model.workload import Workload  # noqa: E402
from advisor.store import load_profile, save_profile  # noqa: E402


def test_a_profile_counted_the_old_way_is_counted_again_once_and_saved(tmp_path):
    old_cost = dataclasses.replace(make_cost(2, 1e9, 1e8), counting=1)
    cal = make_calibration(model="resnet18", image_size=32, batch=2, cost=old_cost)
    path = tmp_path / "profile.json"
    save_profile(make_profile(cal), path)
    told = []

    class Reporter(workflows.Reporter):
        def tell(self, stage, text):
            told.append(stage)

    workload = Workload(model="resnet18", num_classes=37, image_size=32, batch_size=2)
    estimator, _ = workflows.estimator_for(workload, str(path), calibrate=False, reporter=Reporter())
    saved = load_profile(path)
    cost = saved.calibrations[0].step_cost
    assert cost.current and cost.train.stages is not None and cost.train.stages.tensors == 62
    assert estimator.step_cost(workload) == cost
    # the measurements are the ones the profile had
    assert saved.calibrations[0].train_step_seconds == cal.train_step_seconds
    assert told == ["recounting"]
    workflows.estimator_for(workload, str(path), calibrate=False, reporter=Reporter())
    assert told == ["recounting"]  # once
