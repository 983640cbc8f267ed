"""Micro-benchmarks: memory bandwidth, host-to-device copies and matmul throughput.

Each returns `Samples` of a rate, from repeated timings after a warm-up. The clock is injectable
(`timer`) and so is the synchronisation that makes GPU timings honest, so tests can be exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from advisor.model.machine import MicroBenchmarks
from advisor.model.stats import Samples

Timer = Callable[[], float]


def rate_samples(fn: Callable[[], None], work: float, repeats: int, *, warmup: int = 1,
                 timer: Timer = time.perf_counter, sync: Callable[[], None] = lambda: None) -> Samples:
    """Run `fn` `warmup` + `repeats` times; Samples of work / seconds for the timed runs."""
    for _ in range(warmup):
        fn()
    sync()
    rates = []
    for _ in range(repeats):
        start = timer()
        fn()
        sync()
        elapsed = timer() - start
        rates.append(work / elapsed if elapsed > 0 else float("inf"))
    return Samples(tuple(rates))


def host_memory_bandwidth(size_bytes: int = 128 * 2**20, repeats: int = 7, timer: Timer = time.perf_counter) -> Samples:
    """Bytes read + written per second by a large tensor copy in host memory."""
    import torch

    src = torch.ones(size_bytes // 4, dtype=torch.float32)
    dst = torch.empty_like(src)
    return rate_samples(lambda: dst.copy_(src), 2.0 * size_bytes, repeats, timer=timer)


def _cuda_sync(device):
    import torch

    return lambda: torch.cuda.synchronize(device)


def device_memory_bandwidth(device, size_bytes: int = 512 * 2**20, repeats: int = 10, timer: Timer = time.perf_counter) -> Samples:
    import torch

    src = torch.ones(size_bytes // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    return rate_samples(lambda: dst.copy_(src), 2.0 * size_bytes, repeats, timer=timer, sync=_cuda_sync(device))


def host_to_device_bandwidth(device, pinned: bool, size_bytes: int = 256 * 2**20, repeats: int = 5,
                             timer: Timer = time.perf_counter) -> Samples:
    import torch

    src = torch.ones(size_bytes // 4, dtype=torch.float32)
    if pinned:
        src = src.pin_memory()
    dst = torch.empty(src.shape, dtype=src.dtype, device=device)
    return rate_samples(lambda: dst.copy_(src, non_blocking=pinned), float(size_bytes), repeats,
                        timer=timer, sync=_cuda_sync(device))


def matmul_throughput(device, precision: str, n: int, repeats: int = 5, timer: Timer = time.perf_counter) -> Samples:
    """FLOP/s of an n x n x n matmul (2 n^3 FLOPs) in `precision`."""
    import torch

    dtype = {"fp32": torch.float32, "fp32-strict": torch.float32, "tf32": torch.float32,
             "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        sync = _cuda_sync(device) if torch.device(device).type == "cuda" else (lambda: None)
        return rate_samples(lambda: torch.mm(a, b), 2.0 * n**3, repeats, timer=timer, sync=sync)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def conv_train_throughputs(repeats: int = 15, emulated_repeats: int = 5,
                           timer: Timer = time.perf_counter) -> dict[str, Samples]:
    """FLOP/s of a 3x3 convolution (64 -> 64 channels, 28x28, batch 8) forward and backward on
    the CPU, under autocast to each type ("fp32": none, "bf16", "fp16") as training runs it:
    how fast a CNN's convolutions run in each type, which matmuls alone overstate.

    fp32 and bf16 steps alternate, so that both see the same moments of a machine whose speed
    drifts (their ratio is what scaling to another precision uses); fp16, often emulated and
    a hundred times slower, gets a few runs of its own.
    """
    import torch

    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    x = torch.randn(8, 64, 28, 28, requires_grad=True)
    flops = 3 * 2.0 * 8 * 64 * 64 * 9 * 28 * 28  # forward, input gradient, weight gradient

    def step(dtype):
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            y = conv(x)
        y.float().sum().backward()

    def seconds(dtype) -> float:
        start = timer()
        step(dtype)
        return timer() - start

    types = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    for dtype in types.values():  # warm-up: oneDNN builds its primitives on first use
        step(dtype)
    rates: dict[str, list[float]] = {name: [] for name in types}
    for _ in range(repeats):
        for name in ("fp32", "bf16"):
            rates[name].append(flops / max(seconds(types[name]), 1e-12))
    rates["fp16"] = [flops / max(seconds(types["fp16"]), 1e-12) for _ in range(emulated_repeats)]
    return {name: Samples(tuple(v)) for name, v in rates.items()}


def op_overhead(device, ops: int = 2000, repeats: int = 5, timer: Timer = time.perf_counter) -> Samples:
    """Seconds per op of a chain of tiny elementwise ops: the fixed cost every op pays
    (Python and dispatcher on a CPU; plus the kernel launch on a GPU)."""
    import torch

    x = torch.ones(16, device=device)
    sync = _cuda_sync(device) if torch.device(device).type == "cuda" else (lambda: None)

    def chain():
        y = x
        for _ in range(ops):
            y = y * 1.0001

    with torch.no_grad():
        rates = rate_samples(chain, float(ops), repeats, timer=timer, sync=sync)
    return Samples(tuple(1.0 / r for r in rates.values))


def run_microbenchmarks(device: str, compute_capability: tuple[int, int] | None = None) -> MicroBenchmarks:
    """All micro-benchmarks that apply to `device` ("cpu" or "cuda:N"); a few seconds in all."""
    host = host_memory_bandwidth()
    if not device.startswith("cuda"):
        # 16-bit types too: a CPU without float16 arithmetic runs it ~100x slower, which a
        # calibration in amp-fp16 would otherwise find out only after many minutes (small n:
        # an emulated 1024^3 multiply alone takes a second)
        matmuls = {"fp32": matmul_throughput("cpu", "fp32", 1024),
                   "bf16": matmul_throughput("cpu", "bf16", 256),
                   "fp16": matmul_throughput("cpu", "fp16", 256)}
        return MicroBenchmarks(host, matmul_flops_per_s=matmuls, op_overhead_s=op_overhead("cpu"),
                               conv_train_flops_per_s=conv_train_throughputs())
    matmuls = {"fp32-strict": matmul_throughput(device, "fp32-strict", 4096)}
    cc = compute_capability or (0, 0)
    if cc >= (8, 0):
        matmuls["tf32"] = matmul_throughput(device, "tf32", 4096)
        matmuls["bf16"] = matmul_throughput(device, "bf16", 8192)
    if cc >= (5, 3):
        matmuls["fp16"] = matmul_throughput(device, "fp16", 8192 if cc >= (7, 0) else 4096)
    return MicroBenchmarks(
        host_memory_bytes_per_s=host,
        device_memory_bytes_per_s=device_memory_bandwidth(device),
        host_to_device_pinned_bytes_per_s=host_to_device_bandwidth(device, pinned=True),
        host_to_device_pageable_bytes_per_s=host_to_device_bandwidth(device, pinned=False),
        matmul_flops_per_s=matmuls,
        op_overhead_s=op_overhead(device),
    )
