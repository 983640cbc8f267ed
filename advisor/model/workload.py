"""What the user wants to train, and how many images each phase of training sees.

Pure: no torch import. The definitions here are the project's definition of training time:
from the first training step to the end of the last validation pass. Each epoch trains on
round(N x (1 - f)) images (the last partial batch counts), then validates on the rest, in batches
of the training batch size unless the validation loader has its own. `frozen_epochs` come first
and train only the classifier head.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from advisor.errors import UsageError
from advisor.model.precision import check_precision

DEFAULT_MODEL = "resnet34"
DEFAULT_NUM_CLASSES = 37  # Oxford-IIIT Pet breeds
MAX_DATASET_SIZE = 10**10  # beyond any public image dataset; larger is a typo
MAX_EPOCHS = 100_000
MIN_IMAGE_SIZE = 8
MAX_IMAGE_SIZE = 4096


@dataclass(frozen=True)
class Workload:
    """A training job: a CNN, its inputs, and how long it trains."""

    model: str = DEFAULT_MODEL
    num_classes: int = DEFAULT_NUM_CLASSES
    image_size: int = 224
    batch_size: int = 64
    precision: str = "fp32"
    dataset_size: int = 7390
    valid_fraction: float = 0.2
    epochs: int = 4
    frozen_epochs: int = 0
    data_dir: str | None = None  # a torchvision ImageFolder; None means synthetic tensors
    workers: int = 0
    # model and inputs in torch.channels_last (NHWC): what cuDNN's 16-bit tensor-core
    # convolutions work in; PyTorch's default is NCHW
    channels_last: bool = False
    # the validation loader's batch, where it is not the training one (often twice it: a forward
    # pass without gradients holds less); None: the training batch
    valid_batch_size: int | None = None

    def __post_init__(self) -> None:
        validate_workload(self)

    # -- images and steps ---------------------------------------------------------------------
    @property
    def train_images(self) -> int:
        return round(self.dataset_size * (1 - self.valid_fraction))

    @property
    def valid_images(self) -> int:
        return self.dataset_size - self.train_images

    @property
    def train_steps_per_epoch(self) -> int:
        return math.ceil(self.train_images / self.batch_size)

    @property
    def eval_batch_size(self) -> int:
        """The batch a validation pass runs at."""
        return self.valid_batch_size or self.batch_size

    def eval_step_workload(self) -> Workload:
        """The workload whose step is a validation step of this one: at the validation batch."""
        return replace(self, batch_size=self.eval_batch_size, valid_batch_size=None)

    @property
    def valid_steps_per_epoch(self) -> int:
        return math.ceil(self.valid_images / self.eval_batch_size)

    @property
    def data_source(self) -> str:
        return "imagefolder" if self.data_dir else "synthetic"

    def with_(self, **changes) -> Workload:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(train_images=self.train_images, valid_images=self.valid_images,
                 eval_batch_size=self.eval_batch_size, data_source=self.data_source)
        return d


def validate_workload(w: Workload) -> None:
    """Raise UsageError naming the first bad field, what is valid, and how to fix it."""
    if isinstance(w.dataset_size, bool) or not isinstance(w.dataset_size, int):
        raise UsageError(f"dataset size {w.dataset_size!r} is not a whole number of images.")
    if w.dataset_size <= 0:
        raise UsageError(f"dataset size {w.dataset_size} must be a positive number of images.")
    if w.dataset_size > MAX_DATASET_SIZE:
        raise UsageError(
            f"dataset size {w.dataset_size} is beyond {MAX_DATASET_SIZE:.0e} images; "
            "check for extra digits."
        )
    if not isinstance(w.epochs, int) or w.epochs < 0 or w.epochs > MAX_EPOCHS:
        raise UsageError(f"epochs {w.epochs!r} must be a whole number from 0 to {MAX_EPOCHS}.")
    if not isinstance(w.frozen_epochs, int) or w.frozen_epochs < 0 or w.frozen_epochs > MAX_EPOCHS:
        raise UsageError(
            f"frozen epochs {w.frozen_epochs!r} must be a whole number from 0 to {MAX_EPOCHS}."
        )
    if w.epochs + w.frozen_epochs == 0:
        raise UsageError("epochs and frozen epochs are both 0: there is no training to estimate.")
    if not (0 <= w.valid_fraction < 1) or math.isnan(w.valid_fraction):
        raise UsageError(
            f"valid fraction {w.valid_fraction!r} must be in [0, 1), e.g. 0.2 for fastai's split."
        )
    if w.train_images < 1:
        raise UsageError(
            f"dataset size {w.dataset_size} with valid fraction {w.valid_fraction} leaves no "
            "training images; use a larger dataset or a smaller fraction."
        )
    if not isinstance(w.batch_size, int) or w.batch_size <= 0:
        raise UsageError(f"batch size {w.batch_size!r} must be a positive whole number.")
    if w.valid_batch_size is not None and (isinstance(w.valid_batch_size, bool)
                                           or not isinstance(w.valid_batch_size, int) or w.valid_batch_size <= 0):
        raise UsageError(f"validation batch size {w.valid_batch_size!r} must be a positive whole number "
                         "(or left out: the training batch size).")
    if not isinstance(w.image_size, int) or not MIN_IMAGE_SIZE <= w.image_size <= MAX_IMAGE_SIZE:
        raise UsageError(
            f"image size {w.image_size!r} must be a whole number of pixels from "
            f"{MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}."
        )
    if not isinstance(w.num_classes, int) or w.num_classes < 2:
        raise UsageError(f"number of classes {w.num_classes!r} must be at least 2.")
    if not isinstance(w.workers, int) or w.workers < 0:
        raise UsageError(f"workers {w.workers!r} must be 0 (load in the main process) or more.")
    if not isinstance(w.channels_last, bool):
        raise UsageError(f"channels_last {w.channels_last!r} must be true or false.")
    check_precision(w.precision)
    if not w.model or not isinstance(w.model, str):
        raise UsageError("model name is empty; give a torchvision model name such as resnet34.")
