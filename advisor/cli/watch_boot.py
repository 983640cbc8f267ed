"""The process `advisor watch` runs: the user's script, with a TrackSession installed.

    python -m advisor.cli.watch_boot train.py ARGS...     (options in $ADVISOR_WATCH, JSON)

It prints the prediction once (stderr), keeps the script running unless only the prediction
was asked for, and at the end prints predicted against measured and writes the report. The
script's exit status is passed through; its own traceback is printed as Python would, without
advisor's frames.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import traceback
from pathlib import Path

from advisor.model.units import hms

ENV = "ADVISOR_WATCH"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _write_report(path: str | None, prediction, session) -> None:
    if not path:
        return
    from advisor.render.tracking import report_json
    from advisor.store import write_atomically

    seen = session.seen
    info = {"steps": len(seen.step_s), "seconds": seen.now_s, "model": seen.model, "parameters": seen.parameters,
            "batch_size": seen.batch_size, "input_shape": list(seen.input_shape) if seen.input_shape else None,
            "training_batches_per_epoch": next((p.length for p in seen.passes if p.training), None),
            "why_no_prediction": session.why_not}
    write_atomically(Path(path), report_json(session.result or prediction, info, session.advice))


def _user_traceback(exc: BaseException, script: str) -> None:
    """The exception as Python prints it, from the user's script's first frame on."""
    tb = exc.__traceback__
    while tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve() != Path(script).resolve():
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb or exc.__traceback__)


def main(argv: list[str]) -> int:
    from advisor.app.tracking import DEFAULT_BUDGET_S, CalibrationDone, TrackSession
    from advisor.render.tracking import answer_text, finish_text

    options = json.loads(os.environ.pop(ENV, "{}"))
    budget_s = options.get("budget_s", DEFAULT_BUDGET_S)
    script, args = argv[0], argv[1:]
    session = TrackSession(epochs=options.get("epochs"), total_steps=options.get("total_steps"),
                           budget_s=budget_s, calibrate_only=options.get("calibrate_only", False),
                           cloud=options.get("cloud", True), providers=options.get("providers", ()),
                           catalog_files=tuple(options.get("catalog_files", ())),
                           on_prediction=lambda s: _say(answer_text(s.prediction, s.advice, s.cloud_problem)))
    sys.argv = [script, *args]
    sys.path.insert(0, str(Path(script).resolve().parent))
    session.start()
    code, failure = 0, None
    try:
        runpy.run_path(script, run_name="__main__")
    except CalibrationDone:
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int) and exc.code is not None:
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:
        code, failure = 130, "stopped (Ctrl-C)"
    except BaseException as exc:  # the user's script failed: its traceback, then what was seen
        _user_traceback(exc, script)
        code, failure = 1, f"the script failed ({type(exc).__name__})"
    prediction = session.prediction
    result = session.stop()
    seen = session.seen
    if session.calibrate_only and prediction is not None:
        _say(f"advisor: stopped the script after calibrating ({hms(seen.now_s)}), as asked (--calibrate-only)")
    elif session.result is not None and failure is None:
        _say(finish_text(session.result))
    elif prediction is None:
        _say(_nothing_predicted(session, seen, failure, budget_s))
    elif failure:
        _say(f"advisor: {failure} after {hms(seen.now_s)} and {len(seen.step_s)} steps; "
             f"the prediction was {hms(prediction.predicted_seconds)}")
    _write_report(options.get("report"), result, session)
    return code


def _nothing_predicted(session, seen, failure, budget_s) -> str:
    steps = len(seen.step_s)
    head = f"advisor: {failure}" if failure else "advisor: the script ended"
    if steps == 0:
        empty = [lid for lid, n in seen.loader_lengths.items() if n == 0]
        why = " A DataLoader had no batches (length 0): is the dataset empty?" if empty else ""
        return (f"{head} after {hms(seen.now_s)} without stepping an optimizer: no training step was seen "
                f"(advisor watches torch.optim optimizers' step()).{why}")
    if session.why_not and seen.now_s >= budget_s:
        return f"{head} after {hms(seen.now_s)} and {steps} steps; no prediction: {session.why_not}."
    return (f"{head} after {hms(seen.now_s)} and {steps} steps, before the {budget_s:g}-s calibration window "
            "ended: the measured time is the answer (a shorter --budget-s predicts sooner).")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
