"""Predicted against measured, as `advisor validate` prints it."""

from __future__ import annotations

from advisor.model.run import Validation


def validation_table(v: Validation) -> str:
    from advisor.model.units import hms
    from advisor.render.text import table

    e, r = v.estimate, v.run
    rows = [
        ["training time", hms(e.seconds), hms(r.seconds), f"{100 * v.error:+.1f} %"],
        ["band", f"{hms(e.seconds_low)}-{hms(e.seconds_high)}", "inside" if v.inside_band else "OUTSIDE", ""],
        ["train images/s", f"{e.train_images_per_s:.1f}", f"{r.train_images_per_s:.1f}",
         f"{100 * (e.train_images_per_s / r.train_images_per_s - 1):+.1f} %" if r.train_images_per_s else ""],
        ["seconds", f"{e.seconds:.1f}", f"{r.seconds:.1f}", ""],
    ]
    text = table(rows, ["", "predicted", "measured", "error"], "lrrr")
    if r.interrupted:
        text += (f"\nInterrupted after {r.epochs_completed} epoch(s): compared with the prediction "
                 "for the epochs that completed.")
    return text
