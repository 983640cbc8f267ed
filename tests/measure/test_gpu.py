"""GPU checks: run where CUDA is available, skipped elsewhere."""

import pytest

from advisor.predict.setup import expected_first_steps_seconds

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")]


def test_gpu_calibration_uses_the_allocator_peak():
    from advisor.measure.calibrate import calibrate
    from advisor.model.workload import Workload

    (cal,) = calibrate(Workload(model="resnet18", image_size=64, batch_size=32), "cuda:0", budget_s=8)
    assert cal.peak_memory_kind == "cuda allocator peak" and cal.peak_memory_bytes > 0
    # training's own peak, without the first steps' autotuning workspace, is at most the whole peak
    assert 0 < cal.steady_peak_memory_bytes <= cal.peak_memory_bytes
    assert cal.training_memory_bytes == cal.steady_peak_memory_bytes
    assert cal.key.device == "cuda:0" and cal.train_step_seconds.median > 0
    # the host's side of a step, timed apart: at most about the step (a small step is the host's)
    assert 0 < cal.host_train_step_seconds.median < 2 * cal.train_step_seconds.median
    assert cal.window_steps > 1  # samples are windows of steps, as training runs them
    # new shapes autotune again: the odd one for a partial batch, the aligned one for a later run's
    # first step, which the estimate counts (at least the floor of a first step)
    assert cal.new_shape_overhead_seconds > 0 and cal.aligned_shape_overhead_seconds > 0
    assert 0 < expected_first_steps_seconds(cal) <= cal.first_steps_overhead_seconds
    # a phase whose time the cold first step used still times a tenth of the budget of steps
    assert sum(cal.train_step_seconds.to_list()) >= 0.1 * 8 or len(cal.train_step_seconds.to_list()) == 200


def test_probe_reads_the_real_gpu():
    from advisor.measure.probe import probe_machine

    machine = probe_machine()
    assert machine.gpus and machine.gpus[0].name and machine.gpus[0].vram_bytes > 0


def test_auto_precision_on_this_gpu_is_supported():
    from advisor.model.precision import resolve_precision

    cc = torch.cuda.get_device_capability(0)
    p = resolve_precision("auto", "cuda", cc)
    assert p in ("fp32", "amp-fp16", "amp-bf16")
