"""Peak training memory at another batch or precision, from a measured peak."""

from __future__ import annotations

from advisor.model.calibration import Calibration
from advisor.model.cost import StepCost

CUDA_CONTEXT_BYTES = 1 * 2**30  # CUDA context and cudnn workspace: VRAM the allocator never sees
AMP_ACTIVATION_FACTOR = 0.6  # 16-bit activations, with fp32 copies kept for some ops


def training_memory_bytes(cost: StepCost, local: Calibration | None, batch: int, precision: str) -> int | None:
    """Peak training memory at `batch`: weights, gradients and momentum (12 bytes a parameter)
    plus activations per image as the local calibration measured them, scaled to the batch."""
    state = 12 * cost.parameters
    if local is None or not local.peak_memory_bytes:
        return None
    per_image = max(0.0, (local.peak_memory_bytes - state) / local.key.batch_size)
    if precision.startswith("amp") and not local.key.precision.startswith("amp"):
        per_image *= AMP_ACTIVATION_FACTOR
    return int(state + per_image * batch)


def largest_batch(cost: StepCost, local: Calibration | None, budget_bytes: int, precision: str) -> int | None:
    if local is None or not local.peak_memory_bytes:
        return None
    one = training_memory_bytes(cost, local, 1, precision)
    per_image = training_memory_bytes(cost, local, 2, precision) - one
    if per_image <= 0:
        return None
    return max(0, int((budget_bytes - (one - per_image)) // per_image))
