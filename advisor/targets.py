"""Estimates on hardware that is not here: a GPU from the catalog, or a cloud CPU. Pure.

GPU targets are timed by the cross-hardware roofline (crosshw.py) over the workload's counted
work; cloud CPUs are scaled from this machine's measured CPU calibration by vCPU count. Both
return the same Estimate as the local machine, so options compare like with like.
"""

from __future__ import annotations

from dataclasses import replace

from advisor.calibrate import Calibration, CalibrationKey
from advisor.catalog import GpuSpec
from advisor.crosshw import (GPU_BAND, DEFAULT_DECODE_IMAGES_PER_S, gpu_setup_seconds,
                             HALF_PRECISIONS, Efficiency, gpu_phase_breakdown, gpu_phase_seconds, loader_images_per_s,
                             precision_notes)
from advisor.distributed import CommModel, DataParallel, ddp_step_impl, gradient_bytes, shard_workload_impl
from advisor.estimate import Estimate, estimate_impl, parallel_info, parallel_note
from advisor.opcount import StepCost
from advisor.stats import Samples
from advisor.workload import Workload

CUDA_CONTEXT_BYTES = 1 * 2**30  # CUDA context and cudnn workspace: VRAM the allocator never sees
AMP_ACTIVATION_FACTOR = 0.6  # 16-bit activations, with fp32 copies kept for some ops
CPU_CORE_EXPONENT = 0.8  # CNN training throughput against core count: sublinear
CPU_BAND = (0.5, 2.0)  # CPU models and generations differ; only the core count is known


def training_memory_bytes(cost: StepCost, local: Calibration | None, batch: int, precision: str) -> int | None:
    """Peak training memory at `batch`: weights, gradients and momentum (12 bytes a parameter)
    plus activations per image as the local calibration measured them, scaled to the batch."""
    state = 12 * cost.parameters
    if local is None or not local.peak_memory_bytes:
        return None
    per_image = max(0.0, (local.peak_memory_bytes - state) / local.key.batch_size)
    if precision.startswith("amp") and not local.key.precision.startswith("amp"):
        per_image *= AMP_ACTIVATION_FACTOR
    return int(state + per_image * batch)


def largest_batch(cost: StepCost, local: Calibration | None, budget_bytes: int, precision: str) -> int | None:
    if local is None or not local.peak_memory_bytes:
        return None
    one = training_memory_bytes(cost, local, 1, precision)
    per_image = training_memory_bytes(cost, local, 2, precision) - one
    if per_image <= 0:
        return None
    return max(0, int((budget_bytes - (one - per_image)) // per_image))


def gpu_estimate(workload: Workload, cost: StepCost, spec: GpuSpec, eff: Efficiency, *,
                 local: Calibration | None, vcpus: int | None,
                 decode_images_per_s: float | None, dp: DataParallel | None = None,
                 comm: CommModel | None = None) -> Estimate:
    """Training time on one `spec` GPU, with the loader bound of `vcpus` when data is JPEG.

    With `dp` (several GPUs, DDP) and its all-reduce model `comm`: each GPU trains its shard at
    the per-GPU batch (`cost` is counted at that batch), the vCPUs are shared among the GPUs of
    a machine, and every training step adds the all-reduce that backward does not hide.
    """
    full = workload
    if dp is not None:
        workload = shard_workload_impl(workload, dp)
        full = full.with_(batch_size=workload.batch_size)
    prec = workload.precision
    b = workload.batch_size
    nhwc = workload.channels_last
    parts = {phase: gpu_phase_breakdown(getattr(cost, phase), spec, prec, eff, nhwc)
             for phase in ("train", "eval", "frozen")}
    steps = {phase: sum(p.values()) for phase, p in parts.items()}
    notes = precision_notes(spec, prec)
    notes.append(f"predicted from {spec.name} specifications ({eff.source})")
    with_nhwc = gpu_phase_seconds(cost.train, spec, prec, eff, channels_last=True) \
        if not nhwc and prec in HALF_PRECISIONS else steps["train"]
    if with_nhwc < 0.95 * steps["train"]:
        notes.append(f"16-bit convolutions on NCHW tensors transpose their activations: "
                     f"--channels-last (model and inputs in torch.channels_last) would train "
                     f"about {steps['train'] / with_nhwc:.2f}x faster (est.)")
    alone = steps["train"]
    ddp = frozen_ddp = None
    if dp is not None and dp.world > 1 and comm is not None:
        ddp = ddp_step_impl(steps["train"], gradient_bytes(cost.parameters), comm)
        frozen_ddp = ddp_step_impl(steps["frozen"], gradient_bytes(cost.trainable_head_parameters), comm)
        steps["train"] = ddp.seconds
        steps["frozen"] = frozen_ddp.seconds
        if vcpus:
            vcpus = max(1, vcpus // dp.gpus_per_node)  # each GPU's loader gets its share
    fed = dict(steps)
    synthetic = None
    if vcpus:
        per_process = decode_images_per_s or DEFAULT_DECODE_IMAGES_PER_S
        loader_rate = loader_images_per_s(vcpus, per_process)
        loader_step = b / loader_rate
        if workload.data_dir:
            if loader_step > steps["train"]:
                synthetic = Samples((steps["train"],))
            fed = {phase: max(t, loader_step) for phase, t in steps.items()}
        elif loader_step > steps["train"]:
            notes.append(
                f"with JPEG photos, {vcpus} vCPUs decode about {loader_rate:.0f} images/s "
                f"(est.) against {b / steps['train']:.0f} the GPU trains: the loader would be the "
                "bottleneck (profile with --data to include it)")
    elif workload.data_dir:
        notes.append("the offer's vCPU count is not published: JPEG decoding is not included")
    else:
        notes.append("vCPUs not published: whether JPEG decoding would keep up is unknown")
    train_parts = parts["train"]
    total = sum(train_parts.values()) or 1.0
    split = {k: v / total for k, v in train_parts.items()}
    peak = training_memory_bytes(cost, local, b, prec)
    usable = spec.vram_bytes - CUDA_CONTEXT_BYTES
    if peak is not None and peak > usable:
        fit = largest_batch(cost, local, usable, prec)
        notes.append(f"batch {b} needs about {peak / 2**30:.1f} GiB of the {spec.vram_bytes / 1e9:.0f} GB;"
                     f" the largest batch that fits is about {fit}")
    setup = gpu_setup_seconds(cost)
    cal = Calibration(
        key=CalibrationKey(workload.model, workload.num_classes, workload.image_size, b, prec,
                           f"gpu:{spec.id}", workload.data_source, workload.workers, nhwc),
        requested_batch_size=b,
        train_step_seconds=Samples((fed["train"],)), eval_step_seconds=Samples((fed["eval"],)),
        frozen_step_seconds=Samples((fed["frozen"],)),
        warmup_train_step_seconds=(fed["train"] + setup["first_steps"],), warmup_eval_step_seconds=(),
        new_shape_overhead_seconds=setup["new_shape"], new_shape_eval_overhead_seconds=setup["new_shape_eval"],
        synthetic_train_step_seconds=synthetic,
        peak_memory_bytes=peak, peak_memory_kind="predicted", op_split=split, step_cost=cost,
    )
    parallel = None
    if ddp is not None:
        parallel = parallel_info(dp, workload, replace(ddp, compute_seconds=fed["train"] - ddp.exposed_seconds),
                                 alone, comm)
        notes.append(parallel_note(parallel))
    accelerator = spec.name if ddp is None else f"{dp.world}x {spec.name}"
    estimate = estimate_impl(workload, cal, accelerator=accelerator, vram_bytes=usable, basis="predicted",
                             band=GPU_BAND, extra_notes=tuple(notes), parallel=parallel)
    return replace(estimate, workload=full)


def cpu_estimate(local: Estimate, local_cores: int, vcpus: int, ram_bytes: int | None) -> Estimate:
    """Training time on a cloud CPU with `vcpus`, scaled from this machine's CPU estimate."""
    ratio = (local_cores / vcpus) ** CPU_CORE_EXPONENT
    note = (f"scaled from this machine's CPU ({local_cores} cores) to {vcpus} vCPUs "
            f"(throughput ~ cores^{CPU_CORE_EXPONENT}); CPU models differ, hence the wide band")
    fits = local.fits_memory
    notes = [note, *local.notes]
    if ram_bytes and local.peak_memory_bytes and local.peak_memory_bytes > 0.85 * ram_bytes:
        fits = False
        notes.append(f"training needs about {local.peak_memory_bytes / 2**30:.1f} GiB, near or over the "
                     f"machine's {ram_bytes / 1e9:.0f} GB of RAM")
    seconds = local.seconds * ratio
    return replace(
        local, device=f"cpu:{vcpus}", accelerator=f"CPU ({vcpus} vCPUs)", seconds=seconds,
        seconds_low=seconds * CPU_BAND[0], seconds_high=seconds * CPU_BAND[1],
        train_images_per_s=local.train_images_per_s / ratio, eval_images_per_s=local.eval_images_per_s / ratio,
        basis="scaled", fits_memory=fits,
        breakdown_seconds={k: round(v * ratio, 3) for k, v in local.breakdown_seconds.items()},
        notes=tuple(notes),
    )
