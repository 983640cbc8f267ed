"""Building the workload's network: torchvision classification models, or `module:callable`.

Model names are checked without building anything heavy (did-you-mean on unknown names), and the
smallest image size a model accepts is found with forward passes on the meta device, which cost
no memory and no arithmetic.
"""

from __future__ import annotations

import functools
import importlib
import inspect

from advisor.errors import UsageError, did_you_mean


@functools.lru_cache(maxsize=1)
def torchvision_model_names() -> tuple[str, ...]:
    """Classification models of torchvision (no detection, video or quantized ones)."""
    import torchvision

    return tuple(sorted(torchvision.models.list_models(module=torchvision.models)))


def is_custom(name: str) -> bool:
    return ":" in name


def check_model_name(name: str) -> str:
    if is_custom(name):
        _load_callable(name)
        return name
    names = torchvision_model_names()
    if name not in names:
        raise UsageError(
            f"unknown model {name!r}: not a torchvision classification model."
            + (did_you_mean(name, names) or " See `advisor models` for the list.")
            + " A model of your own is given as package.module:callable."
        )
    return name


def _user_error(spec: str, what: str, exc: Exception) -> UsageError:
    """One line naming the user's own model code and what it raised (--debug shows the traceback)."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return UsageError(f"model {spec!r}: {what} raised {type(exc).__name__}" + (f": {message}" if message else "")
                      + "; fix it, or check that it builds an nn.Module.", code="user-code")


def _load_callable(spec: str):
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UsageError(f"model {spec!r}: give a torchvision model name or package.module:callable.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(
            f"model {spec!r}: cannot import module {module_name!r} ({exc}); "
            "give package.module:callable importable from the current environment."
        ) from exc
    except Exception as exc:  # noqa: BLE001 -- the user's module failed while importing
        raise _user_error(spec, f"importing {module_name}", exc) from exc
    target = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise UsageError(f"model {spec!r}: module {module_name!r} has no attribute {attr!r}.")
    if not callable(target):
        raise UsageError(f"model {spec!r}: {attr!r} is not callable; it must return an nn.Module.")
    return target


def build_model(name: str, num_classes: int, image_size: int, device=None):
    """An untrained model with `num_classes` outputs, on `device` (e.g. "meta" to count only)."""
    import torch
    import torchvision

    with torch.device(device or "cpu"):
        if is_custom(name):
            factory = _load_callable(name)
            try:
                params = inspect.signature(factory).parameters
            except (TypeError, ValueError):  # a builtin without a signature
                params = {}
            kwargs = {"num_classes": num_classes} if "num_classes" in params else {}
            try:
                model = factory(**kwargs)
            except Exception as exc:  # noqa: BLE001 -- any failure of the user's factory is reported as such
                call = f"{name.partition(':')[2]}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
                raise _user_error(name, call, exc) from exc
            if not isinstance(model, torch.nn.Module):
                raise UsageError(f"model {name!r} returned {type(model).__name__}, not an nn.Module.",
                                 code="user-code")
            return model
        check_model_name(name)
        kwargs = {"weights": None, "num_classes": num_classes}
        if name.startswith(("vit_",)):
            kwargs["image_size"] = image_size  # ViTs fix their input size at construction
        return torchvision.models.get_model(name, **kwargs)


def classifier_head(model):
    """The last nn.Linear: the part that trains during frozen epochs (fastai's fine_tune)."""
    import torch

    last = None
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            last = module
    return last


def _forward_works(name: str, num_classes: int, image_size: int) -> bool:
    import torch

    model = build_model(name, num_classes, image_size, device="meta")
    try:
        model.eval()
        with torch.no_grad():
            model(torch.empty(1, 3, image_size, image_size, device="meta"))
        return True
    except (RuntimeError, ValueError, AssertionError, IndexError):
        return False
    except Exception as exc:  # noqa: BLE001 -- only the user's own model gets here
        if not is_custom(name):
            raise
        raise _user_error(name, f"a forward pass of {image_size}x{image_size} images", exc) from exc


@functools.lru_cache(maxsize=64)
def check_image_size(name: str, num_classes: int, image_size: int) -> None:
    """Raise UsageError if the model cannot take `image_size`, naming the smallest that works."""
    if _forward_works(name, num_classes, image_size):
        return
    lo, hi = image_size, 1024
    if not _forward_works(name, num_classes, hi):
        raise UsageError(f"model {name!r} does not accept {image_size}x{image_size} images.")
    while hi - lo > 1:  # the smallest working size, by bisection
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _forward_works(name, num_classes, mid) else (mid, hi)
    raise UsageError(
        f"image size {image_size} is too small for {name}; the smallest it accepts is {hi} "
        f"(use --image-size {hi} or larger)."
    )
