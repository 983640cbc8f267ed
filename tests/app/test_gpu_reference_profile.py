"""A GPU profile as shipped (the H200 reference profile) estimating a workload it did not calibrate."""

import pytest

pytest.importorskip("torch")

from builders import codes, texts  # noqa: E402

from advisor.app.workflows import Estimator  # noqa: E402
from advisor.cloud.catalog import measured_profiles_dir  # noqa: E402
from advisor.model.workload import Workload  # noqa: E402
from advisor.store import load_profile  # noqa: E402

# counts resnet34 at a new batch on the meta device: seconds
pytestmark = pytest.mark.slow


def test_the_h200_reference_profile_scales_a_new_batch_and_precision_by_the_step_model():
    profile = load_profile(measured_profiles_dir() / "nvidia-h200.json")
    estimator = Estimator(profile)
    assert estimator.gpu.id == "h200"
    calibrated = estimator.estimate(Workload(model="resnet34", batch_size=64))
    e = estimator.estimate(Workload(model="resnet34", batch_size=96, precision="amp-bf16", dataset_size=7390))
    assert calibrated.basis == "measured" and e.basis == "scaled"
    assert any("by the GPU step model on NVIDIA H200" in t for t in texts(e.notes))
    # its calibrations synchronised every step: it says so
    assert "synchronised-steps" in codes(e.notes)
    # the counted memory of the new workload, far inside 141 GB
    assert e.fits_memory and 1e9 < e.peak_memory_bytes < 20e9
    # bf16 at a larger batch trains faster per image than the calibrated fp32 step, not beyond the tensor cores' gain
    assert calibrated.train_images_per_s < e.train_images_per_s < 4 * calibrated.train_images_per_s


def test_another_gpus_profile_predicts_a_gpu_as_a_cpu_profile_does():
    # anchoring on a measured GPU scored worse than the datasheet alone (docs/accuracy.md), so
    # the H100's reference profile and a 2-core CPU's give the H200 the same steps
    from pathlib import Path

    import advisor

    cpu = load_profile(Path(__file__).parents[2] / "benchmarks" / "data" / "cpu_profile_epyc-2-core.json")
    h100 = load_profile(measured_profiles_dir() / "nvidia-h100-80gb-hbm3.json")
    w = Workload(dataset_size=7390, epochs=4)
    frames = [advisor.recommend(w, p, targets=("h200",), include_offers=False, calibrate=False).to_frame()
              for p in (cpu, h100)]
    h200 = [f[f["id"] == "target:h200"].iloc[0] for f in frames]
    assert h200[0]["basis"] == h200[1]["basis"] == "predicted"
    assert h200[0]["train_images_per_s"] == h200[1]["train_images_per_s"]
    assert h200[0]["seconds"] == h200[1]["seconds"]
