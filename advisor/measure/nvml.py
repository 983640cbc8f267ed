"""The one entry point to NVML.

Every query goes through `nvml_query(name, *args, default=NA)`: NVML is initialised lazily once,
bytes are decoded, and a missing library, driver, function or GPU becomes `default` (N/A) instead
of an exception. The pynvml module is injectable so tests run fake GPU scenarios without a GPU.
"""

from __future__ import annotations

import threading
from typing import Any


class _NotAvailable:
    """N/A: a hardware fact that could not be read. Falsy, prints as N/A, serialises to None."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "N/A"


NA: Any = _NotAvailable()

_lock = threading.Lock()
_state: dict[str, Any] = {"module": None, "initialised": False, "error": None}


def use_module(module) -> None:
    """Replace pynvml (tests pass a fake); resets initialisation."""
    with _lock:
        _state.update(module=module, initialised=False, error=None)


def _module():
    if _state["module"] is None:
        try:
            import pynvml  # provided by nvidia-ml-py
        except ImportError as exc:  # pragma: no cover - nvidia-ml-py is a dependency
            _state["error"] = f"pynvml is not installed ({exc})"
            return None
        _state["module"] = pynvml
    return _state["module"]


def init() -> bool:
    """Initialise NVML once; False (with `last_error()`) when there is no usable driver."""
    with _lock:
        if _state["initialised"]:
            return _state["error"] is None
        _state["initialised"] = True
        module = _module()
        if module is None:
            return False
        try:
            module.nvmlInit()
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
            _state["error"] = f"NVML unavailable: {_describe(exc)}"
            return False
        return True


def last_error() -> str | None:
    return _state["error"]


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.decode() if isinstance(text, bytes) else text


def nvml_query(func_name: str, *args, default: Any = NA) -> Any:
    """Call pynvml.<func_name>(*args); `default` when NVML, the function or the GPU fails."""
    if not init():
        return default
    func = getattr(_module(), func_name, None)
    if func is None:
        return default
    try:
        value = func(*args)
    except Exception:
        return default
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return value
