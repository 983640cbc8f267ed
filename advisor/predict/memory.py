"""Peak training memory on a GPU: from the counted step (what autograd keeps for backward), or
else from a measured peak scaled to another batch or precision."""

from __future__ import annotations

from advisor.model.calibration import Calibration
from advisor.model.cost import StepCost
from advisor.model.notes import Note, tip

CUDA_CONTEXT_BYTES = 1 * 2**30  # CUDA context and cudnn workspace: VRAM the allocator never sees
AMP_ACTIVATION_FACTOR = 0.6  # 16-bit activations, with fp32 copies kept for some ops


# FP32 weights, gradients and SGD's momentum
STATE_BYTES_PER_PARAMETER = 12
# under autocast: the 16-bit copies of the weights autocast keeps for the step
AMP_WEIGHT_COPY_BYTES_PER_PARAMETER = 2
# Of the activations counted in FP32 (counting runs without autocast), what autocast keeps: fitted
# by benchmarks/gpu_memory.py to allocator peaks measured on an H200 and an H100
AMP_SAVED_FACTOR = 0.53


def counted_memory_bytes(cost: StepCost, batch: int, precision: str) -> int | None:
    """Peak GPU memory of a training step at `batch` as the allocator sees it: the training
    state, and the activations kept for backward; None for a step counted without them. cuDNN's
    workspace is not in it (FP32 autotuning can take gigabytes, while memory is free)."""
    saved = cost.saved_bytes_at(batch)
    if saved is None:
        return None
    amp = precision.startswith("amp")
    state = (STATE_BYTES_PER_PARAMETER + (AMP_WEIGHT_COPY_BYTES_PER_PARAMETER if amp else 0)) * cost.parameters
    return int(state + saved * (AMP_SAVED_FACTOR if amp else 1.0))


def training_memory_bytes(cost: StepCost, local: Calibration | None, batch: int, precision: str) -> int | None:
    """Peak training memory at `batch`: weights, gradients and momentum (12 bytes a parameter)
    plus activations per image as the local calibration measured them, scaled to the batch."""
    state = STATE_BYTES_PER_PARAMETER * cost.parameters
    if local is None or not local.training_memory_bytes:
        return None
    per_image = max(0.0, (local.training_memory_bytes - state) / local.key.batch_size)
    if precision.startswith("amp") and not local.key.precision.startswith("amp"):
        per_image *= AMP_ACTIVATION_FACTOR
    return int(state + per_image * batch)


def gpu_memory_bytes(cost: StepCost, local: Calibration | None, batch: int, precision: str) -> int | None:
    """Peak training memory on a GPU at `batch`: counted where the step was, else scaled from the
    local calibration's measured peak."""
    counted = counted_memory_bytes(cost, batch, precision)
    return counted if counted is not None else training_memory_bytes(cost, local, batch, precision)


def largest_batch(cost: StepCost, local: Calibration | None, budget_bytes: int, precision: str) -> int | None:
    one, two = (gpu_memory_bytes(cost, local, b, precision) for b in (1, 2))
    if one is None or two is None or two <= one:
        return None
    per_image = two - one
    return max(0, int((budget_bytes - (one - per_image)) // per_image))


def largest_batch_note(cost: StepCost, local: Calibration | None, batch: int, precision: str, peak: int | None,
                       usable_bytes: int, vram_bytes: int) -> Note | None:
    """A tip naming the largest batch that fits, where `peak` (at `batch`) is over the usable memory."""
    if peak is None or peak <= usable_bytes:
        return None
    fit = largest_batch(cost, local, usable_bytes, precision)
    return tip("largest-batch", f"batch {batch} needs about {peak / 2**30:.1f} GiB of the {vram_bytes / 1e9:.0f} GB; "
                                f"the largest batch that fits is about {fit}")
