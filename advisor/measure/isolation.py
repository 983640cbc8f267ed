"""Run a measurement in a fresh Python interpreter, as a user's training script runs.

Why: a process keeps state from what it ran before. glibc's malloc raises its mmap threshold as
large blocks are freed, so a process that has already trained a bigger model trains the next one
faster than a fresh `python train.py` would (docs/method.md). Calibrations and measured training
runs therefore each
get a new interpreter, started with `python -c` (a multiprocessing child is not used: its
DataLoader workers ran several times slower than a script's).

The child reads one JSON request on stdin and writes JSON lines on stdout: progress lines while
it works, then one result or error line. It runs in its own session, so a Ctrl-C at the terminal
reaches the parent only, which passes exactly one SIGINT on; the child's own handlers (training
stops at the end of the last complete epoch) then decide what comes back.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from advisor.errors import RuntimeFailure, UsageError

Progress = Callable[[str, float], None]

_CHILD = "from advisor.measure.isolation import _child_main; _child_main()"


def run_in_fresh_process(target: str, kwargs: dict[str, Any], progress: Progress | None = None,
                         timeout_s: float | None = None) -> Any:
    """Call `module:function(**kwargs, progress=...)` in a new interpreter; return its JSON result.

    Whatever the child passes to `progress(*args)` reaches the parent's `progress(*args)`, and
    `progress.expect(seconds_left)` the parent's where it has that method.

    The function's errors come back as the same kind: a UsageError stays a UsageError (exit 2),
    anything else is a RuntimeFailure naming the child's last words. A child still running after
    `timeout_s` is killed, with whatever it started, and TimeoutError raised.
    """
    request = json.dumps({"target": target, "kwargs": kwargs})
    with tempfile.TemporaryFile(mode="w+") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=stderr, text=True,
                                start_new_session=True)
        proc.stdin.write(request)
        proc.stdin.close()
        killed = threading.Event()
        timer = threading.Timer(timeout_s, _kill_group, (proc, killed)) if timeout_s is not None else None
        if timer:
            timer.daemon = True
            timer.start()
        outcome: dict = {}
        interrupted = False
        while True:
            try:
                for line in proc.stdout:
                    message = _parse(line)
                    if "progress" in message and progress:
                        progress(*message["progress"])
                    elif "expect" in message and hasattr(progress, "expect"):
                        progress.expect(message["expect"])
                    elif "result" in message or "error" in message:
                        outcome = message
                break
            except KeyboardInterrupt:
                if interrupted:  # a second Ctrl-C: stop waiting
                    proc.kill()
                    raise
                interrupted = True
                proc.send_signal(signal.SIGINT)
        proc.wait()
        if timer:
            timer.cancel()
        stderr.seek(0)
        stderr_text = stderr.read()
    if killed.is_set() and not outcome:
        raise TimeoutError(f"the measurement process was stopped after {timeout_s:.0f} s")
    if "result" in outcome:
        return outcome["result"]
    error = outcome.get("error")
    if error and error["kind"] == "usage":
        raise UsageError(error["message"])
    if error and error["kind"] == "interrupted":
        raise KeyboardInterrupt
    if error:
        raise RuntimeFailure(error["message"])
    last = (stderr_text.strip().splitlines() or [f"exit status {proc.returncode}, no output"])[-1]
    raise RuntimeFailure(f"the measurement process ended without a result: {last}")


def _kill_group(proc: subprocess.Popen, killed: threading.Event) -> None:
    """Kill the child and what it started (DataLoader workers): its own session's group."""
    killed.set()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _parse(line: str) -> dict:
    try:
        message = json.loads(line)
    except json.JSONDecodeError:
        return {}  # a library printing to stdout is not ours to interpret
    return message if isinstance(message, dict) else {}


def _emit(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class _Report:
    """The child's progress callback: each call, and each revised expectation of how long is
    left (see calibrate._expect), becomes a line for the parent."""

    def __call__(self, *args) -> None:
        _emit({"progress": list(args)})

    def expect(self, seconds_left: float) -> None:
        _emit({"expect": seconds_left})


def _child_main() -> None:
    import traceback

    # The parent forwards Ctrl-C as SIGINT. A process started in the background by a shell
    # without job control inherits SIGINT ignored, and Python then installs no handler: restore it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    request = json.loads(sys.stdin.read())
    module_name, _, function_name = request["target"].partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    try:
        result = function(**request["kwargs"], progress=_Report())
    except UsageError as exc:
        _emit({"error": {"kind": "usage", "message": str(exc)}})
        sys.exit(2)
    except KeyboardInterrupt:
        _emit({"error": {"kind": "interrupted", "message": "interrupted"}})
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 -- reported to the parent, traceback on stderr
        traceback.print_exc()
        first_line = (str(exc) or type(exc).__name__).strip().splitlines()[0]
        _emit({"error": {"kind": "runtime", "message": first_line}})
        sys.exit(1)
    _emit({"result": result})
