"""A small JPEG ImageFolder made on the spot, for tests, benchmarks and trying `--data`.

Pictures are smooth random gradients at the Oxford-IIIT Pet photos' typical 500x375, saved as
JPEG at quality 90, so decoding costs what real photos of that size cost.
"""

from __future__ import annotations

from pathlib import Path


def write_image_folder(root: str | Path, classes: int = 4, per_class: int = 25,
                       width: int = 500, height: int = 375, seed: int = 0) -> Path:
    import numpy as np
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    for c in range(classes):
        d = root / f"class_{c:02d}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            noise = rng.integers(0, 8, size=(height, width, 3), dtype=np.uint16)
            img = (np.cumsum(noise, axis=1) + rng.integers(0, 255, size=3)) % 256
            Image.fromarray(img.astype("uint8")).save(d / f"img_{i:04d}.jpg", quality=90)
    return root
