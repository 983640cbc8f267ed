"""Estimates on hardware that is not here: a GPU from the catalog, or a cloud CPU. Pure.

GPU targets are timed by the step model (advisor.predict.gpu) over the workload's counted
work; cloud CPUs are scaled from this machine's measured CPU calibration by vCPU count. Both
return the same Estimate as the local machine, so options compare like with like.
"""

from __future__ import annotations

from dataclasses import replace

from advisor.cloud.catalog import GpuSpec
from advisor.model.calibration import Calibration, CalibrationKey
from advisor.model.cost import StepCost
from advisor.model.estimate import Estimate
from advisor.model.notes import info, tip, warning
from advisor.model.parallel import CommModel, DataParallel, gradient_bytes
from advisor.model.stats import Samples
from advisor.model.workload import Workload
from advisor.predict.gpu import (
    GPU_BAND,
    HALF_PRECISIONS,
    Efficiency,
    eval_op_seconds,
    gpu_steps,
    precision_notes,
)
from advisor.predict.loader import loader_rate
from advisor.predict.memory import CUDA_CONTEXT_BYTES, gpu_memory_bytes, largest_batch_note
from advisor.predict.parallel import ddp_step, parallel_info, parallel_note, shard_workload
from advisor.predict.setup import gpu_setup_seconds
from advisor.predict.whole_run import whole_run_estimate

CPU_CORE_EXPONENT = 0.8  # CNN training throughput against core count: sublinear
CPU_BAND = (0.5, 2.0)  # CPU models and generations differ; only the core count is known


def gpu_estimate(workload: Workload, cost: StepCost, spec: GpuSpec, eff: Efficiency, *,
                 local: Calibration | None, vcpus: int | None,
                 decode_images_per_s: float | None, dp: DataParallel | None = None,
                 comm: CommModel | None = None, eval_cost: StepCost | None = None) -> Estimate:
    """Training time on one `spec` GPU, with the loader bound of `vcpus` when data is JPEG.
    `eval_cost`: the step counted at the workload's validation batch, where that is not the
    training batch (else `cost` scaled to it).

    With `dp` (several GPUs, DDP) and its all-reduce model `comm`: each GPU trains its shard at
    the per-GPU batch (`cost` is counted at that batch), the vCPUs are shared among the GPUs of
    a machine, and every training step adds the all-reduce that backward does not hide.
    """
    full = workload
    if dp is not None:
        workload = shard_workload(workload, dp)
        full = full.with_(batch_size=workload.batch_size)
    prec = workload.precision
    b = workload.batch_size
    nhwc = workload.channels_last
    parts = gpu_steps(cost, spec, prec, eff, channels_last=nhwc)
    eb = workload.eval_batch_size
    if eb != b:
        eval_cost = eval_cost or cost.at_batch(eb)
        if eval_cost is None:
            raise ValueError(f"{workload.model}: a validation batch of {eb} needs its step counted at that batch")
        parts["eval"] = gpu_steps(eval_cost, spec, prec, eff, channels_last=nhwc, phases=("eval",))["eval"]
    steps = {name: p.seconds for name, p in parts.items()}
    notes = precision_notes(spec, prec)
    train = parts["train"]
    notes.append(info("gpu-basis", f"predicted from {spec.name} specifications ({eff.source}): a step of "
                      f"{1000 * train.seconds:.1f} ms, {train.bound}-bound (device {1000 * train.device_s:.1f} ms, "
                      f"host {1000 * train.host_s:.1f} ms, assuming a host as fast as the one the constants were "
                      f"fitted on: {1e6 * eff.host_tensor_s:.0f} µs per trained parameter tensor, "
                      f"{1e6 * eff.host_op_s:.0f} µs per op); a validation step"
                      f"{f' of {eb} images' if eb != b else ''} of {1000 * parts['eval'].seconds:.1f} ms, "
                      f"{parts['eval'].bound}-bound ({1e6 * eval_op_seconds(eff):.0f} µs per op)"))
    if spec.checked:
        notes.append(info("gpu-checked", f"{spec.name}: {spec.checked}"))
    with_nhwc = gpu_steps(cost, spec, prec, eff, channels_last=True, phases=("train",))["train"].seconds \
        if not nhwc and prec in HALF_PRECISIONS else steps["train"]
    if with_nhwc < 0.95 * steps["train"]:
        notes.append(tip("channels-last", "16-bit convolutions on NCHW tensors transpose their activations: "
                         "the model and inputs in torch.channels_last would train about "
                         f"{steps['train'] / with_nhwc:.2f}x faster (est.)"))
    alone = steps["train"]
    ddp = frozen_ddp = None
    if dp is not None and dp.world > 1 and comm is not None:
        ddp = ddp_step(steps["train"], gradient_bytes(cost.parameters), comm)
        frozen_ddp = ddp_step(steps["frozen"], gradient_bytes(cost.trainable_head_parameters), comm)
        steps["train"] = ddp.seconds
        steps["frozen"] = frozen_ddp.seconds
        if vcpus:
            vcpus = max(1, vcpus // dp.gpus_per_node)  # each GPU's loader gets its share
    fed = dict(steps)
    synthetic = None
    if vcpus:
        loader = loader_rate(vcpus, decode_images_per_s, main_busy_share=train.host_s / (train.seconds or 1.0))
        loader_step = b / loader.images_per_s
        gpu_rate = b / steps["train"]
        if workload.data_dir:
            if loader_step > steps["train"]:
                synthetic = Samples((steps["train"],))  # so the estimate says the loader bounds it
            fed = {phase: max(t, loader_step) for phase, t in steps.items()}
        elif loader_step > steps["train"]:
            notes.append(warning(
                "decoding-would-bound", f"with JPEG photos, {vcpus} vCPUs decode about {loader.images_per_s:.0f} "
                f"images/s (est.) against {gpu_rate:.0f} the GPU trains: the loader would be the bottleneck"))
        notes.append(info("decode-assumed", loader.describe()))
    elif workload.data_dir:
        notes.append(warning("vcpus-unknown", "the offer's vCPU count is not published: JPEG decoding is not included"))
    else:
        notes.append(info("vcpus-unknown", "vCPUs not published: whether JPEG decoding would keep up is unknown"))
    # the step's time by what bounds it, as a calibration's profiler split has it: "other" is the
    # host's time beyond the device's
    step_s = train.seconds or 1.0
    device_share = train.device_s / step_s
    split = {"compute": train.compute_s / step_s, "memory": (train.memory_s + train.kernels_s) / step_s,
             "other": max(0.0, 1.0 - device_share)} if train.bound != "host" else \
        {"compute": 0.0, "memory": 0.0, "other": 1.0}
    peak = gpu_memory_bytes(cost, local, b, prec)
    usable = spec.vram_bytes - CUDA_CONTEXT_BYTES
    largest = largest_batch_note(cost, local, b, prec, peak, usable, spec.vram_bytes)
    if largest is not None:
        notes.append(largest)
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
    estimate = whole_run_estimate(workload, cal, accelerator=accelerator, vram_bytes=usable, basis="predicted",
                                  band=GPU_BAND, extra_notes=tuple(notes), parallel=parallel)
    return replace(estimate, workload=full)


def cpu_estimate(local: Estimate, local_cores: int, vcpus: int, ram_bytes: int | None) -> Estimate:
    """Training time on a cloud CPU with `vcpus`, scaled from this machine's CPU estimate."""
    ratio = (local_cores / vcpus) ** CPU_CORE_EXPONENT
    note = info("cpu-scaled", f"scaled from this machine's CPU ({local_cores} cores) to {vcpus} vCPUs "
                f"(throughput ~ cores^{CPU_CORE_EXPONENT}); CPU models differ, hence the wide band")
    fits = local.fits_memory
    notes = [note, *local.notes]
    if ram_bytes and local.peak_memory_bytes and local.peak_memory_bytes > 0.85 * ram_bytes:
        fits = False
        notes.append(warning("no-fit", f"training needs about {local.peak_memory_bytes / 2**30:.1f} GiB, near or "
                             f"over the machine's {ram_bytes / 1e9:.0f} GB of RAM"))
    seconds = local.seconds * ratio
    return replace(
        local, device=f"cpu:{vcpus}", accelerator=f"CPU ({vcpus} vCPUs)", seconds=seconds,
        seconds_low=seconds * CPU_BAND[0], seconds_high=seconds * CPU_BAND[1],
        train_images_per_s=local.train_images_per_s / ratio, eval_images_per_s=local.eval_images_per_s / ratio,
        basis="scaled", fits_memory=fits,
        breakdown_seconds={k: round(v * ratio, 3) for k, v in local.breakdown_seconds.items()},
        notes=tuple(notes),
    )
