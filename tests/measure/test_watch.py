"""The hooks that watch a training loop: steps, loader passes and the model, through torch."""

import pytest

torch = pytest.importorskip("torch")

from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from advisor.measure.watch import Tracker  # noqa: E402


def data(n=32):
    return TensorDataset(torch.randn(n, 3, 4, 4), torch.randint(0, 2, (n,)))


def loop(train, epochs, stop_after=None):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 2))
    opt = torch.optim.SGD(model.parameters(), 0.1)
    for _ in range(epochs):
        for i, (x, y) in enumerate(train):
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            if stop_after is not None and i + 1 == stop_after:
                break
    return model


def test_steps_passes_batch_and_model_are_seen_and_the_hooks_go_away():
    tracker = Tracker().install()
    model = loop(DataLoader(data(), batch_size=8), epochs=2)
    tracker.uninstall()
    obs = tracker.observation()
    assert len(obs.step_s) == 8 and [p.steps for p in obs.passes] == [4, 4]
    assert all(p.ended_s is not None and p.length == 4 for p in obs.passes)
    assert (obs.batch_size, obs.input_shape, obs.model) == (8, (3, 4, 4), "Sequential")
    assert obs.parameters == sum(p.numel() for p in model.parameters())
    loop(DataLoader(data(), batch_size=8), epochs=1)  # after uninstall: nothing more is recorded
    assert len(tracker.observation().step_s) == 8


def test_each_loaders_batch_is_known_from_when_it_is_made():
    tracker = Tracker().install()
    train = DataLoader(data(), batch_size=8)
    valid = DataLoader(data(), batch_size=16)  # made, not yet iterated: known all the same
    sampled = DataLoader(data(), batch_sampler=[[0, 1, 2]])  # a batch sampler batches: no size of its own
    loop(train, epochs=1)
    tracker.uninstall()
    assert sorted(tracker.observation().loader_batch_sizes.values()) == [train.batch_size, valid.batch_size]
    assert len(tracker.observation().loader_lengths) == 3 and sampled.batch_size is None


def test_a_pass_left_early_ends_at_its_last_batch_not_when_the_iterator_dies():
    tracker = Tracker().install()
    loop(DataLoader(data(), batch_size=8), epochs=2, stop_after=2)
    tracker.uninstall()
    passes = tracker.observation().passes
    assert [p.batches for p in passes] == [2, 2] and all(p.ended_s is not None for p in passes)


def test_advisors_own_work_is_not_counted_as_the_runs():
    tracker = Tracker().install()
    with tracker.paused():
        loop(DataLoader(data(), batch_size=8), epochs=1)
    tracker.uninstall()
    assert tracker.observation().step_s == ()


@pytest.mark.slow
def test_persistent_workers_reuse_one_iterator_but_each_epoch_is_a_pass():
    tracker = Tracker().install()
    loop(DataLoader(data(), batch_size=8, num_workers=1, persistent_workers=True), epochs=3)
    tracker.uninstall()
    passes = tracker.observation().passes
    assert [p.steps for p in passes] == [4, 4, 4]
    assert all(a.ended_s <= b.started_s for a, b in zip(passes, passes[1:]))
