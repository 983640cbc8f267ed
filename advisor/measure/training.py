"""The training loop whose time advisor predicts, shared by calibration, `validate` and benchmarks.

One definition of a step everywhere: SGD with momentum on cross-entropy, autocast and gradient
scaling as the precision says, `zero_grad(set_to_none=True)`. Data comes from synthetic tensors
made once on the device, or from a torchvision ImageFolder through a DataLoader with the usual
augmentation (RandomResizedCrop + flip for training; resize + centre crop for validation).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator

from advisor.errors import RuntimeFailure, UsageError
from advisor.model.calibration import PREFETCH_FACTOR
from advisor.model.run import TrainingRun
from advisor.model.workload import Workload

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def resolve_device(requested: str) -> str:
    """'auto' -> 'cuda:0' when torch sees a GPU, else 'cpu'; validate explicit requests."""
    import torch

    requested = requested.strip().lower()
    if requested == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if requested == "cpu":
        return "cpu"
    if requested == "cuda" or requested.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError(
                f"--device {requested}: this machine has no CUDA GPU that torch can use "
                f"(torch {torch.__version__}); use --device cpu or --device auto."
            )
        index = 0 if requested == "cuda" else requested.split(":", 1)[1]
        if not str(index).isdigit() or int(index) >= torch.cuda.device_count():
            raise UsageError(
                f"--device {requested}: valid GPU indices are 0..{torch.cuda.device_count() - 1}."
            )
        return f"cuda:{int(index)}"
    raise UsageError(f"--device {requested!r} is not valid; use auto, cpu, cuda or cuda:N.")


def compute_capability(device: str) -> tuple[int, int] | None:
    import torch

    if not device.startswith("cuda"):
        return None
    return tuple(torch.cuda.get_device_capability(device))


class Trainer:
    """A model, its optimizer and the precision context on one device."""

    def __init__(self, workload: Workload, device: str):
        import torch

        from advisor.measure.models import build_model, classifier_head
        from advisor.model.precision import PRECISIONS

        self.torch = torch
        self.workload = workload
        self.device = torch.device(device)
        self.spec = PRECISIONS[workload.precision]
        if self.spec.autocast_dtype and self.device.type == "cpu" and self.spec.grad_scaler:
            pass  # CPU autocast in float16 is supported by torch, slowly; measured as it is
        torch.backends.cudnn.allow_tf32 = self.spec.cudnn_allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = self.spec.matmul_allow_tf32
        torch.backends.cudnn.benchmark = self.device.type == "cuda"
        self.memory_format = torch.channels_last if workload.channels_last else torch.contiguous_format
        self.model = build_model(workload.model, workload.num_classes, workload.image_size).to(
            self.device, memory_format=self.memory_format)
        self.head = classifier_head(self.model)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.spec.grad_scaler)
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def _autocast(self):
        if not self.spec.autocast_dtype:
            return contextlib.nullcontext()
        return self.torch.autocast(self.device.type, dtype=getattr(self.torch, self.spec.autocast_dtype))

    def sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def set_frozen(self, frozen: bool) -> None:
        """Frozen: only the classifier head trains (the body's parameters get no gradients)."""
        for p in self.model.parameters():
            p.requires_grad_(not frozen)
        if frozen and self.head is not None:
            for p in self.head.parameters():
                p.requires_grad_(True)

    def train_step(self, x, y) -> None:
        self.model.train()
        x = x.to(self.device, non_blocking=True, memory_format=self.memory_format)
        y = y.to(self.device, non_blocking=True)
        with self._autocast():
            loss = self.loss_fn(self.model(x), y)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)

    def eval_step(self, x) -> None:
        self.model.eval()
        with self.torch.no_grad(), self._autocast():
            self.model(x.to(self.device, non_blocking=True, memory_format=self.memory_format))


# -- data ---------------------------------------------------------------------------------------

def synthetic_batch(workload: Workload, device: str, batch_size: int | None = None):
    import torch

    b = batch_size or workload.batch_size
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, 3, workload.image_size, workload.image_size, generator=g).to(device)
    y = torch.randint(0, workload.num_classes, (b,), generator=g).to(device)
    return x, y


def synthetic_batches(workload: Workload, device: str, images: int, batch_size: int | None = None) -> Iterator[tuple]:
    """Batches covering `images` images: full batches (of `batch_size`, else the training batch)
    then the last partial one (views, no copies)."""
    b = batch_size or workload.batch_size
    x, y = synthetic_batch(workload, device, b)
    done = 0
    while done < images:
        n = min(b, images - done)
        yield x[:n], y[:n]
        done += n


def check_image_folder(data_dir: str) -> int:
    """Validate an ImageFolder layout (DIR/class/image); return the number of images."""
    if not os.path.exists(data_dir):
        raise UsageError(f"--data {data_dir}: no such directory.")
    if not os.path.isdir(data_dir):
        raise UsageError(f"--data {data_dir}: not a directory; give a folder with one sub-folder per class.")
    classes = [e for e in sorted(os.scandir(data_dir), key=lambda e: e.name) if e.is_dir()]
    if not classes:
        raise UsageError(
            f"--data {data_dir}: not an ImageFolder (no class sub-folders); expected "
            "DIR/<class>/<image>.jpg, one sub-folder per class."
        )
    count = 0
    for c in classes:
        for root, _dirs, files in os.walk(c.path):
            count += sum(f.lower().endswith(IMAGE_EXTENSIONS) for f in files)
    if count == 0:
        raise UsageError(
            f"--data {data_dir}: the class folders hold no images "
            f"({', '.join(IMAGE_EXTENSIONS)})."
        )
    return count


def image_datasets(workload: Workload):
    """(train, valid) datasets of the ImageFolder with their transforms; cycles short folders."""
    import torch
    from torchvision import datasets, transforms

    size = workload.image_size
    normalize = transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    train_tf = transforms.Compose([
        transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), normalize,
    ])
    eval_tf = transforms.Compose([
        transforms.Resize(int(round(size * 1.143))), transforms.CenterCrop(size),
        transforms.ToTensor(), normalize,
    ])
    check_image_folder(workload.data_dir)
    base_train = datasets.ImageFolder(workload.data_dir, transform=train_tf, loader=_checked_loader)
    base_eval = datasets.ImageFolder(workload.data_dir, transform=eval_tf, loader=_checked_loader)
    m = len(base_train)
    order = torch.randperm(m, generator=torch.Generator().manual_seed(0)).tolist()
    # the dataset has workload.dataset_size images; a smaller folder is cycled through
    indices = [order[i % m] for i in range(workload.dataset_size)]
    train_idx = indices[: workload.train_images]
    valid_idx = indices[workload.train_images:]
    return torch.utils.data.Subset(base_train, train_idx), torch.utils.data.Subset(base_eval, valid_idx)


def _checked_loader(path: str):
    from PIL import Image, UnidentifiedImageError

    try:
        with open(path, "rb") as f:
            img = Image.open(f)
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise RuntimeFailure(f"--data: cannot decode image {path}: {exc}; remove or replace it.") from exc


def make_loader(dataset, workload: Workload, device: str, shuffle: bool, batch_size: int | None = None):
    import torch

    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size or workload.batch_size, shuffle=shuffle, num_workers=workload.workers,
        pin_memory=device.startswith("cuda"), drop_last=False,
        prefetch_factor=PREFETCH_FACTOR if workload.workers else None,
    )


ProgressFn = Callable[[int, int, int, int, float], None]  # epoch, epochs, step, steps, elapsed_s


def run_training(workload: Workload, device: str, progress: ProgressFn | None = None,
                 timer: Callable[[], float] = time.perf_counter,
                 prepare: Callable[[Trainer], None] | None = None) -> TrainingRun:
    """Train the workload for real; Ctrl-C ends it early with what was measured so far.

    `prepare` adapts the trainer before the clock starts (DDP wraps its model there)."""
    trainer = Trainer(workload, device)
    if prepare:
        prepare(trainer)
    total_epochs = workload.frozen_epochs + workload.epochs
    if workload.data_dir:
        train_ds, valid_ds = image_datasets(workload)
        train_loader = make_loader(train_ds, workload, device, shuffle=True)
        valid_loader = make_loader(valid_ds, workload, device, shuffle=False, batch_size=workload.eval_batch_size)
        train_batches = lambda: iter(train_loader)  # noqa: E731
        valid_batches = lambda: ((x,) for x, _ in valid_loader)  # noqa: E731
    else:
        train_batches = lambda: synthetic_batches(workload, device, workload.train_images)  # noqa: E731
        valid_batches = lambda: ((x,) for x, _ in synthetic_batches(  # noqa: E731
            workload, device, workload.valid_images, workload.eval_batch_size))
    steps = workload.train_steps_per_epoch + workload.valid_steps_per_epoch
    train_seconds: list[float] = []
    valid_seconds: list[float] = []
    start = timer()
    last_epoch_end = start
    interrupted = False
    try:
        for epoch in range(total_epochs):
            epoch_start = timer()
            trainer.set_frozen(epoch < workload.frozen_epochs)
            step = 0
            for x, y in train_batches():
                trainer.train_step(x, y)
                step += 1
                if progress:
                    progress(epoch, total_epochs, step, steps, timer() - start)
            trainer.sync()
            valid_start = timer()
            for (x,) in valid_batches():
                trainer.eval_step(x)
                step += 1
            trainer.sync()
            last_epoch_end = timer()
            train_seconds.append(valid_start - epoch_start)
            valid_seconds.append(last_epoch_end - valid_start)
            if progress:
                progress(epoch + 1, total_epochs, 0, steps, timer() - start)
    except KeyboardInterrupt:
        interrupted = True
    trainer.sync()
    # an interrupted run counts up to the end of its last complete epoch
    end = last_epoch_end if interrupted else timer()
    return TrainingRun(
        seconds=end - start, train_seconds=tuple(train_seconds[: len(valid_seconds)]),
        valid_seconds=tuple(valid_seconds), train_images=workload.train_images,
        valid_images=workload.valid_images, frozen_epochs=workload.frozen_epochs,
        interrupted=interrupted,
    )


def run_training_in_fresh_process(workload: Workload, device: str,
                                  progress: ProgressFn | None = None) -> TrainingRun:
    """`run_training` in a new interpreter, as a user's own training script runs (see
    advisor.measure.isolation for why a process that has trained before would be faster)."""
    import dataclasses

    from advisor.measure.isolation import run_in_fresh_process

    d = run_in_fresh_process("advisor.measure.training:_train_request",
                             {"workload": dataclasses.asdict(workload), "device": device}, progress)
    return TrainingRun(**{**d, "train_seconds": tuple(d["train_seconds"]),
                          "valid_seconds": tuple(d["valid_seconds"])})


def _train_request(workload: dict, device: str, progress: ProgressFn) -> dict:
    import dataclasses

    return dataclasses.asdict(run_training(Workload(**workload), device, progress))
