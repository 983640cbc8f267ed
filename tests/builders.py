"""Records built from known numbers, so estimates can be checked exactly (no torch)."""

from __future__ import annotations

from advisor.model.calibration import Calibration, CalibrationKey
from advisor.model.cost import OpBin, PhaseCost, StepCost
from advisor.model.machine import CpuInfo, MachineInfo, MicroBenchmarks
from advisor.model.profile import Profile
from advisor.model.stats import Samples


def make_phase(flops: float, bytes_: float, ops: int) -> PhaseCost:
    """Compute ops doing all the FLOPs at high intensity, memory ops moving all the bytes."""
    return PhaseCost((OpBin("conv", 10, flops, flops / 1024, ops // 2),
                      OpBin("memory", -12, 0.0, bytes_, ops - ops // 2)))


def make_cost(batch: int, flops: float, bytes_: float, ops: int = 100) -> StepCost:
    ev = make_phase(flops, bytes_, ops)
    return StepCost(batch_size=batch, train=make_phase(3 * flops, 3 * bytes_, 3 * ops), eval=ev,
                    frozen=ev, parameters=1000, trainable_head_parameters=10)


def make_calibration(model="resnet34", image_size=224, batch=64, precision="fp32", device="cpu",
                     train=(1.0, 1.0, 1.0), evals=(0.25, 0.25, 0.25), frozen=(0.3, 0.3),
                     warm_train=(3.0, 2.0), warm_eval=(0.25,), data_source="synthetic", workers=0,
                     synthetic=None, epoch_start=0.0, valid_start=0.0, requested_batch=None,
                     split=None, cost=None, peak=2**30) -> Calibration:
    return Calibration(
        key=CalibrationKey(model, 37, image_size, batch, precision, device, data_source, workers),
        requested_batch_size=requested_batch or batch,
        train_step_seconds=Samples(train), eval_step_seconds=Samples(evals),
        frozen_step_seconds=Samples(frozen), warmup_train_step_seconds=warm_train,
        warmup_eval_step_seconds=warm_eval, epoch_start_seconds=epoch_start,
        valid_start_seconds=valid_start,
        synthetic_train_step_seconds=None if synthetic is None else Samples(synthetic),
        peak_memory_bytes=peak, peak_memory_kind="cpu resident growth",
        op_split=split or {"compute": 0.7, "memory": 0.25, "other": 0.05},
        step_cost=cost if cost is not None else make_cost(batch, 1e9, 1e8), threads=2,
    )


def make_profile(*cals: Calibration, device="cpu", ram=16 * 2**30, op_overhead_s=0.0) -> Profile:
    machine = MachineInfo(
        hostname="testhost", os="Linux", python_version="3.11", torch_version="2.x",
        torchvision_version="0.x", cuda_runtime_version=None, driver_version=None,
        cuda_driver_version=None,
        cpu=CpuInfo("Test CPU", 2, 2, 2, ram, None),
    )
    return Profile(
        machine=machine, device=device, device_name="Test CPU (2 cores)",
        microbenchmarks=MicroBenchmarks(Samples((1e10, 1.1e10)), op_overhead_s=Samples((op_overhead_s,))),
        calibrations=cals or (make_calibration(),), created_at="2026-01-01T00:00:00+00:00",
        advisor_version="0.1.0",
    )


def texts(notes) -> list[str]:
    """The sentences of an estimate's or option's notes."""
    return [n.text for n in notes]


def codes(notes) -> set[str]:
    return {n.code for n in notes}
