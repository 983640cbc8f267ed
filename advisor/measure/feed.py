"""Training fed by the real DataLoader: JPEG decoding, the loader's own rate, and fed steps."""

from __future__ import annotations

from advisor.measure.steps import TARGET_RELATIVE_ERROR
from advisor.model.stats import Samples
from advisor.model.workload import Workload

# Loader-fed steps vary more than synthetic ones (workers and training share the cores), so they
# stop early only after ten.
FED_MIN_SAMPLES_FOR_EARLY_STOP = 10


def measure_fed(trainer, w: Workload, device: str, timer, deadline: float, synthetic: Samples,
                 notes: list[str]) -> dict:
    """Training and validation steps fed by the real DataLoader with `w.workers` workers.

    On a machine with few cores the loader's workers compete with the training threads, so the
    fed step is measured, not derived from the decode rate and the synthetic step.
    """
    from advisor.measure.training import image_datasets, make_loader

    # enough batches in both splits that the loaders never run dry while measuring (whatever the
    # workload's validation fraction), and no more: every index is a Python object each forked
    # worker shares with this process
    big = w.with_(dataset_size=512 * w.batch_size, valid_fraction=0.5)
    train_ds, valid_ds = image_datasets(big)
    sync = trainer.sync

    # decode + augment throughput of one process, no training
    decode_times = []
    n_images = max(8, min(64, w.batch_size))
    for rep in range(3):
        start = timer()
        for i in range(n_images):
            train_ds[rep * n_images + i]
        decode_times.append(n_images / (timer() - start))

    def fed_phase(loader, step, min_n, phase_deadline):
        it = iter(loader)
        start = timer()
        first = next(it)  # worker start + first batch
        step(first)
        sync()
        first_s = timer() - start
        times = []
        while len(times) < 100:
            start = timer()
            batch = next(it)
            step(batch)
            sync()
            times.append(timer() - start)
            if len(times) >= min_n and (timer() >= phase_deadline or (
                    len(times) >= FED_MIN_SAMPLES_FOR_EARLY_STOP
                    and Samples(tuple(times)).standard_error_of_median < TARGET_RELATIVE_ERROR)):
                break
        del it  # shuts the workers down
        return first_s, times

    # the loader alone, with its workers: what it can deliver to a fast accelerator
    train_loader = make_loader(train_ds, big, device, shuffle=True)
    it = iter(train_loader)
    next(it)  # worker start
    loader_rates = []
    for _ in range(max(4, 2 * w.workers)):
        start = timer()
        batch = next(it)
        loader_rates.append(len(batch[0]) / (timer() - start))
    del it

    now = timer()
    train_deadline = now + 0.7 * (deadline - now)
    first_train, train = fed_phase(train_loader, lambda b: trainer.train_step(b[0], b[1]), 3, train_deadline)
    valid_loader = make_loader(valid_ds, big, device, shuffle=False)
    first_valid, evals = fed_phase(valid_loader, lambda b: trainer.eval_step(b[0]), 3, deadline)
    train_s, eval_s = Samples(tuple(train)), Samples(tuple(evals))
    if train_s.median > 1.15 * synthetic.median:
        notes.append(
            f"the input pipeline slows training: {w.batch_size / train_s.median:.1f} images/s fed "
            f"by {w.workers} worker(s) against {w.batch_size / synthetic.median:.1f} on synthetic data"
        )
    return dict(train=train_s, eval=eval_s,
                epoch_start=max(0.0, first_train - train_s.median),
                valid_start=max(0.0, first_valid - eval_s.median),
                decode=Samples(tuple(decode_times)), loader=Samples(tuple(loader_rates)))
