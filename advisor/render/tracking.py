"""The prediction of a watched run, and at its end, predicted against measured."""

from __future__ import annotations

import json
import textwrap

from advisor.model.tracking import RunPrediction
from advisor.model.units import hms
from advisor.render.text import WIDTH


def prediction_text(p: RunPrediction) -> str:
    what = ", ".join(x for x in (
        p.model and (f"{p.model}" + (f" ({p.parameters / 1e6:.1f} M parameters)" if p.parameters else "")),
        p.batch_size and f"batch {p.batch_size}",
        p.input_shape and "x".join(map(str, p.input_shape)),
        p.device,
    ) if x)
    epochs = f"{p.epochs:g} epochs of {p.steps_per_epoch} steps" if p.epochs and p.steps_per_epoch \
        else f"{p.total_steps} steps"
    steps_s = p.step_seconds * (p.total_steps - p.steps_done)
    lines = [
        f"advisor: this run should take {hms(p.predicted_seconds)} ({hms(p.seconds_low)}-{hms(p.seconds_high)}) "
        f"on this machine: {epochs}",
        f"  seen: {p.steps_done} steps in {hms(p.elapsed_seconds)}" + (f" ({what})" if what else ""),
        f"  a step: {1000 * p.step_seconds:.0f} ms, {100 * p.data_wait_share:.0f} % of it waiting for data; "
        f"remaining steps {hms(steps_s)}",
        f"  validation: {p.validation_seconds_per_epoch:.1f} s an epoch"
        + ("" if p.validation_measured else " (estimated)")
        + (f"; each epoch's loader start {p.epoch_start_seconds:.1f} s" if p.epoch_start_seconds >= 0.05 else ""),
    ]
    lines += [textwrap.fill(b, WIDTH, initial_indent="  ", subsequent_indent="    ") for b in p.basis
              if "estimated" in b]
    return "\n".join(lines)


WATCH_TOP = 5


def answer_text(prediction: RunPrediction, advice=None, cloud_problem: str | None = None) -> str:
    """The prediction, then the best options elsewhere (the `recommend` table, first rows)."""
    from advisor.render.recommend import recommend_table

    text = prediction_text(prediction)
    if advice is not None:
        table = recommend_table(advice.to_dict(), top=WATCH_TOP)
        text += "\n\n" + "\n".join(table.splitlines()[2:])  # the workload line is above already
    elif cloud_problem:
        text += f"\n  {cloud_problem}"
    return text


def finish_text(p: RunPrediction) -> str:
    err = p.error
    return (f"advisor: the run took {hms(p.measured_seconds)}; predicted {hms(p.predicted_seconds)} "
            f"after {hms(p.elapsed_seconds)} ({100 * err:+.1f} %)")


def report_json(p: RunPrediction | None, seen: dict, advice=None, workload: dict | None = None) -> str:
    """`--report`: the prediction's fields, the workload it inferred, what was seen, the measured
    time once known, and the options elsewhere (`options`, `recommendation`, as `recommend`'s JSON)."""
    d = p.to_dict() if p is not None else {"predicted_seconds": None}
    extra = {}
    if advice is not None:
        payload = advice.to_dict()
        extra = {"workload": payload["workload"], "options": payload["options"],
                 "recommendation": payload["recommendation"], "warnings": payload["warnings"]}
    return json.dumps({**d, **extra, "seen": seen}, indent=2)
