"""The Lightning callback: a real tiny Trainer.fit on the CPU, predicted then measured."""

import pytest

pl = pytest.importorskip("lightning.pytorch")

import torch  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from advisor.integrations.lightning import AdvisorCallback  # noqa: E402


class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 64), torch.nn.ReLU(),
                                       torch.nn.Linear(64, 4))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, _):
        x, y = batch
        return torch.nn.functional.cross_entropy(self(x), y)

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self(x), y))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), 1e-3)


def fit(cb, epochs):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(96, 3, 8, 8, generator=g), torch.randint(0, 4, (96,), generator=g)
    train = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=8, shuffle=True)
    valid = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=8)
    trainer = pl.Trainer(max_epochs=epochs, callbacks=[cb], accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Tiny(), train, valid)
    return trainer


def test_a_fit_is_predicted_once_then_measured(capsys):
    cb = AdvisorCallback(budget_s=0.0, cloud=False)
    fit(cb, 3)
    p, r = cb.prediction, cb.result
    assert p is not None and r is not None and r.measured_seconds > 0
    assert (p.steps_per_epoch, p.total_steps, p.batch_size) == (8, 24, 8)
    err = capsys.readouterr().err
    assert err.count("advisor: this run should take") == 1 and "advisor: the run took" in err


def test_calibrate_only_stops_the_fit_cleanly():
    cb = AdvisorCallback(budget_s=0.0, cloud=False, calibrate_only=True, quiet=True)
    trainer = fit(cb, 50)
    assert cb.prediction is not None and cb.result is None and trainer.current_epoch < 49
