"""Rendering hunt timelines and sweep reports: an aligned table, JSON, or NDJSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

import orjson

from .merge import Timeline

__all__ = ["render_rows", "render_timeline"]

_COLUMNS = (
    ("time", "TIME", 24),
    ("source", "SOURCE", 6),
    ("tier", "TIER", 4),
    ("host", "HOST", 18),
    ("user", "USER", 12),
    ("action", "ACTION", 20),
    ("flow", "SRC → DST", 72),
    ("process", "PROCESS/FILE", 60),
)


def _cell(value: Any, width: int) -> str:
    s = "" if value is None else str(value)
    return s if len(s) <= width else s[: width - 1] + "…"


def render_rows(
    rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, int]], out: IO[str]
) -> None:
    """An aligned text table; each column as wide as its widest cell, up to its limit."""
    widths = [
        min(limit, max([len(title)] + [len(str(r.get(key) or "")) for r in rows]))
        for key, title, limit in columns
    ]
    out.write("  ".join(t.ljust(w) for (_, t, _), w in zip(columns, widths, strict=True)).rstrip())
    out.write("\n")
    for r in rows:
        cells = [_cell(r.get(k), w).ljust(w) for (k, _, _), w in zip(columns, widths, strict=True)]
        out.write("  ".join(cells).rstrip() + "\n")


def render_timeline(timeline: Timeline, fmt: str, out: IO[str]) -> None:
    """Print a timeline as `table`, `json` (one object) or `ndjson` (one hit per line)."""
    rows = [h.row() for h in timeline.hits]
    counts = timeline.counts()
    if fmt == "ndjson":
        for h, r in zip(timeline.hits, rows, strict=True):
            out.write(orjson.dumps({**r, "document": h.doc}).decode() + "\n")
        return
    if fmt == "json":
        body = {
            "hits": [{**r, "document": h.doc} for h, r in zip(timeline.hits, rows, strict=True)],
            "counts": counts,
            "errors": timeline.errors,
        }
        out.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    for r in rows:
        r["flow"] = f"{r['src']} → {r['dst']}" if r["src"] or r["dst"] else ""
    if rows:
        render_rows(rows, _COLUMNS, out)
    per_source = ", ".join(f"{k} {v}" for k, v in sorted(counts["source"].items())) or "none"
    per_tier = ", ".join(f"{k} {v}" for k, v in sorted(counts["tier"].items())) or "none"
    out.write(
        f"{len(rows)} hit{'s' if len(rows) != 1 else ''} · sources: {per_source} · "
        f"tiers: {per_tier}\n"
    )
