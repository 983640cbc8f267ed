"""`advisor.track`: a real (tiny) training loop measured through PyTorch's hooks, on the CPU."""

import pytest

torch = pytest.importorskip("torch")

from torch.utils.data import DataLoader, TensorDataset  # noqa: E402
from torch.utils.data.dataloader import _BaseDataLoaderIter  # noqa: E402

import advisor  # noqa: E402


def loaders():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(96, 3, 8, 8, generator=g), torch.randint(0, 4, (96,), generator=g)
    return (DataLoader(TensorDataset(x[:64], y[:64]), batch_size=8, shuffle=True),
            DataLoader(TensorDataset(x[64:], y[64:]), batch_size=8))


def train(model, opt, train_dl, valid_dl, epochs):
    for _ in range(epochs):
        for xb, yb in train_dl:
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            for xb, _ in valid_dl:
                model(xb)


def tiny():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
    return model, torch.optim.Adam(model.parameters(), 1e-3)


def test_a_plain_loop_is_predicted_once_then_measured_to_its_end(capsys):
    train_dl, valid_dl = loaders()
    model, opt = tiny()
    with advisor.track(model, train_dl, epochs=3, budget_s=0.0) as t:
        train(model, opt, train_dl, valid_dl, 3)
    p, r = t.prediction, t.result
    assert p is not None and r is not None and r.measured_seconds > 0
    assert (p.total_steps, p.steps_per_epoch, p.batch_size, p.input_shape) == (24, 8, 8, (3, 8, 8))
    assert p.model == "Sequential" and p.parameters == sum(q.numel() for q in model.parameters())
    err = capsys.readouterr().err
    assert err.count("advisor: this run should take") == 1 and "advisor: the run took" in err


def test_quiet_prints_nothing_and_the_hooks_are_gone_afterwards(capsys):
    train_dl, valid_dl = loaders()
    model, opt = tiny()
    before = _BaseDataLoaderIter.__next__
    with advisor.track(epochs=1, budget_s=0.0, quiet=True) as t:
        train(model, opt, train_dl, valid_dl, 1)
    assert capsys.readouterr().err == ""
    assert _BaseDataLoaderIter.__next__ is before and t.prediction is not None


def test_calibrate_only_ends_the_loop_after_the_prediction_and_the_code_after_it_runs():
    train_dl, valid_dl = loaders()
    model, opt = tiny()
    with advisor.track(epochs=50, budget_s=0.0, calibrate_only=True, quiet=True) as t:
        train(model, opt, train_dl, valid_dl, 50)
    assert t.prediction is not None and t.result is None
    assert t.prediction.steps_done < 50 * 8


def test_a_loop_too_short_to_predict_says_why():
    train_dl, valid_dl = loaders()
    model, opt = tiny()
    with advisor.track(epochs=1, budget_s=3600, quiet=True) as t:
        train(model, opt, train_dl, valid_dl, 1)
    assert t.prediction is None and t.result is None
