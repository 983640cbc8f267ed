"""A whole training run from one calibration's step times: the arithmetic every estimate shares.

Training time is, everywhere: first training step to the end of the last validation pass,
first-steps overhead and loader start-up included.
"""

from __future__ import annotations

from dataclasses import replace

from advisor.model.calibration import Calibration
from advisor.model.estimate import Estimate
from advisor.model.notes import Note, info, tip, warning
from advisor.model.stats import Samples
from advisor.model.workload import Workload
from advisor.predict.setup import expected_first_steps_seconds, first_steps_range_seconds, prefetched_batches

# Relative half-width added to the measured spread: run-to-run variation of a whole run on a
# shared machine (clock boost, other tenants) that step samples cannot see.
MEASURED_BAND = 0.10
# Scaling to an uncalibrated workload through the fitted roofline is first-order only: kernel
# efficiency changes with shapes, batch and cache fit, and page faults with tensor sizes.
SCALED_LOW_FACTOR = 0.65
SCALED_HIGH_FACTOR = 2.0
RAM_HEADROOM = 0.85  # of physical RAM a CPU run may use before swapping is likely
# The kernel's share of a CPU step's CPU time above which an estimate says how to avoid it:
# glibc serves each allocation over 32 MB with a fresh mmap and unmaps it on free, so every step
# of a large-batch CNN page-faults its activations in anew. (docs/method.md has the measurements
# behind these constants.)
KERNEL_SHARE_NOTE = 0.15
REUSE_MEMORY_ENV = "GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=100000000000"


def kernel_time_note(cal: Calibration) -> Note | None:
    """A tip when the kernel takes much of a CPU step (KERNEL_SHARE_NOTE): glibc maps tensors
    over 32 MB anew each step, and reusing that memory makes training faster."""
    share = cal.kernel_time_share
    if cal.key.device != "cpu" or share is None or share < KERNEL_SHARE_NOTE:
        return None
    faulted = cal.page_faulted_bytes_per_step
    mapped = f" ({faulted / 1e9:.1f} GB a step)" if faulted else ""
    return tip("reuse-memory",
               f"{100 * share:.0f} % of this CPU's training time is the kernel mapping fresh memory{mapped}: "
               f"with {REUSE_MEMORY_ENV} (or jemalloc or tcmalloc preloaded) training should take about "
               f"{100 * (1 - share):.0f} % of this estimate; profile with the same setting to predict it")


def _phase_seconds(images: int, batch: int, step_seconds: float) -> float:
    """Seconds for `images` images at `step_seconds` per full batch; the partial batch pro rata."""
    return images / batch * step_seconds


def _prefetched_saving(cal: Calibration, phase: str, steps: float) -> float:
    """Seconds an epoch's phase saves because its last batches were decoded ahead and run at the
    model's own speed, not the loader-fed one (setup.prefetched_batches)."""
    synthetic = cal.synthetic_train_step_seconds if phase == "train" else cal.synthetic_eval_step_seconds
    fed = cal.train_step_seconds if phase == "train" else cal.eval_step_seconds
    prefetched = prefetched_batches(cal, phase)
    if synthetic is None or not prefetched:
        return 0.0
    # no faster than the loader alone delivers them
    ahead = max(synthetic.median, cal.key.batch_size / cal.loader_images_per_s.median)
    return min(steps, prefetched) * max(0.0, fed.median - ahead)


def whole_run_estimate(workload: Workload, cal: Calibration, *, accelerator: str,
                  ram_bytes: int | None = None, vram_bytes: int | None = None,
                  scale: dict[str, float] | None = None, basis: str = "measured",
                  band: tuple[float, float] | None = None,
                  extra_notes: tuple[Note, ...] = (), parallel: dict | None = None) -> Estimate:
    """Full training time of `workload` from calibration `cal`.

    `scale` multiplies the calibration's step times per phase ("train", "eval", "frozen") when
    the workload differs from what was calibrated; "eval" times a validation step at the
    workload's validation batch. `band` (low, high factors) replaces the band derived from the
    samples, for predictions whose error is known from benchmarks.
    """
    scale = scale or {"train": 1.0, "eval": 1.0, "frozen": 1.0}
    b, eb = workload.batch_size, workload.eval_batch_size
    n_train, n_valid = workload.train_images, workload.valid_images
    e, k = workload.epochs, workload.frozen_epochs
    train_partial = n_train % b != 0
    valid_partial = bool(n_valid) and n_valid % eb != 0

    def total(q: float) -> tuple[float, dict]:
        def at(samples, phase):
            return (samples.median if q == 0.5 else samples.quantile(q)) * scale[phase]

        train = _phase_seconds(n_train, b, at(cal.train_step_seconds, "train"))
        train -= _prefetched_saving(cal, "train", n_train / b) * scale["train"]
        frozen = _phase_seconds(n_train, b, at(cal.frozen_step_seconds, "frozen"))
        valid = _phase_seconds(n_valid, eb, at(cal.eval_step_seconds, "eval"))
        valid -= _prefetched_saving(cal, "eval", n_valid / eb) * scale["eval"]
        starts = cal.epoch_start_seconds + (cal.valid_start_seconds if n_valid else 0.0)
        # one-time set-up: the first steps, each new batch shape, the frozen graph
        first = expected_first_steps_seconds(cal) * scale["train"]
        first += cal.new_shape_overhead_seconds * scale["train"] * train_partial
        first += cal.new_shape_eval_overhead_seconds * scale["eval"] * valid_partial
        first += cal.frozen_first_step_overhead_seconds * scale["frozen"] * (k > 0)
        parts = {
            "first_steps_overhead": first,
            "frozen_training": k * frozen,
            "training": e * train,
            "validation": (e + k) * valid,
            "loader_start": (e + k) * starts,
        }
        return sum(parts.values()), parts

    seconds, breakdown = total(0.5)
    low, _ = total(0.25)
    high, _ = total(0.75)
    if band is not None:
        low, high = seconds * band[0], seconds * band[1]
    elif basis == "measured":
        # few samples: the median itself is uncertain
        half = MEASURED_BAND + cal.train_step_seconds.standard_error_of_median
        low, high = min(low, seconds) * (1 - half), max(high, seconds) * (1 + half)
        # the set-up's own spread: a run that is the first to load the kernels pays the cold first step
        least, expected, most = first_steps_range_seconds(cal)
        low -= (expected - least) * scale["train"]
        high += (most - expected) * scale["train"]
    else:
        low, high = seconds * SCALED_LOW_FACTOR, seconds * SCALED_HIGH_FACTOR

    notes = list(extra_notes)
    ranks = parallel["world"] if parallel else 1  # images/s of all GPUs together
    train_ips = ranks * b / (cal.train_step_seconds.median * scale["train"])
    eval_ips = ranks * eb / (cal.eval_step_seconds.median * scale["eval"])
    bottleneck = _bottleneck(cal)
    if bottleneck == "input pipeline":
        notes.append(warning(
            "data-bound", f"the data loader ({cal.key.workers} worker(s)) limits training to {train_ips:.1f} "
            f"images/s; the model alone trains at {ranks * b / cal.synthetic_train_step_seconds.median:.1f}"))
    fits = True
    peak = cal.training_memory_bytes
    if scale["train"] != 1.0 and peak and cal.peak_memory_kind != "predicted":
        peak = None  # another workload's memory is not what this calibration measured
    if cal.fitted_smaller_batch and b > cal.key.batch_size:
        fits = False
        notes.append(warning("no-fit", f"batch {b} does not fit in device memory; the largest that fitted is "
                                       f"{cal.key.batch_size}"))
    if cal.key.device == "cpu" and peak and ram_bytes and peak > RAM_HEADROOM * ram_bytes:
        fits = False
        notes.append(warning("no-fit", f"training needs about {peak / 2**30:.1f} GiB, near or over this machine's RAM"))
    if vram_bytes and peak and cal.key.device != "cpu" and peak > vram_bytes:
        fits = False
        notes.append(warning("no-fit", f"needs about {peak / 2**30:.1f} GiB of GPU memory, more than the "
                                       f"{vram_bytes / 2**30:.0f} GiB usable"))
    if cal.key.data_source == "synthetic" and workload.data_dir:
        notes.append(warning("decoding-not-measured", f"JPEG decoding ({workload.workers} loader worker(s)) is not "
                             "included: scaled from a calibration on synthetic tensors"))
    elif cal.key.data_source == "synthetic":
        notes.append(info("synthetic-data", "synthetic tensors: JPEG decoding is not included"))
    if workload.frozen_epochs:
        notes.append(info("frozen-epochs", f"{workload.frozen_epochs} frozen epoch(s): only the classifier head trains"))
    kernel = kernel_time_note(cal) if basis == "measured" and set(scale.values()) == {1.0} else None
    if kernel:
        notes.append(kernel)
    notes.append(info(
        "workload", f"{n_train} training and {n_valid} validation images per epoch"
        f"{' on each rank' if parallel else ''}, batch {b}{f' (validation {eb})' if eb != b else ''}, "
        f"{workload.precision}"))
    return Estimate(
        workload=workload, device=cal.key.device, accelerator=accelerator,
        seconds=seconds, seconds_low=low, seconds_high=high,
        train_images_per_s=train_ips, eval_images_per_s=eval_ips, bottleneck=bottleneck,
        fits_memory=fits, peak_memory_bytes=peak, basis=basis,
        breakdown_seconds={k2: round(v, 3) for k2, v in breakdown.items()}, notes=tuple(notes),
        parallel=parallel,
    )


def retimed_calibration(cal: Calibration, factor: float = 1.0, train_add_s: float = 0.0,
                        frozen_add_s: float = 0.0) -> Calibration:
    """`cal` with every step time multiplied by `factor`, plus seconds added to each training
    (and frozen) step: how sharing a machine and communicating change a measured step."""
    def f(samples, add=0.0):
        return None if samples is None else Samples(tuple(v * factor + add for v in samples.values))

    return replace(
        cal, train_step_seconds=f(cal.train_step_seconds, train_add_s),
        eval_step_seconds=f(cal.eval_step_seconds), frozen_step_seconds=f(cal.frozen_step_seconds, frozen_add_s),
        warmup_train_step_seconds=tuple(v * factor + train_add_s for v in cal.warmup_train_step_seconds),
        warmup_eval_step_seconds=tuple(v * factor for v in cal.warmup_eval_step_seconds),
        synthetic_train_step_seconds=f(cal.synthetic_train_step_seconds, train_add_s),
        synthetic_eval_step_seconds=f(cal.synthetic_eval_step_seconds),
    )


def _bottleneck(cal: Calibration) -> str:
    synth = cal.synthetic_train_step_seconds
    if synth is not None and cal.train_step_seconds.median > 1.15 * synth.median:
        return "input pipeline"
    split = cal.op_split or {}
    shares = {"compute": split.get("compute", 0.0), "memory": split.get("memory", 0.0),
              "overhead": split.get("other", 0.0)}
    return max(shares, key=shares.get)
