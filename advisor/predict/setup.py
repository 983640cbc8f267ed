"""One-time set-up of a training run: the first steps, new batch shapes, the loader's start.

A calibration measures its own first steps; a run started after it pays less on a GPU (the
kernels are loaded) and about half on a CPU. On a GPU the calibration cannot see, set-up is
predicted from the number of convolutions cuDNN autotunes. docs/method.md has the measurements.
"""

from __future__ import annotations

from advisor.model.calibration import PREFETCH_FACTOR, Calibration
from advisor.model.cost import CONV_CLASSES, StepCost

# A run after a CPU calibration pays this share of its measured first step (the band: none to all).
CPU_FIRST_STEP_EXPECTED_FACTOR = 0.5
# the loader alone delivers a batch in under this share of a fed step: its workers run ahead
LOADER_AHEAD = 0.8
# A GPU run after a calibration pays from this multiple of the warm first step to the cold one.
WARM_SETUP_LOW_FACTOR = 0.7
# the first step of a run with hardly any convolutions to autotune (context, library handles)
GPU_FIRST_STEP_FLOOR_S = 1.0
# cuDNN autotuning (cudnn.benchmark) per convolution op of a training step, forward and backward
GPU_AUTOTUNE_S_PER_CONV_OP = 0.036


def first_steps_range_seconds(cal: Calibration) -> tuple[float, float, float]:
    """(least, expected, most) warm-up of a training run started after `cal`.

    On a GPU the calibration was the first to load the model's kernels; a later run pays mostly
    cuDNN's autotuning, which the first step at a new batch shape aligned like the full batch
    measures (the odd-shaped one for calibrations without it): from 0.7x of that to the cold
    first step. A CPU's first step recurs in every process, but the first process to run a
    workload pays most: half of it is expected, none to all of it in the band.
    """
    cold = cal.first_steps_overhead_seconds
    if cal.key.device == "cpu":
        return 0.0, CPU_FIRST_STEP_EXPECTED_FACTOR * cold, cold
    if not cal.key.device.startswith("cuda") or cal.new_shape_overhead_seconds <= 0:
        return cold, cold, cold
    # a first step's own floor (context, handles) shows where there is little to autotune
    proxy = cal.aligned_shape_overhead_seconds or cal.new_shape_overhead_seconds
    warm = min(cold, max(proxy, GPU_FIRST_STEP_FLOOR_S))
    return WARM_SETUP_LOW_FACTOR * warm, warm, cold


def expected_first_steps_seconds(cal: Calibration) -> float:
    """The warm-up a training run started after `cal` is expected to pay."""
    return first_steps_range_seconds(cal)[1]


def prefetched_batches(cal: Calibration, phase: str) -> int:
    """Batches of an epoch's "train" or "eval" phase that the loader's workers decoded before
    the model reached them: the phase's last ones, which run at the model's own speed. None
    where the workers are the bottleneck: they finish each batch just as it is needed."""
    fed = cal.train_step_seconds if phase == "train" else cal.eval_step_seconds
    if not cal.key.workers or cal.loader_images_per_s is None:
        return 0
    loader_batch_s = cal.key.batch_size / cal.loader_images_per_s.median
    return PREFETCH_FACTOR * cal.key.workers if loader_batch_s < LOADER_AHEAD * fed.median else 0


def gpu_setup_seconds(cost: StepCost) -> dict[str, float]:
    """One-time set-up of a training run on a GPU the calibration cannot see: the first steps,
    a new training batch shape and a new validation batch shape (the fit is of whole runs, most
    with a partial validation batch, so the last is inside the others)."""
    conv_ops = sum(b.ops for b in cost.train.bins if b.op_class in CONV_CLASSES)
    train = GPU_AUTOTUNE_S_PER_CONV_OP * conv_ops
    return {"first_steps": GPU_FIRST_STEP_FLOOR_S + train, "new_shape": train, "new_shape_eval": 0.0}
