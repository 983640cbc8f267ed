"""Time against cost, one point per option (matplotlib, an optional extra)."""

from __future__ import annotations

from advisor.model.units import hms
from advisor.store import atomic_path


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both time and cost."""
    front = []
    for i, (t, c) in enumerate(points):
        if not any((t2 <= t and c2 <= c) and (t2 < t or c2 < c) for t2, c2 in points):
            front.append(i)
    return front


def plot_options(payload: dict, path: str) -> str:
    """Time against cost, one point per option, the Pareto front labelled; written atomically."""

    from advisor.errors import RuntimeFailure

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeFailure("--plot needs matplotlib: pip install 'advisor[plot]'.") from None
    opts = [o for o in payload["options"] if o["fits_memory"] and (o["cost_usd"] is not None or o["id"] == "local")]
    points = [(o["seconds"], o["cost_usd"] or 0.0) for o in opts]
    front = set(pareto_front(points))
    fig, ax = plt.subplots(figsize=(9, 6))
    for i, (o, (t, c)) in enumerate(zip(opts, points)):
        on_front = i in front
        ax.scatter(t, c, s=40 if on_front else 15, color="tab:red" if on_front else "tab:gray",
                   zorder=3 if on_front else 2)
        if on_front or o["id"] == "local":
            ax.annotate(o["id"], (t, c), textcoords="offset points", xytext=(5, 4), fontsize=8)
    frontier = sorted(points[i] for i in front)
    if len(frontier) > 1:
        ax.plot(*zip(*frontier), color="tab:red", linewidth=1, zorder=1)
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: hms(v)))
    ax.set_yscale("symlog", linthresh=0.01)
    ax.set_ylim(bottom=-0.002)
    ax.set_xlabel("predicted training time (h:mm:ss, log scale)")
    ax.set_ylabel("cost in USD (this machine and free tiers at 0)")
    w = payload["workload"]
    ax.set_title(f"{w['model']}, {w['dataset_size']} images x {w['epochs']} epochs: time against cost")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
    finally:
        plt.close(fig)
    return path
