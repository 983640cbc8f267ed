import pytest

from advisor.errors import UsageError
from advisor.model.precision import PRECISIONS, resolve_precision


def test_fp32_default_keeps_pytorch_tf32_semantics():
    assert PRECISIONS["fp32"].cudnn_allow_tf32 and not PRECISIONS["fp32"].matmul_allow_tf32
    assert not PRECISIONS["fp32-strict"].cudnn_allow_tf32
    assert PRECISIONS["amp-fp16"].grad_scaler and not PRECISIONS["amp-bf16"].grad_scaler


@pytest.mark.parametrize("device, cc, expected", [
    ("cpu", None, "fp32"),
    ("cuda", (6, 0), "fp32"),      # Pascal: no tensor cores
    ("cuda", (7, 5), "amp-fp16"),  # Turing: fp16 tensor cores, no bf16
    ("cuda", (8, 0), "amp-bf16"),  # Ampere and newer
    ("cuda", (9, 0), "amp-bf16"),
])
def test_auto_picks_what_the_device_does_best(device, cc, expected):
    assert resolve_precision("auto", device, cc) == expected


def test_explicit_precision_is_kept():
    assert resolve_precision("tf32", "cuda", (9, 0)) == "tf32"


def test_unknown_precision():
    with pytest.raises(UsageError, match="valid: fp32, fp32-strict"):
        resolve_precision("half", "cpu", None)


def test_a_16_bit_type_without_arithmetic_shows_as_a_slowdown_against_fp32():
    from advisor.model.precision import half_precision_slowdown
    from advisor.model.stats import Samples

    rates = {"fp32": Samples((200e9,)), "bf16": Samples((700e9,)), "fp16": Samples((2e9,))}
    assert half_precision_slowdown(rates, "amp-fp16") == 100
    assert half_precision_slowdown(rates, "amp-bf16") == pytest.approx(200 / 700)
    assert half_precision_slowdown(rates, "fp32") is None
    assert half_precision_slowdown({"fp32": Samples((1.0,))}, "amp-fp16") is None  # not measured


def test_a_precision_is_emulated_where_its_matmuls_or_its_convolutions_crawl():
    from advisor.model.precision import emulated_slowdown
    from advisor.model.stats import Samples

    # a CPU's float16 GEMM converted to FP32 at little cost, its float16 convolutions on a
    # reference kernel (a 2-core Xeon VM measured 349 / 276 GFLOP/s matmuls, 269 / 2.4 convolutions)
    matmuls = {"fp32": Samples((349e9,)), "bf16": Samples((663e9,)), "fp16": Samples((276e9,))}
    convolutions = {"fp32": Samples((269e9,)), "bf16": Samples((601e9,)), "fp16": Samples((2.36e9,))}
    assert emulated_slowdown(matmuls, "amp-fp16") is None
    found = emulated_slowdown(matmuls, "amp-fp16", convolutions)
    assert found.ops == "training convolutions" and found.slowdown == pytest.approx(114, rel=0.01)
    assert found.describe() == "its fp16 training convolutions ran 114x slower than fp32 ones"
    assert emulated_slowdown(matmuls, "amp-bf16", convolutions) is None
    assert emulated_slowdown(matmuls, "fp32", convolutions) is None
    # both slow: the slower is named
    slow_matmuls = dict(matmuls, fp16=Samples((1e9,)))
    assert emulated_slowdown(slow_matmuls, "amp-fp16", convolutions).ops == "matrix multiplies"


def test_convolutions_measured_in_each_type_say_how_another_precision_trains():
    from advisor.model.precision import compute_speedup
    from advisor.model.stats import Samples

    convs = {"fp32": Samples((200e9,)), "bf16": Samples((400e9,)), "fp16": Samples((20e9,))}
    assert compute_speedup(convs, "fp32", "amp-bf16") == 2.0
    assert compute_speedup(convs, "amp-bf16", "amp-fp16") == 0.05
    assert compute_speedup(convs, "tf32", "fp32-strict") == 1.0
    assert compute_speedup(None, "fp32", "amp-bf16") == 1.0  # an older profile
