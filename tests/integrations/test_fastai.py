"""The fastai callback: a real tiny Learner's fine_tune, frozen epoch included, on the CPU."""

import pytest

pytest.importorskip("fastai")

import torch  # noqa: E402
from fastai.callback.progress import ProgressCallback  # noqa: E402, F401  (learn.no_bar)
from fastai.callback.schedule import fit_one_cycle  # noqa: E402, F401  (learn.fine_tune)
from fastai.data.core import DataLoaders  # noqa: E402
from fastai.data.load import DataLoader  # noqa: E402
from fastai.learner import Learner  # noqa: E402

from advisor.integrations.fastai import AdvisorCallback  # noqa: E402


def learner():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(96, 3, 8, 8, generator=g), torch.randint(0, 4, (96,), generator=g)
    items = list(zip(x, y))
    dls = DataLoaders(DataLoader(items[:64], bs=8, shuffle=True), DataLoader(items[64:], bs=8))
    body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 64), torch.nn.ReLU())
    model = torch.nn.Sequential(body, torch.nn.Linear(64, 4))
    return Learner(dls, model, loss_func=torch.nn.CrossEntropyLoss(),
                   splitter=lambda m: [list(m[0].parameters()), list(m[1].parameters())])


def test_fine_tune_is_one_run_frozen_epoch_included(capsys):
    learn = learner()
    cb = AdvisorCallback(budget_s=0.0, cloud=False)
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(2, cbs=cb)
    p, r = cb.prediction, cb.result
    assert p is not None and r is not None
    assert p.steps_per_epoch == 8 and p.total_steps == 3 * 8  # 1 frozen + 2 epochs
    assert r.measured_seconds > 0
    err = capsys.readouterr().err
    assert err.count("advisor: this run should take") == 1 and err.count("advisor: the run took") == 1


def test_calibrate_only_stops_fine_tune_after_the_prediction():
    learn = learner()
    cb = AdvisorCallback(budget_s=0.0, cloud=False, calibrate_only=True, quiet=True)
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(50, cbs=cb)
    assert cb.prediction is not None and cb.result is None
    assert cb.prediction.steps_done < 10
