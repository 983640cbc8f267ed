"""How a DataLoader's JPEG decoding scales with its workers on this machine.

Generates a pets-like ImageFolder (500x375 JPEGs, quality 90), then times the training
loader (RandomResizedCrop(224) + flip + ToTensor + normalize, batch 64) with 0, 1, 2, ...
workers up to this machine's CPU count, nothing consuming the batches but the loop itself.
Repeats are interleaved (0, 1, 2, 0, 1, 2, ...) so drift on a shared machine hits every
worker count alike; each row gives the median images/s, its spread and the ratio to 0 workers,
next to what the loader model (advisor/predict/loader.py) assumes for a machine with that
many vCPUs. Writes benchmarks/results/decode_scaling.md.

    python benchmarks/decode_scaling.py [--repeats 5] [--batches 6]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
BATCH = 64


def loader_rate(dataset, workers: int, batches: int) -> float:
    """Images/s the loader delivers after its workers started (the first batch is not timed)."""
    import torch

    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers,
                                         prefetch_factor=2 if workers else None, drop_last=True)
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    n = 0
    for _ in range(batches):
        n += len(next(it)[0])
    rate = n / (time.perf_counter() - start)
    del it
    return rate


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, default=6, help="timed batches per measurement")
    parser.add_argument("--out", default=str(HERE / "results" / "decode_scaling.md"))
    args = parser.parse_args(argv)

    import torch

    from advisor.measure.sampledata import write_image_folder
    from advisor.measure.training import image_datasets
    from advisor.model.workload import Workload
    from advisor.predict.loader import DEFAULT_DECODE_IMAGES_PER_S, loader_scaling

    torch.set_num_threads(1)  # decoding is the work measured; a worker runs one thread too
    cpus = os.cpu_count() or 1
    counts = list(range(0, cpus + 1))
    with tempfile.TemporaryDirectory() as tmp:
        root = write_image_folder(Path(tmp) / "pets", classes=4, per_class=64)
        w = Workload(model="resnet34", dataset_size=BATCH * (args.batches + 2), valid_fraction=0.0,
                     batch_size=BATCH,
                     data_dir=str(root))
        train, _ = image_datasets(w)
        rates: dict[int, list[float]] = {n: [] for n in counts}
        for rep in range(args.repeats):
            for n in counts:
                rates[n].append(loader_rate(train, n, args.batches))
            print(f"repeat {rep + 1}/{args.repeats}: "
                  + ", ".join(f"{n} workers {rates[n][-1]:.0f}/s" for n in counts), file=sys.stderr)

    base = statistics.median(rates[0])
    rows = []
    for n in counts:
        r = sorted(rates[n])
        q = statistics.quantiles(r, n=4) if len(r) >= 2 else [r[0], r[0], r[0]]
        rows.append([str(n), f"{statistics.median(r):.0f}", f"{q[0]:.0f}-{q[2]:.0f}",
                     f"{statistics.median(r) / base:.2f}"])
    model_rows = [[str(v), f"{loader_scaling(v):.2f}"] for v in (1, 2, 4, 8, 12, 16, 48)]
    from advisor.render.text import markdown_table

    text = "\n".join([
        "# DataLoader decoding against worker count",
        "",
        f"Measured {dt.date.today().isoformat()} on {cpus} CPUs ({cpu_name()}), torch {torch.__version__}; "
        f"{args.repeats} interleaved repeats of {args.batches} batches of {BATCH} pets-sized JPEGs "
        "(500x375, RandomResizedCrop(224) + flip + normalize), the first batch of each loader untimed.",
        "",
        markdown_table(rows, ["workers", "images/s (median)", "IQR", "ratio to 0 workers"]),
        "",
        "The loader model's ratio for a machine with V vCPUs (its workers use every vCPU; "
        f"one process decodes {DEFAULT_DECODE_IMAGES_PER_S:.0f} images/s when nothing was measured):",
        "",
        markdown_table(model_rows, ["vCPUs", "ratio to one process"]),
        "",
        f"This machine's ratio with {cpus} workers: {statistics.median(rates[cpus]) / base:.2f}; "
        f"the model's for {cpus} vCPUs: {loader_scaling(cpus):.2f}.",
        "",
    ])
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
