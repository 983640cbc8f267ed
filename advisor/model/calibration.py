"""What a calibration measured: a short real training of a workload on one device.

Records only: which settings were measured (`CalibrationKey`) and the raw step samples
(`Calibration`). How a full run uses them (warm-up expected, prefetched batches) is
advisor.predict.setup; how they are measured, advisor.measure.calibrate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from advisor.model.cost import StepCost
from advisor.model.stats import Samples
from advisor.model.workload import Workload

# batches each DataLoader worker decodes ahead (torch's default, set explicitly because the
# estimator counts on it: an epoch's last batches are waiting when the workers finish)
PREFETCH_FACTOR = 2


@dataclass(frozen=True)
class CalibrationKey:
    """What a calibration measured; a workload that matches it needs no scaling."""

    model: str
    num_classes: int
    image_size: int
    batch_size: int
    precision: str
    device: str
    data_source: str  # "synthetic" or "imagefolder"
    workers: int
    channels_last: bool = False  # profiles written before the option measured NCHW

    def describe(self) -> str:
        """`resnet34 224px batch 64 fp32`, with the layout and data where they are not the default."""
        return (f"{self.model} {self.image_size}px batch {self.batch_size} {self.precision}"
                + (" nhwc" if self.channels_last else "")
                + (f" {self.data_source}/{self.workers}w" if self.data_source != "synthetic" else ""))

    @classmethod
    def of(cls, workload: Workload, device: str) -> CalibrationKey:
        return cls(workload.model, workload.num_classes, workload.image_size, workload.batch_size,
                   workload.precision, device, workload.data_source,
                   workload.workers if workload.data_dir else 0, workload.channels_last)


@dataclass(frozen=True)
class Calibration:
    key: CalibrationKey
    requested_batch_size: int
    train_step_seconds: Samples  # full-batch training steps after warm-up
    eval_step_seconds: Samples  # full-batch forward passes, eval mode, no grad
    frozen_step_seconds: Samples  # training steps with only the classifier head trainable
    warmup_train_step_seconds: tuple[float, ...]
    warmup_eval_step_seconds: tuple[float, ...]
    # first step at a new batch shape (a last partial batch): cudnn autotuning on a GPU, oneDNN
    # primitive creation on a CPU; training and validation have their own
    new_shape_overhead_seconds: float = 0.0
    new_shape_eval_overhead_seconds: float = 0.0
    # GPU: first step at a new shape aligned like the full batch (new_shape_sizes), with the
    # kernels loaded: what the first step of a training run after the calibration pays
    aligned_shape_overhead_seconds: float = 0.0
    frozen_first_step_overhead_seconds: float = 0.0  # autograd's smaller graph, first time
    # CPU on Linux: the kernel's share of the CPU time of the timed training steps, and the memory
    # its page faults mapped a step (glibc gives each tensor over 32 MB fresh pages; see
    # estimate.kernel_time_note); None where not measured (a GPU, another OS)
    kernel_time_share: float | None = None
    page_faulted_bytes_per_step: float | None = None
    epoch_start_seconds: float = 0.0  # train loader: iterator start beyond a steady step
    valid_start_seconds: float = 0.0  # validation loader, likewise
    synthetic_train_step_seconds: Samples | None = None  # same model without the loader
    synthetic_eval_step_seconds: Samples | None = None
    decode_images_per_s: Samples | None = None  # one process: decode + augment
    loader_images_per_s: Samples | None = None  # the DataLoader with its workers, no training
    peak_memory_bytes: int | None = None
    peak_memory_kind: str = ""  # "cuda allocator peak" or "cpu resident growth"
    # GPU: the allocator's peak over the timed training steps alone, without the first steps'
    # cuDNN autotuning workspace (tried while memory is free, gigabytes for FP32 convolutions);
    # None where not measured
    steady_peak_memory_bytes: int | None = None
    op_split: dict[str, float] = field(default_factory=dict)  # share of a step's wall time
    # GPU: the host's time to issue a training step, from an idle device until the call returns
    host_train_step_seconds: Samples | None = None
    # steps each sample averages between two synchronisations; None: calibrated before samples
    # were windows, each step synchronised on its own
    window_steps: int | None = None
    step_cost: StepCost | None = None
    threads: int = 1
    budget_s: float = 0.0
    elapsed_s: float = 0.0
    measured_at: str = ""
    notes: tuple[str, ...] = ()

    @property
    def first_steps_overhead_seconds(self) -> float:
        """Warm-up time beyond what the same number of steady steps would take."""
        train = sum(self.warmup_train_step_seconds) - len(self.warmup_train_step_seconds) * self.train_step_seconds.median
        evals = sum(self.warmup_eval_step_seconds) - len(self.warmup_eval_step_seconds) * self.eval_step_seconds.median
        return max(0.0, train) + max(0.0, evals)

    @property
    def training_memory_bytes(self) -> int | None:
        """What training holds at most, steady: the timed steps' peak where measured, else the
        peak of every step."""
        return self.steady_peak_memory_bytes or self.peak_memory_bytes

    @property
    def train_images_per_s(self) -> float:
        return self.key.batch_size / self.train_step_seconds.median

    @property
    def eval_images_per_s(self) -> float:
        return self.key.batch_size / self.eval_step_seconds.median

    @property
    def fitted_smaller_batch(self) -> bool:
        return self.key.batch_size < self.requested_batch_size

    def to_dict(self) -> dict:
        d = {}
        for name, value in self.__dict__.items():
            if isinstance(value, Samples):
                d[name] = {"values": value.to_list(), "median": value.median}
            elif isinstance(value, StepCost):
                d[name] = value.to_dict()
            elif name == "key":
                d[name] = asdict(value)
            else:
                d[name] = value
        d["first_steps_overhead_seconds"] = self.first_steps_overhead_seconds
        d["train_images_per_s"] = self.train_images_per_s
        d["eval_images_per_s"] = self.eval_images_per_s
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        kwargs = {}
        for name in cls.__dataclass_fields__:
            if name not in d:
                continue
            value = d[name]
            if name == "key":
                value = CalibrationKey(**value)
            elif name.endswith(("_step_seconds", "_images_per_s")) and isinstance(value, dict):  # Samples
                value = Samples(tuple(value["values"]))
            elif name.startswith("warmup_") or name == "notes":
                value = tuple(value)
            elif name == "step_cost" and value is not None:
                value = StepCost.from_dict(value)
            kwargs[name] = value
        return cls(**kwargs)
