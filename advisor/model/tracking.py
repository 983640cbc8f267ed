"""What watching a user's own training saw, and what it predicts: records, no torch.

A run is seen as optimizer steps (their times) and passes over DataLoaders (when each began,
how long each batch was waited for, how many optimizer steps happened during it). A pass with
steps is training; one without is validation (or any other evaluation the script does).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LoaderPass:
    """One iteration over a DataLoader, seconds since the run began."""

    loader: int  # which loader (an id stable within the run)
    length: int | None  # batches in a full pass, when the loader has a length
    started_s: float
    ended_s: float | None = None  # None while it runs (or when the script left it early)
    batches: int = 0
    wait_s: float = 0.0  # time spent inside next(): waiting for the batch
    steps: int = 0  # optimizer steps taken during the pass

    @property
    def training(self) -> bool:
        return self.steps > 0


@dataclass(frozen=True)
class Observation:
    """Everything measured so far of a running training."""

    now_s: float  # seconds since the run began
    step_s: tuple[float, ...]  # when each optimizer step ended, seconds since the run began
    passes: tuple[LoaderPass, ...]
    loader_lengths: dict[int, int] = field(default_factory=dict)  # every loader made, by id
    loader_batch_sizes: dict[int, int] = field(default_factory=dict)  # their batch, where they batch
    batch_wait_s: tuple[tuple[float, float], ...] = ()  # (when, seconds waited) of training batches
    forward_s: tuple[float, ...] = ()  # host time of the model's forward, training steps
    batch_size: int | None = None
    input_shape: tuple[int, ...] | None = None
    model: str | None = None  # the top module's class
    parameters: int | None = None
    device: str | None = None
    precision: str = "fp32"  # amp-bf16 / amp-fp16 when the forward ran under autocast
    step_frozen: tuple[bool, ...] = ()  # per step: trained with a frozen body (fastai); empty: none
    train_batches_per_epoch: int | None = None  # a training loop's own count, where it has one


@dataclass(frozen=True)
class RunPrediction:
    """The whole run's wall time on this machine, predicted from an Observation."""

    predicted_seconds: float
    seconds_low: float
    seconds_high: float
    elapsed_seconds: float  # of it, already behind at the prediction
    total_steps: int
    steps_done: int
    steps_per_epoch: int | None
    epochs: float | None
    step_seconds: float  # steady state: a training step including its wait for data
    data_wait_share: float  # of a training step, waiting for the loader
    epoch_start_seconds: float  # each training pass's start beyond a step (workers starting)
    validation_seconds_per_epoch: float
    validation_measured: bool  # a whole validation pass was seen (else estimated)
    validation_batches: int = 0  # a validation pass's batches (seen, or the other loader's length)
    validation_batch_size: int | None = None  # its loader's batch, where known
    batch_size: int | None = None
    input_shape: tuple[int, ...] | None = None
    model: str | None = None
    parameters: int | None = None
    device: str | None = None
    precision: str = "fp32"
    basis: tuple[str, ...] = ()  # what was assumed, in words
    measured_seconds: float | None = None  # the whole run, once it ended

    @property
    def error(self) -> float | None:
        """(predicted - measured) / measured, once measured."""
        if not self.measured_seconds:
            return None
        return (self.predicted_seconds - self.measured_seconds) / self.measured_seconds

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["input_shape"] = list(self.input_shape) if self.input_shape else None
        d["basis"] = list(self.basis)
        d["error"] = self.error
        return d
