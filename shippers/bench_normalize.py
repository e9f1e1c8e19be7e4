"""Normalize throughput against the unavoidable floor, measured in the same run.

The input is the shared corpus (`../shared/corpus/elastic`) when present, else the bundled
demo data, repeated to `events` lines. Everything runs on one core in this process; each
figure is the best of `repeat` runs, so a noisy neighbour hurts both sides alike.
"""

from __future__ import annotations

import gzip
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from .normalizers import get_normalizer

__all__ = ["run_normalize_bench"]

_REPO = Path(__file__).resolve().parent.parent
_CORPUS = _REPO.parent / "shared" / "corpus" / "elastic"
_DEMO = Path(__file__).resolve().parent / "data" / "demo"


def _sample_lines(kind: str) -> list[bytes]:
    """Real lines of one family: corpus files when available, else the bundled demo files."""
    if kind == "falcon":
        globs = [(_CORPUS / "crowdstrike-fdr", "*.log"), (_DEMO, "*fdr*")]
    else:
        globs = [(_CORPUS / "panw-panos", "*.log"), (_DEMO, "*panos*")]
    lines: list[bytes] = []
    for folder, pattern in globs:
        for f in sorted(folder.glob(pattern)) if folder.exists() else []:
            data = f.read_bytes()
            if f.suffix == ".gz":
                data = gzip.decompress(data)
            lines.extend(ln for ln in data.splitlines() if ln.strip())
        if lines:
            break
    if not lines:
        raise RuntimeError(f"no sample {kind} lines found under {_CORPUS} or {_DEMO}")
    return lines


def _repeat_to(lines: list[bytes], n: int) -> bytes:
    out = (lines * (n // len(lines) + 1))[:n]
    return b"\n".join(out) + b"\n"


def _best(fn: Callable[[], int], repeat: int) -> float:
    """Best events/s over `repeat` runs of fn (which returns the number of events)."""
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()
        dt = time.perf_counter() - t0
        best = max(best, n / dt)
    return best


def _fdr(events: int, repeat: int, native: bool = True) -> dict[str, Any]:
    """FDR figures; native=False measures the pure-Python mapping even where it is built."""
    from .normalizers import falcon

    gz = gzip.compress(_repeat_to(_sample_lines("falcon"), events), compresslevel=6)
    normalizer = get_normalizer("falcon")
    saved = falcon._native
    if not native:
        falcon._native = None
    loads, dumps = orjson.loads, orjson.dumps

    def floor() -> int:
        n = 0
        for line in gzip.GzipFile(fileobj=io.BytesIO(gz)):
            dumps(loads(line))
            n += 1
        return n

    def ours() -> int:
        n = 0
        normalize = normalizer.normalize
        for line in gzip.GzipFile(fileobj=io.BytesIO(gz)):
            doc, _id = normalize(line.rstrip(b"\n"))
            dumps(doc)
            n += 1
        return n

    try:
        out: dict[str, Any] = _figures(_best(ours, repeat), _best(floor, repeat))
    finally:
        falcon._native = saved
    out["native"] = falcon._native is not None and native
    return out


def _panos(events: int, repeat: int) -> dict[str, float]:
    from .normalizers.csvsplit import split_csv
    from .syslog_header import HEADER_RE

    data = _repeat_to(_sample_lines("panos"), events)
    lines = data.splitlines()
    normalizer = get_normalizer("panos")
    dumps = orjson.dumps
    match = HEADER_RE.match

    def floor() -> int:
        n = 0
        for raw in lines:
            text = raw.decode("utf-8", "replace")
            m = match(text)
            payload = text[m.end() :] if m else text
            dumps(split_csv(payload))
            n += 1
        return n

    def ours() -> int:
        n = 0
        normalize = normalizer.normalize
        for raw in lines:
            doc, _id = normalize(raw)
            dumps(doc)
            n += 1
        return n

    return _figures(_best(ours, repeat), _best(floor, repeat))


def _figures(ours: float, floor: float) -> dict[str, float]:
    return {
        "events_per_s": round(ours),
        "floor_events_per_s": round(floor),
        "ratio": round(ours / floor, 3),
    }


def run_normalize_bench(events: int = 200_000, repeat: int = 3) -> dict[str, Any]:
    """{"falcon_fdr": {...}, "falcon_fdr_python": {...}, "panos": {...}}: events/s, floor
    events/s and their ratio."""
    import os

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as specified
    return {
        # With the compiled mapping when it is built ("native": true), as users run it ...
        "falcon_fdr": _fdr(events, repeat),
        # ... and the pure-Python mapping, the reference and the fallback, for comparison.
        "falcon_fdr_python": _fdr(events, repeat, native=False),
        "panos": _panos(events, repeat),
        "targets": {"falcon_fdr": 0.45, "panos": 0.35},
    }
