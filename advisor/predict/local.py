"""Predicting full training time on the profiled machine. Pure: no torch, no I/O.

A workload the profile calibrated is predicted from its measured step times; any other is
scaled from the closest calibration, with a wider band. On a CPU the scale is a roofline over
counted work per op class (convolution/matmul FLOPs, memory-bound bytes, op count), weighted by
how the measured step split its time between them. On a GPU the catalog knows, it is the GPU step
model's (advisor.predict.gpu): host and device overlap there, and precisions take other paths,
which a serial roofline cannot follow; the measured step carries this machine's own host and GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from advisor.cloud.catalog import GpuSpec, gpu_for_device_name
from advisor.errors import RuntimeFailure, UsageError
from advisor.model.calibration import Calibration, CalibrationKey
from advisor.model.cost import PhaseCost, StepCost
from advisor.model.estimate import Estimate
from advisor.model.notes import Note, info, warning
from advisor.model.parallel import DataParallel, gradient_bytes
from advisor.model.precision import compute_speedup, emulated_slowdown, resolve_precision
from advisor.model.profile import Profile
from advisor.model.stats import Samples
from advisor.model.workload import Workload
from advisor.predict.gpu import DEFAULT_GPU_EFFICIENCY, PHASES, Efficiency, gpu_steps, precision_notes
from advisor.predict.memory import CUDA_CONTEXT_BYTES, gpu_memory_bytes, largest_batch_note
from advisor.predict.parallel import DdpStep, ddp_step, parallel_info, parallel_note, shard_workload
from advisor.predict.roofline import Rates, fit_rates, phase_seconds
from advisor.predict.whole_run import retimed_calibration, whole_run_estimate

DEFAULT_OP_OVERHEAD_S = 3e-6  # eager PyTorch on a CPU, when the profile has no measurement


def scale_factors(ref: Calibration, target: StepCost, op_overhead_s: float,
                  compute_speedup: float = 1.0) -> dict[str, float]:
    """Step-time ratios target/reference per phase, from a roofline fitted to the reference.

    The reference's measured training step and its profiler split fix the effective FLOP and
    byte rates; both workloads are then timed by the same roofline and their ratio scales the
    reference's measured step times (so the reference itself is reproduced exactly). The
    target's FLOP rate is `compute_speedup` times the reference's (another precision).
    """
    step = ref.train_step_seconds.median
    split = ref.op_split or {}
    compute_share = split.get("compute", 0.7)
    memory_share = split.get("memory", 0.3)
    rates = fit_rates(ref.step_cost.train, compute_share * step, memory_share * step, op_overhead_s)
    target_rates = Rates(rates.flops_per_s * compute_speedup, rates.bytes_per_s, rates.op_overhead_s)

    def ratio(t: PhaseCost, r: PhaseCost) -> float:
        base = phase_seconds(r, rates)
        return phase_seconds(t, target_rates) / base if base > 0 else 1.0

    return {
        "train": ratio(target.train, ref.step_cost.train),
        "eval": ratio(target.eval, ref.step_cost.eval),
        "frozen": ratio(target.frozen, ref.step_cost.frozen),
    }


def profiled_gpu(profile: Profile, gpus: dict[str, GpuSpec]) -> GpuSpec | None:
    """The catalog's entry for the GPU a profile was measured on; None for a CPU profile or a
    GPU the catalog lacks."""
    return gpu_for_device_name(gpus, profile.device_name) if profile.device.startswith("cuda") else None


# a host that took this share of the measured step to issue it may have waited on a full launch
# queue, unless the profiler saw the device idle for more than the rest
HOST_WAITED_SHARE = 0.9
DEVICE_BUSY_SHARE = 0.8


def host_speed(ref: Calibration, spec: GpuSpec, eff: Efficiency) -> float | None:
    """How much longer this machine's host took to issue the reference's training step than the
    step model's host (the constants' machine); None where the calibration did not time it.
    Where the host may have waited on the device, its time is only an upper bound, and only a
    host faster than the model's is taken from it."""
    measured = ref.host_train_step_seconds
    if measured is None or ref.step_cost is None:
        return None
    modelled = gpu_steps(ref.step_cost, spec, ref.key.precision, eff, ref.key.channels_last,
                         phases=("train",))["train"].host_s
    if modelled <= 0:
        return None
    factor = measured.median / modelled
    device_busy = ref.op_split.get("compute", 0.0) + ref.op_split.get("memory", 0.0)
    if measured.median >= HOST_WAITED_SHARE * ref.train_step_seconds.median and device_busy >= DEVICE_BUSY_SHARE:
        factor = min(factor, 1.0)
    return factor


def with_host_speed(eff: Efficiency, factor: float) -> Efficiency:
    """The step model's constants with a host `factor` times slower (evaluation passes too)."""
    return replace(eff, host_op_s=eff.host_op_s * factor, host_step_s=eff.host_step_s * factor,
                   host_tensor_s=eff.host_tensor_s * factor,
                   host_eval_op_s=None if eff.host_eval_op_s is None else eff.host_eval_op_s * factor)


def with_host_of(ref: Calibration, spec: GpuSpec, eff: Efficiency) -> Efficiency:
    """The step model's constants with this machine's host speed, where `ref` timed it."""
    factor = host_speed(ref, spec, eff)
    return eff if factor is None else with_host_speed(eff, factor)


def gpu_scale_factors(ref: Calibration, target: StepCost, workload: Workload, spec: GpuSpec,
                      eff: Efficiency = DEFAULT_GPU_EFFICIENCY) -> dict[str, float]:
    """Step-time ratios target/reference per phase on the GPU `spec`, both timed by the GPU step
    model: `target` counted for `workload` (its precision and layout), the reference as it was
    calibrated, with this machine's host speed where the calibration timed it (`host_speed`).
    Scaling the reference's measured steps keeps the rest of what the model does not know about
    this machine (its clocks, its software) where the two workloads share it."""
    eff = with_host_of(ref, spec, eff)
    ours = gpu_steps(target, spec, workload.precision, eff, channels_last=workload.channels_last)
    theirs = gpu_steps(ref.step_cost, spec, ref.key.precision, eff, channels_last=ref.key.channels_last)
    return {name: ours[name].seconds / theirs[name].seconds if theirs[name].seconds > 0 else 1.0
            for name in PHASES}


def eval_batch_ratio(ref: Calibration, at_train: StepCost, at_eval: StepCost, op_overhead_s: float,
                     spec: GpuSpec | None = None, eff: Efficiency = DEFAULT_GPU_EFFICIENCY,
                     precision: str = "fp32", channels_last: bool = False) -> float:
    """How much longer a validation step takes at the validation batch (`at_eval`, the step
    counted at that batch) than at the training batch (`at_train`), by the model that scales
    this machine's steps: the GPU step model on `spec` (this machine's host speed where `ref`
    timed it), else the roofline fitted to `ref`'s measured step."""
    if spec is not None:
        eff = with_host_of(ref, spec, eff)
        seconds = [gpu_steps(c, spec, precision, eff, channels_last=channels_last, phases=("eval",))["eval"].seconds
                   for c in (at_eval, at_train)]
        return seconds[0] / seconds[1] if seconds[1] > 0 else at_eval.batch_size / at_train.batch_size
    ours = scale_factors(ref, at_eval, op_overhead_s)["eval"]
    theirs = scale_factors(ref, at_train, op_overhead_s)["eval"]
    return ours / theirs if theirs > 0 else at_eval.batch_size / at_train.batch_size


def synchronised_steps_notes(cal: Calibration) -> tuple[Note, ...]:
    """A warning where a GPU calibration synchronised after every step (profiles made before
    steps were timed in windows): the host's time then adds to the device's instead of hiding
    behind it, as it does in training."""
    if not cal.key.device.startswith("cuda") or (cal.window_steps or 1) > 1:
        return ()
    return (warning("synchronised-steps", "calibrated by an older advisor, which synchronised the GPU after "
                    "every step: its steps read long (resnet34 on an H200: 26.2 ms against 20.7 ms in training); "
                    "`advisor profile` again times them as training runs them"),)


def _bare_calibration(key: CalibrationKey, batch: int) -> Calibration:
    empty = Samples((0.0,))
    return Calibration(key=key, requested_batch_size=batch, train_step_seconds=empty,
                       eval_step_seconds=empty, frozen_step_seconds=empty,
                       warmup_train_step_seconds=(), warmup_eval_step_seconds=())


def closest_calibration(profile: Profile, workload: Workload) -> Calibration | None:
    """The calibration sharing most of the workload's settings (model first, then batch, size)."""
    def score(c: Calibration) -> tuple:
        k = c.key
        return (k.model == workload.model, k.data_source == workload.data_source,
                k.workers == workload.workers, k.precision == workload.precision,
                k.channels_last == workload.channels_last,
                k.batch_size == workload.batch_size, -abs(k.image_size - workload.image_size))

    candidates = [c for c in profile.calibrations if c.step_cost is not None]
    return max(candidates, key=score) if candidates else None


class Estimator:
    """Predicts training time on the machine a profile describes.

    `count` counts a workload's step (advisor.measure.opcount.count_step, which needs torch); it
    is only called for workloads the profile has not calibrated at any batch, and is injected so
    that predicting imports no torch (advisor.Estimator passes torch's counter). `gpu`: the
    catalog's entry for the profiled GPU, if any; with it, workloads not calibrated are scaled by
    the GPU step model instead of the CPU's roofline.
    """

    def __init__(self, profile: Profile, count: Callable[..., StepCost] | None = None,
                 gpu: GpuSpec | None = None, gpu_efficiency: Efficiency = DEFAULT_GPU_EFFICIENCY):
        self.profile = profile
        self._count = count
        self.gpu = gpu if profile.device.startswith("cuda") else None
        self.gpu_efficiency = gpu_efficiency
        self._counted: dict[tuple, StepCost] = {}  # counting takes seconds: once per workload

    def resolve(self, workload: Workload) -> Workload:
        """The workload with `auto` precision replaced by what the profiled device does best."""
        if workload.precision != "auto":
            return workload
        cc = None
        if self.profile.device.startswith("cuda"):
            index = int(self.profile.device.split(":")[1])
            cc = next((g.compute_capability for g in self.profile.machine.gpus if g.index == index), None)
        return workload.with_(precision=resolve_precision("auto", self.profile.device.split(":")[0], cc))

    def step_cost(self, workload: Workload) -> StepCost:
        """The workload's counted work: from its calibration when it has one, else counted."""
        workload = self.resolve(workload)
        cal = self.calibration_for(workload)
        if cal is not None and cal.step_cost is not None:
            return cal.step_cost
        key = (workload.model, workload.num_classes, workload.image_size, workload.batch_size,
               workload.precision)
        if key not in self._counted and workload.batch_size > 1:
            # the same model counted at another batch is scaled, without torch (a batch of one
            # dispatches other matmul paths and is counted as it is)
            scaled = next((c.at_batch(workload.batch_size) for c in self._known_costs(key)
                           if c.scalable and c.batch_size > 1), None)
            if scaled is not None:
                self._counted[key] = scaled
        if key not in self._counted:
            if self._count is None:
                raise RuntimeFailure(
                    f"{workload.model} {workload.image_size}px batch {workload.batch_size} {workload.precision} "
                    "is not in the profile and this estimator cannot count its work: build it with a "
                    "counter (advisor.Estimator counts with torch) or calibrate the workload.")
            self._counted[key] = self._count(*key)
        return self._counted[key]

    def _known_costs(self, key: tuple) -> list[StepCost]:
        """Costs counted for the model of `key` (model, classes, size, batch, precision) at
        any batch: its calibrations' and those counted before."""
        same = lambda k: k[:3] + k[4:] == key[:3] + key[4:]  # noqa: E731 - all but the batch
        calibrated = [c.step_cost for c in self.profile.calibrations if c.step_cost is not None and same(
            (c.key.model, c.key.num_classes, c.key.image_size, c.key.batch_size, c.key.precision))]
        return calibrated + [cost for k, cost in self._counted.items() if same(k)]

    def calibration_for(self, workload: Workload) -> Calibration | None:
        return self.profile.find(CalibrationKey.of(self.resolve(workload), self.profile.device))

    def _common(self) -> dict:
        p = self.profile
        return dict(accelerator=p.accelerator, ram_bytes=p.machine.cpu.ram_bytes,
                    vram_bytes=self._vram_bytes())

    def _calibration(self, workload: Workload) -> tuple[Calibration, dict | None, str, tuple[Note, ...]]:
        """(calibration, scale factors, basis, notes) that time `workload` on this machine."""
        cal = self.calibration_for(workload)
        if cal is not None:
            return cal, None, "measured", ()
        ref = closest_calibration(self.profile, workload)
        if ref is None:
            raise RuntimeFailure(
                "the profile has no calibration to scale from; re-run `advisor profile`."
            )
        target = self.step_cost(workload)
        if self.gpu is not None:
            factors = gpu_scale_factors(ref, target, workload, self.gpu, self.gpu_efficiency)
            speed = host_speed(ref, self.gpu, self.gpu_efficiency)
            host = "" if speed is None else (
                f", with this machine's host ({1000 * ref.host_train_step_seconds.median:.1f} ms to issue a step: "
                f"{speed:.2f}x the step model's host)")
            notes = (warning("scaled", f"not calibrated, so only rough: scaled from {ref.key.describe()} by the "
                             f"GPU step model on {self.gpu.name}{host}; calibrating the workload measures it"),)
            notes += tuple(precision_notes(self.gpu, workload.precision))
            # the workload's own peak memory, counted, stands in for the reference's measured one
            peak = gpu_memory_bytes(target, None, workload.batch_size, workload.precision)
            ref = replace(ref, peak_memory_bytes=peak, peak_memory_kind="predicted", steady_peak_memory_bytes=None)
            vram = self._vram_bytes()
            largest = vram and largest_batch_note(target, None, workload.batch_size, workload.precision, peak,
                                                  vram - CUDA_CONTEXT_BYTES, vram)
            return ref, factors, "scaled", notes + ((largest,) if largest else ())
        mb = self.profile.microbenchmarks
        overhead = mb.op_overhead_s
        speedup = compute_speedup(mb.conv_train_flops_per_s, ref.key.precision, workload.precision)
        factors = scale_factors(ref, target, overhead.median if overhead else DEFAULT_OP_OVERHEAD_S, speedup)
        notes = (warning("scaled", f"not calibrated, so only rough: scaled by counted work from "
                                   f"{ref.key.describe()}; calibrating the workload measures it"),)
        emulated = emulated_slowdown(mb.matmul_flops_per_s, workload.precision, mb.conv_train_flops_per_s)
        if emulated is not None:
            notes += (warning("emulated-precision", f"{workload.precision}: no hardware arithmetic for it here "
                              f"({emulated.describe()}): training in it here is slow, and this scaled "
                              "estimate only rough"),)
        return ref, factors, "scaled", notes

    def _eval_batch_ratio(self, workload: Workload, ref: Calibration) -> tuple[float, tuple[Note, ...]]:
        """How much longer a validation step takes at the workload's validation batch than at its
        training batch, at which calibrations time it; and a note saying so (none when equal)."""
        b, eb = workload.batch_size, workload.eval_batch_size
        if eb == b:
            return 1.0, ()
        at_train = self.step_cost(workload)
        at_eval = self.step_cost(workload.eval_step_workload())
        source = ref if ref.step_cost is not None else closest_calibration(self.profile, workload)
        if source is None:
            raise RuntimeFailure("the profile has no calibration to scale from; re-run `advisor profile`.")
        overhead = self.profile.microbenchmarks.op_overhead_s
        ratio = eval_batch_ratio(source, at_train, at_eval, overhead.median if overhead else DEFAULT_OP_OVERHEAD_S,
                                 self.gpu, self.gpu_efficiency, workload.precision, workload.channels_last)
        how = f"the GPU step model on {self.gpu.name}" if self.gpu is not None else "counted work"
        return ratio, (info("valid-batch", f"validation at batch {eb}: its step scaled from batch {b}, at which "
                                           f"steps are calibrated, by {how} ({ratio:.2f}x)"),)

    def estimate(self, workload: Workload) -> Estimate:
        workload = self.resolve(workload)
        cal, factors, basis, notes = self._calibration(workload)
        ratio, batch_notes = self._eval_batch_ratio(workload, cal)
        if batch_notes:
            factors = dict(factors or {"train": 1.0, "eval": 1.0, "frozen": 1.0})
            factors["eval"] *= ratio
        notes += batch_notes
        common = self._common()
        if cal.peak_memory_kind == "predicted" and common["vram_bytes"]:
            # a counted peak leaves out the CUDA context, which a measured one runs beside
            common["vram_bytes"] -= CUDA_CONTEXT_BYTES
        return whole_run_estimate(workload, cal, scale=factors, basis=basis,
                                  extra_notes=notes + synchronised_steps_notes(cal), **common)

    def estimate_data_parallel(self, workload: Workload, dp: DataParallel) -> Estimate:
        return replace(self._estimate_data_parallel(self.resolve(workload), dp), workload=self.resolve(workload))

    def _estimate_data_parallel(self, workload: Workload, dp: DataParallel) -> Estimate:
        """DDP on this machine's own devices (`advisor profile --nproc N` measured them): from
        the measured DDP steps when the workload is the one measured, else this machine's single
        -device estimate slowed by sharing the machine, plus the measured all-reduce."""
        d = self.profile.distributed
        if d is None or d.world != dp.world or dp.nodes != d.nodes:
            have = "none" if d is None else f"{d.world} rank(s) on {d.nodes} machine(s)"
            raise UsageError(
                f"this machine's profile has no data-parallel measurement for {dp.world} processes "
                f"(it has {have}); run `advisor profile --nproc {dp.world}` first.")
        shard = self.resolve(shard_workload(workload, dp))
        comm = d.comm_model()
        single_cal, factors, basis, notes = self._calibration(shard)
        scale = factors or {"train": 1.0, "eval": 1.0, "frozen": 1.0}
        single_step = single_cal.train_step_seconds.median * scale["train"]
        measured_here = d.key is not None and d.key == CalibrationKey.of(
            shard.with_(data_dir=None, workers=0), d.key.device) and not shard.data_dir
        ratio, batch_notes = self._eval_batch_ratio(shard, single_cal)
        scale = dict(scale, eval=scale["eval"] * ratio)
        if measured_here:
            cal = replace(single_cal if basis == "measured" else _bare_calibration(d.key, shard.batch_size),
                          key=d.key, train_step_seconds=d.ddp_step_seconds,
                          eval_step_seconds=d.eval_step_seconds, frozen_step_seconds=d.ddp_step_seconds,
                          warmup_train_step_seconds=d.warmup_ddp_step_seconds, warmup_eval_step_seconds=())
            compute = d.compute_step_seconds.median
            step = DdpStep(compute, comm.allreduce_seconds(d.gradient_bytes),
                           max(0.0, d.ddp_step_seconds.median - compute))
            info = parallel_info(dp, shard, step, single_step, comm)
            # the measured DDP steps are this workload's own: only the validation batch scales them
            own = {"train": 1.0, "eval": ratio, "frozen": 1.0}
            return whole_run_estimate(shard, cal, basis="measured", parallel=info, scale=own,
                                      extra_notes=(parallel_note(info), *batch_notes), **self._common())
        # another workload: the measured slow-down of sharing the machine, then the all-reduce
        sharing = 1.0
        alone = self.profile.find(d.key) if d.key is not None else None
        if alone is not None and d.compute_step_seconds is not None:
            sharing = d.compute_step_seconds.median / alone.train_step_seconds.median
        compute = single_step * sharing
        cost = self.step_cost(shard)
        step = ddp_step(compute, gradient_bytes(cost.parameters), comm)
        frozen = ddp_step(compute, gradient_bytes(cost.trainable_head_parameters), comm)
        cal = retimed_calibration(single_cal, sharing, step.exposed_seconds / scale["train"],
                                  frozen.exposed_seconds / scale["frozen"])
        info = parallel_info(dp, shard, step, single_step, comm)
        note = warning("ddp-scaled", f"{dp.world} ranks share this machine: each computes {sharing:.2f}x "
                       f"slower than one alone (measured on {d.key.model if d.key else 'another workload'}), "
                       "plus the all-reduce that backward does not hide; measuring data-parallel training "
                       "with this workload's options would make it exact")
        return whole_run_estimate(shard, cal, scale=scale, basis="scaled", parallel=info,
                                  extra_notes=(*notes, *batch_notes, note, parallel_note(info)), **self._common())

    def _vram_bytes(self) -> int | None:
        if not self.profile.device.startswith("cuda"):
            return None
        index = int(self.profile.device.split(":")[1])
        return next((g.vram_bytes for g in self.profile.machine.gpus if g.index == index), None)
