"""Training precisions and what each one means to PyTorch.

A lookup table rather than an if-chain: every precision states its autocast dtype, its TF32
switches and whether it needs a gradient scaler. `fp32` is PyTorch's default, which runs
convolutions in TF32 on Ampere and newer GPUs (cudnn.allow_tf32 is True by default) while plain
matmuls stay FP32.
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor.errors import UsageError, did_you_mean


@dataclass(frozen=True)
class PrecisionSpec:
    name: str
    autocast_dtype: str | None  # "float16" / "bfloat16", or None for no autocast
    cudnn_allow_tf32: bool
    matmul_allow_tf32: bool
    grad_scaler: bool
    description: str


PRECISIONS: dict[str, PrecisionSpec] = {
    spec.name: spec
    for spec in (
        PrecisionSpec("fp32", None, True, False, False,
                      "PyTorch defaults: FP32, convolutions in TF32 on Ampere+ GPUs"),
        PrecisionSpec("fp32-strict", None, False, False, False, "FP32 everywhere, TF32 disabled"),
        PrecisionSpec("tf32", None, True, True, False, "TF32 for convolutions and matmuls"),
        PrecisionSpec("amp-fp16", "float16", True, False, True,
                      "automatic mixed precision, float16 with gradient scaling"),
        PrecisionSpec("amp-bf16", "bfloat16", True, False, False,
                      "automatic mixed precision, bfloat16"),
    )
}
AUTO = "auto"
PRECISION_CHOICES = (*PRECISIONS, AUTO)


def check_precision(name: str) -> str:
    if name not in PRECISION_CHOICES:
        raise UsageError(
            f"unknown precision {name!r}; valid: {', '.join(PRECISION_CHOICES)}."
            + did_you_mean(name, PRECISION_CHOICES)
        )
    return name


def resolve_precision(name: str, device_type: str, compute_capability: tuple[int, int] | None) -> str:
    """The concrete precision `name` means on a device; `auto` picks what the device does best.

    CPUs train in fp32 (autocast on a CPU rarely pays off for CNNs). GPUs: bf16 from Ampere
    (8.0) on, fp16 with tensor cores from Volta (7.0), fp32 before.
    """
    check_precision(name)
    if name != AUTO:
        return name
    if device_type != "cuda" or compute_capability is None:
        return "fp32"
    if compute_capability >= (8, 0):
        return "amp-bf16"
    if compute_capability >= (7, 0):
        return "amp-fp16"
    return "fp32"


# 16-bit arithmetic this many times slower than FP32 means the device has none for that type and
# converts or emulates it (float16 on a CPU without AVX512-FP16 or AMX-FP16)
EMULATED_SLOWDOWN = 10.0
MATMUL_DTYPE = {"amp-fp16": "fp16", "amp-bf16": "bf16"}
ARITHMETIC_TYPE = {"fp32": "fp32", "fp32-strict": "fp32", "tf32": "fp32", **MATMUL_DTYPE}


def _rate_ratio(rates: dict | None, from_precision: str, to_precision: str) -> float | None:
    """Measured rate of `to_precision`'s arithmetic over `from_precision`'s, from a profile's
    micro-benchmarks keyed by type (a GPU profile names plain FP32 "fp32-strict"); None when
    either was not measured."""
    rates = rates or {}

    def rate(precision):
        kind = ARITHMETIC_TYPE.get(precision)
        return rates.get(kind) or (rates.get("fp32-strict") if kind == "fp32" else None)

    a, b = rate(from_precision), rate(to_precision)
    if a is None or b is None or a.median <= 0 or b.median <= 0:
        return None
    return b.median / a.median


def half_precision_slowdown(flops_per_s: dict | None, precision: str) -> float | None:
    """How many times slower the precision's 16-bit arithmetic ran than FP32 in one of a
    profile's micro-benchmarks (`{"fp32": Samples, "fp16": Samples, ...}`); None when not measured."""
    if precision not in MATMUL_DTYPE:
        return None
    return _rate_ratio(flops_per_s, precision, "fp32")


@dataclass(frozen=True)
class Emulated:
    """A 16-bit precision the device has no arithmetic for, as its micro-benchmarks showed."""

    slowdown: float  # times slower than FP32
    ops: str  # what ran that slow: "matrix multiplies" or "training convolutions"
    dtype: str  # "fp16" or "bf16"

    def describe(self) -> str:
        return f"its {self.dtype} {self.ops} ran {self.slowdown:.0f}x slower than fp32 ones"


def emulated_slowdown(matmul_flops_per_s: dict | None, precision: str,
                      conv_train_flops_per_s: dict | None = None) -> Emulated | None:
    """Whether the profile shows no hardware arithmetic for `precision`: its 16-bit matrix
    multiplies or training convolutions (a CPU profile measures both; a CPU's float16 GEMM may be
    converted to FP32 at little cost while its float16 convolutions fall back to a reference
    kernel) ran over EMULATED_SLOWDOWN times slower than FP32. The slower of the two, else None."""
    found = [Emulated(s, ops, MATMUL_DTYPE.get(precision, ""))
             for s, ops in ((half_precision_slowdown(matmul_flops_per_s, precision), "matrix multiplies"),
                            (half_precision_slowdown(conv_train_flops_per_s, precision), "training convolutions"))
             if s is not None and s > EMULATED_SLOWDOWN]
    return max(found, key=lambda e: e.slowdown, default=None)


def compute_speedup(conv_train_flops_per_s: dict | None, from_precision: str, to_precision: str) -> float:
    """How much faster convolutions train in `to_precision` than in `from_precision`, from a
    CPU profile's convolution micro-benchmark (`{"fp32": Samples, "bf16": ..., "fp16": ...}`);
    1.0 when either was not measured."""
    return _rate_ratio(conv_train_flops_per_s, from_precision, to_precision) or 1.0
