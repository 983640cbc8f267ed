"""Predicting full training time on the profiled machine. Pure: no torch, no I/O.

A workload the profile calibrated is predicted from its measured step times; any other is
scaled from the closest calibration by counted work per op class (convolution/matmul FLOPs,
memory-bound bytes, op count), weighted by how the measured step split its time between them,
with a wider band. Training time is, everywhere: first training step to the end of the last
validation pass, first-steps overhead and loader start-up included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from advisor.calibrate import Calibration, CalibrationKey
from advisor.distributed import (CommModel, DataParallel, DdpStep, ddp_step_impl, gradient_bytes,
                                 shard_workload_impl)
from advisor.errors import RuntimeFailure, UsageError
from advisor.opcount import PhaseCost, StepCost
from advisor.precision import compute_speedup_impl, emulated_slowdown_impl, resolve_precision
from advisor.profile import Profile
from advisor.roofline import Rates, fit_rates, phase_seconds
from advisor.stats import Samples
from advisor.workload import Workload

# Relative half-width added to the measured spread: run-to-run variation of a whole training
# run on a shared machine (clock boost, other tenants) that step samples cannot see. On the
# 2-core VM of benchmarks/accuracy.py the same training measured up to 22 % apart in runs an
# hour apart (resnet34, 700 images: 46.9-57.2 s), and 6 % left 6 of 59 predictions in four
# suites outside the band.
MEASURED_BAND = 0.10
# Scaling to an uncalibrated workload through the fitted roofline is first-order only: kernel
# efficiency changes with shapes, batch and cache fit, and page faults with tensor sizes. Over
# twelve accuracy suites on a 2-core CPU (2026-11-26, 142 synthetic-data rows) whole runs took
# 0.52-2.57x of the scaled estimate, 90 % of them inside 0.65-2.0x (outside: mobilenet_v3_large
# at batch 256, 2.3-2.6x every time, its steps 57 % page faults, and two resnet18 runs); all 36
# JPEG rows, whose decoding the scaled estimate leaves out, took 1.29-1.95x. The note says to
# calibrate.
SCALED_LOW_FACTOR = 0.65
SCALED_HIGH_FACTOR = 2.0
RAM_HEADROOM = 0.85  # of physical RAM a CPU run may use before swapping is likely
# The kernel's share of a CPU training step's CPU time above which an estimate says how to
# avoid it. glibc serves each allocation over 32 MB (its largest mmap threshold) with a fresh
# mmap and unmaps it on free, so every step of a large-batch CNN page-faults its big activations
# in anew. On a 2-core EPYC VM (2026-11-26) the kernel took 21 % of resnet34's CPU time (224 px,
# batch 64, 5.1 GB faulted a step) and 57 % of mobilenet_v3_large's (160 px, batch 256, 20.7 GB);
# with mmap off and trimming out of reach, steps took 3.8 s instead of 4.9-5.3 and 2.9 s instead
# of 8.1-8.5.
KERNEL_SHARE_NOTE = 0.15
REUSE_MEMORY_ENV = "GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=100000000000"


def kernel_time_note(cal: Calibration) -> str | None:
    """What an estimate says when the kernel takes much of a CPU step (KERNEL_SHARE_NOTE)."""
    share = cal.kernel_time_share
    if cal.key.device != "cpu" or share is None or share < KERNEL_SHARE_NOTE:
        return None
    faulted = cal.page_faulted_bytes_per_step
    mapped = f", page-faulting {faulted / 1e9:.1f} GB of fresh memory a step" if faulted else ""
    return (f"{100 * share:.0f} % of this CPU's training time is the kernel's{mapped} (glibc maps "
            f"tensors over 32 MB anew each step): with {REUSE_MEMORY_ENV} in the training's "
            "environment, or jemalloc or tcmalloc preloaded, the memory is reused (the process keeps "
            f"its peak) and training should take about {100 * (1 - share):.0f} % of this estimate or "
            "less; profile with the same setting to predict it")


@dataclass(frozen=True)
class Estimate:
    workload: Workload
    device: str
    accelerator: str
    seconds: float
    seconds_low: float
    seconds_high: float
    train_images_per_s: float
    eval_images_per_s: float
    bottleneck: str  # "compute", "memory", "input pipeline", "overhead"
    fits_memory: bool
    peak_memory_bytes: int | None
    basis: str  # "measured" (calibrated here), "scaled" (from another calibration here) or
    # "predicted" (other hardware, from counted work and its specifications)
    breakdown_seconds: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    # data-parallel runs: GPUs, machines, per-GPU batch, scaling efficiency, communication
    parallel: dict | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["workload"] = self.workload.to_dict()
        d["notes"] = list(self.notes)
        return d


def _phase_seconds(images: int, batch: int, step_seconds: float) -> float:
    """Seconds for `images` images at `step_seconds` per full batch; the partial batch pro rata."""
    return images / batch * step_seconds


def _prefetched_saving(cal: Calibration, phase: str, steps: float) -> float:
    """Seconds an epoch's phase saves because its last batches were decoded ahead and run at the
    model's own speed, not the loader-fed one (Calibration.prefetched_batches)."""
    synthetic = cal.synthetic_train_step_seconds if phase == "train" else cal.synthetic_eval_step_seconds
    fed = cal.train_step_seconds if phase == "train" else cal.eval_step_seconds
    prefetched = cal.prefetched_batches(phase)
    if synthetic is None or not prefetched:
        return 0.0
    # no faster than the loader alone delivers them
    ahead = max(synthetic.median, cal.key.batch_size / cal.loader_images_per_s.median)
    return min(steps, prefetched) * max(0.0, fed.median - ahead)


def estimate_impl(workload: Workload, cal: Calibration, *, accelerator: str,
                  ram_bytes: int | None = None, vram_bytes: int | None = None,
                  scale: dict[str, float] | None = None, basis: str = "measured",
                  band: tuple[float, float] | None = None,
                  extra_notes: tuple[str, ...] = (), parallel: dict | None = None) -> Estimate:
    """Full training time of `workload` from calibration `cal`.

    `scale` multiplies the calibration's step times per phase ("train", "eval", "frozen") when
    the workload differs from what was calibrated. `band` (low, high factors) replaces the
    band derived from the samples, for predictions whose error is known from benchmarks.
    """
    scale = scale or {"train": 1.0, "eval": 1.0, "frozen": 1.0}
    b = workload.batch_size
    n_train, n_valid = workload.train_images, workload.valid_images
    e, k = workload.epochs, workload.frozen_epochs
    train_partial = n_train % b != 0
    valid_partial = bool(n_valid) and n_valid % b != 0

    def total(q: float) -> tuple[float, dict]:
        def at(samples, phase):
            return (samples.median if q == 0.5 else samples.quantile(q)) * scale[phase]

        train = _phase_seconds(n_train, b, at(cal.train_step_seconds, "train"))
        train -= _prefetched_saving(cal, "train", n_train / b) * scale["train"]
        frozen = _phase_seconds(n_train, b, at(cal.frozen_step_seconds, "frozen"))
        valid = _phase_seconds(n_valid, b, at(cal.eval_step_seconds, "eval"))
        valid -= _prefetched_saving(cal, "eval", n_valid / b) * scale["eval"]
        starts = cal.epoch_start_seconds + (cal.valid_start_seconds if n_valid else 0.0)
        # one-time set-up: the first steps, each new batch shape, the frozen graph
        first = cal.expected_first_steps_overhead_seconds * scale["train"]
        first += cal.new_shape_overhead_seconds * scale["train"] * train_partial
        first += cal.new_shape_eval_overhead_seconds * scale["eval"] * valid_partial
        first += cal.frozen_first_step_overhead_seconds * scale["frozen"] * (k > 0)
        parts = {
            "first_steps_overhead": first,
            "frozen_training": k * frozen,
            "training": e * train,
            "validation": (e + k) * valid,
            "loader_start": (e + k) * starts,
        }
        return sum(parts.values()), parts

    seconds, breakdown = total(0.5)
    low, _ = total(0.25)
    high, _ = total(0.75)
    if band is not None:
        low, high = seconds * band[0], seconds * band[1]
    elif basis == "measured":
        # few samples: the median itself is uncertain
        half = MEASURED_BAND + cal.train_step_seconds.standard_error_of_median
        low, high = min(low, seconds) * (1 - half), max(high, seconds) * (1 + half)
        # the set-up's own spread: a run that is the first to load the kernels pays the cold first step
        least, expected, most = cal.first_steps_overhead_range_seconds
        low -= (expected - least) * scale["train"]
        high += (most - expected) * scale["train"]
    else:
        low, high = seconds * SCALED_LOW_FACTOR, seconds * SCALED_HIGH_FACTOR

    notes = list(extra_notes)
    ranks = parallel["world"] if parallel else 1  # images/s of all GPUs together
    train_ips = ranks * b / (cal.train_step_seconds.median * scale["train"])
    eval_ips = ranks * b / (cal.eval_step_seconds.median * scale["eval"])
    bottleneck = _bottleneck(cal)
    if bottleneck == "input pipeline":
        notes.append(
            f"the data loader ({cal.key.workers} worker(s)) limits training to {train_ips:.1f} "
            f"images/s; the model alone trains at {ranks * b / cal.synthetic_train_step_seconds.median:.1f}"
        )
    fits = True
    peak = cal.peak_memory_bytes
    if scale["train"] != 1.0 and peak:
        peak = None  # memory of another workload is not measured here (targets.py predicts it)
    if cal.fitted_smaller_batch and b > cal.key.batch_size:
        fits = False
        notes.append(f"batch {b} does not fit in device memory; the largest that fitted is {cal.key.batch_size}")
    if cal.key.device == "cpu" and peak and ram_bytes and peak > RAM_HEADROOM * ram_bytes:
        fits = False
        notes.append(f"training needs about {peak / 2**30:.1f} GiB, near or over this machine's RAM")
    if vram_bytes and peak and cal.key.device != "cpu" and peak > vram_bytes:
        fits = False
        notes.append(f"needs about {peak / 2**30:.1f} GiB of GPU memory, more than the "
                     f"{vram_bytes / 2**30:.0f} GiB usable")
    if cal.key.data_source == "synthetic" and workload.data_dir:
        notes.append(f"JPEG decoding ({workload.workers} loader worker(s)) is not included: scaled from a "
                     "calibration on synthetic tensors; drop --no-calibrate, or profile with --data, to measure it")
    elif cal.key.data_source == "synthetic":
        notes.append("synthetic tensors: JPEG decoding is not included (profile with --data to include it)")
    if workload.frozen_epochs:
        notes.append(f"{workload.frozen_epochs} frozen epoch(s): only the classifier head trains")
    kernel = kernel_time_note(cal) if basis == "measured" and set(scale.values()) == {1.0} else None
    if kernel:
        notes.append(kernel)
    notes.append(
        f"{n_train} training and {n_valid} validation images per epoch{' on each rank' if parallel else ''}, "
        f"batch {b}, {workload.precision}"
    )
    return Estimate(
        workload=workload, device=cal.key.device, accelerator=accelerator,
        seconds=seconds, seconds_low=low, seconds_high=high,
        train_images_per_s=train_ips, eval_images_per_s=eval_ips, bottleneck=bottleneck,
        fits_memory=fits, peak_memory_bytes=peak, basis=basis,
        breakdown_seconds={k2: round(v, 3) for k2, v in breakdown.items()}, notes=tuple(notes),
        parallel=parallel,
    )


def retimed_calibration(cal: Calibration, factor: float = 1.0, train_add_s: float = 0.0,
                        frozen_add_s: float = 0.0) -> Calibration:
    """`cal` with every step time multiplied by `factor`, plus seconds added to each training
    (and frozen) step: how sharing a machine and communicating change a measured step."""
    def f(samples, add=0.0):
        return None if samples is None else Samples(tuple(v * factor + add for v in samples.values))

    return replace(
        cal, train_step_seconds=f(cal.train_step_seconds, train_add_s),
        eval_step_seconds=f(cal.eval_step_seconds), frozen_step_seconds=f(cal.frozen_step_seconds, frozen_add_s),
        warmup_train_step_seconds=tuple(v * factor + train_add_s for v in cal.warmup_train_step_seconds),
        warmup_eval_step_seconds=tuple(v * factor for v in cal.warmup_eval_step_seconds),
        synthetic_train_step_seconds=f(cal.synthetic_train_step_seconds, train_add_s),
        synthetic_eval_step_seconds=f(cal.synthetic_eval_step_seconds),
    )


def parallel_info(dp: DataParallel, shard: Workload, step: DdpStep, single_step_s: float,
                  comm: CommModel, extra: dict | None = None) -> dict:
    """The fields a data-parallel option reports (JSON and notes)."""
    efficiency = single_step_s / step.seconds if step.seconds else 1.0
    return {
        "gpus_per_node": dp.gpus_per_node, "nodes": dp.nodes, "world": dp.world,
        "per_gpu_batch": shard.batch_size, "global_batch": shard.batch_size * dp.world,
        "scaling_efficiency": round(efficiency, 4),
        "communication_share": round(step.communication_share, 4),
        "allreduce_seconds_per_step": round(step.communication_seconds, 6),
        "exposed_communication_seconds_per_step": round(step.exposed_seconds, 6),
        "communication_basis": comm.basis, "communication_source": comm.source,
        **(extra or {}),
    }


def parallel_note(info: dict) -> str:
    return (f"data-parallel (DDP) on {info['world']} ranks ({info['gpus_per_node']} per machine x "
            f"{info['nodes']}), batch {info['per_gpu_batch']} per rank ({info['global_batch']} global): "
            f"scaling efficiency {100 * info['scaling_efficiency']:.0f} %, communication "
            f"{100 * info['communication_share']:.0f} % of a step ({info['communication_basis']}: "
            f"{info['communication_source']})")


def _bottleneck(cal: Calibration) -> str:
    synth = cal.synthetic_train_step_seconds
    if synth is not None and cal.train_step_seconds.median > 1.15 * synth.median:
        return "input pipeline"
    split = cal.op_split or {}
    shares = {"compute": split.get("compute", 0.0), "memory": split.get("memory", 0.0),
              "overhead": split.get("other", 0.0)}
    return max(shares, key=shares.get)


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

    `count` counts a workload's step (opcount.count_step); it is only called for workloads the
    profile has not calibrated, and is injectable so tests need no torch.
    """

    def __init__(self, profile: Profile, count: Callable[..., StepCost] | None = None):
        self.profile = profile
        self._count = count
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
                from advisor.opcount import count_step

                self._count = count_step
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

    def _calibration(self, workload: Workload) -> tuple[Calibration, dict | None, str, tuple[str, ...]]:
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
        mb = self.profile.microbenchmarks
        overhead = mb.op_overhead_s
        speedup = compute_speedup_impl(mb.conv_train_flops_per_s, ref.key.precision, workload.precision)
        factors = scale_factors(ref, target, overhead.median if overhead else DEFAULT_OP_OVERHEAD_S, speedup)
        note = (f"not calibrated, so only rough: scaled by counted work from {ref.key.describe()}; drop "
                "--no-calibrate (or run `advisor profile` with these options) for a measured estimate")
        notes = (note,)
        slowdown = emulated_slowdown_impl(mb.matmul_flops_per_s, workload.precision)
        if slowdown is not None:
            notes += (f"{workload.precision}: no hardware arithmetic for it here (its 16-bit matrix "
                      f"multiplies ran {slowdown:.0f}x slower than FP32 ones): training in it here is "
                      "slow, and this scaled estimate only rough",)
        return ref, factors, "scaled", notes

    def estimate(self, workload: Workload) -> Estimate:
        workload = self.resolve(workload)
        cal, factors, basis, notes = self._calibration(workload)
        return estimate_impl(workload, cal, scale=factors, basis=basis, extra_notes=notes, **self._common())

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
        shard = self.resolve(shard_workload_impl(workload, dp))
        comm = d.comm_model()
        single_cal, factors, basis, notes = self._calibration(shard)
        scale = factors or {"train": 1.0, "eval": 1.0, "frozen": 1.0}
        single_step = single_cal.train_step_seconds.median * scale["train"]
        measured_here = d.key is not None and d.key == CalibrationKey.of(
            shard.with_(data_dir=None, workers=0), d.key.device) and not shard.data_dir
        if measured_here:
            cal = replace(single_cal if basis == "measured" else _bare_calibration(d.key, shard.batch_size),
                          key=d.key, train_step_seconds=d.ddp_step_seconds,
                          eval_step_seconds=d.eval_step_seconds, frozen_step_seconds=d.ddp_step_seconds,
                          warmup_train_step_seconds=d.warmup_ddp_step_seconds, warmup_eval_step_seconds=())
            compute = d.compute_step_seconds.median
            step = DdpStep(compute, comm.allreduce_seconds(d.gradient_bytes),
                           max(0.0, d.ddp_step_seconds.median - compute))
            info = parallel_info(dp, shard, step, single_step, comm)
            return estimate_impl(shard, cal, basis="measured", parallel=info,
                                 extra_notes=(parallel_note(info),), **self._common())
        # another workload: the measured slow-down of sharing the machine, then the all-reduce
        sharing = 1.0
        alone = self.profile.find(d.key) if d.key is not None else None
        if alone is not None and d.compute_step_seconds is not None:
            sharing = d.compute_step_seconds.median / alone.train_step_seconds.median
        compute = single_step * sharing
        cost = self.step_cost(shard)
        step = ddp_step_impl(compute, gradient_bytes(cost.parameters), comm)
        frozen = ddp_step_impl(compute, gradient_bytes(cost.trainable_head_parameters), comm)
        cal = retimed_calibration(single_cal, sharing, step.exposed_seconds / scale["train"],
                                  frozen.exposed_seconds / scale["frozen"])
        info = parallel_info(dp, shard, step, single_step, comm)
        note = (f"{dp.world} ranks share this machine: each computes {sharing:.2f}x slower than one "
                f"alone (measured on {d.key.model if d.key else 'another workload'}), plus the all-reduce "
                f"that backward does not hide; `advisor profile --nproc {dp.world}` with this workload's "
                "options measures it")
        return estimate_impl(shard, cal, scale=factors, basis="scaled", parallel=info,
                             extra_notes=(*notes, note, parallel_note(info)), **self._common())

    def _vram_bytes(self) -> int | None:
        if not self.profile.device.startswith("cuda"):
            return None
        index = int(self.profile.device.split(":")[1])
        return next((g.vram_bytes for g in self.profile.machine.gpus if g.index == index), None)
