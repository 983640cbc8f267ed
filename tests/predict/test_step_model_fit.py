"""benchmarks/gpu_step_model.py fits the step model through a vectorised copy of it: the copy
must compute what advisor.predict.gpu does, or the constants it ships fit another model."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def step_model_fit():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_step_model
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return gpu_step_model


@pytest.mark.slow
@pytest.mark.parametrize("model, precision, phase, nhwc", [
    ("resnet18", "fp32", "train", False), ("resnet18", "amp-bf16", "train", False),
    ("resnet18", "amp-fp16", "train", True), ("resnet18", "fp32", "frozen", False),
    ("mobilenet_v3_small", "amp-bf16", "train", False),  # depthwise convolutions
    ("resnet18", "amp-bf16", "eval", False),  # a validation pass: no optimizer, half the casts
])
def test_the_fit_evaluates_the_products_step_model(step_model_fit, model, precision, phase, nhwc):
    from advisor.cloud.catalog import load_catalog
    from advisor.measure.opcount import count_step
    from advisor.predict.gpu import DEFAULT_GPU_EFFICIENCY

    row = dict(model=model, size=32, batch=8, precision=precision, phase=phase, step_s=0.01, channels_last=nhwc)
    cost = count_step(model, 10, 32, 8, precision)
    # an A100's TF32 tensor cores win its convolutions; an A10's FP32 units can
    for gpu in ("a100-40gb", "a10"):
        r = step_model_fit.Row(row, cost, load_catalog().gpus[gpu])
        for eff in (DEFAULT_GPU_EFFICIENCY, step_model_fit.NEUTRAL):
            r.check(eff)  # asserts equality with advisor.predict.gpu.gpu_steps, step and host


def test_the_published_tables_name_torchvision_models_and_catalog_gpus(step_model_fit):
    # what the fit counts and the scored-only tables predict must build (torchvision's names, or
    # a `module:callable` of its own) and run on a GPU the catalog has
    import tomllib

    import torchvision

    from advisor.cloud.catalog import load_catalog

    known = set(torchvision.models.list_models())
    gpus = load_catalog().gpus
    names = [name for name, *_ in step_model_fit.PUBLIC] + [name for name, *_ in step_model_fit.SCORED_ONLY]
    assert "public_timm_inference.toml" in names
    for name in names:
        data = tomllib.loads((ROOT / "benchmarks" / "data" / name).read_text())
        assert data.get("phase", "train") in ("train", "eval"), name
        for point in data["point"]:
            model = point.get("model", "resnet50")
            assert model in known or ":" in model, (name, point)
            assert point["gpu"] in gpus, (name, point)
            assert point.get("amp", 1) > 0 and point.get("fp32", 1) > 0, (name, point)
