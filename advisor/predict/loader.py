"""What a DataLoader delivers on a machine that is not here, from its vCPU count."""

from __future__ import annotations

import math

# DataLoader throughput relative to one process, by worker count, for pets-size JPEGs with
# RandomResizedCrop(224) + flip + normalize, measured on 16 vCPUs: sublinear past a few workers
# (docs/method.md).
LOADER_SCALING = ((1, 1.0), (2, 1.96), (4, 3.0), (8, 4.75), (15, 5.93))
DEFAULT_DECODE_IMAGES_PER_S = 280.0  # one process, the same measurement


def loader_images_per_s(vcpus: int, per_process_images_per_s: float) -> float:
    """What a DataLoader using every vCPU delivers, interpolated in log-log on the measured curve."""
    n = max(1, vcpus)
    points = LOADER_SCALING
    if n >= points[-1][0]:
        (n0, r0), (n1, r1) = points[-2], points[-1]
    else:
        (n0, r0), (n1, r1) = next((a, b) for a, b in zip(points, points[1:]) if a[0] <= n <= b[0])
    slope = math.log(r1 / r0) / math.log(n1 / n0)
    return per_process_images_per_s * r0 * (n / n0) ** slope
