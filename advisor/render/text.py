"""Plain text and markdown tables, and names shortened to fit them."""

from __future__ import annotations

import io

WIDTH = 100  # columns the tables are made to fit


def table(rows: list[list[str]], headers: list[str], align: str | None = None) -> str:
    """A plain aligned text table; `align` has one 'l' or 'r' per column. A header with a line
    break takes two rows, so that columns can be named in words and stay narrow."""
    align = align or "l" * len(headers)
    header_rows = max(h.count("\n") + 1 for h in headers)
    split = [(h.split("\n") + [""] * header_rows)[:header_rows] for h in headers]
    widths = [max([len(x) for x in parts] + [len(str(r[i])) for r in rows]) for i, parts in enumerate(split)]

    def line(cells):
        out = []
        for cell, w, a in zip(cells, widths, align):
            out.append(str(cell).rjust(w) if a == "r" else str(cell).ljust(w))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    heads = [line([parts[k] for parts in split]) for k in range(header_rows)]
    return "\n".join([*heads, sep, *(line(r) for r in rows)])


def markdown_table(rows: list[list], headers: list[str]) -> str:
    """A GitHub-flavoured markdown table."""
    def cell(v):
        return f"{v:g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def frame_csv(rows: list[dict]) -> str:
    import pandas as pd

    buf = io.StringIO()
    # object columns keep whole numbers whole where some rows have none (vCPUs not published)
    pd.DataFrame(rows, dtype=object).to_csv(buf, index=False)
    return buf.getvalue()


def short_gpu(name: str) -> str:
    count, sep, rest = name.partition("x ")
    if sep and count.isdigit():
        return f"{count}x {short_gpu(rest)}"
    name = name.replace(" Blackwell", "").removesuffix(" Server Edition")
    for prefix in ("NVIDIA GeForce ", "NVIDIA ", "Tesla ", "Quadro "):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name
