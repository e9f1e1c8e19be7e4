"""The `ndjson` sink: one ECS document per line (with `_id`) to a local file or stdout.

Writes are flushed before records are acknowledged, so `run --once` followed by a crash
never acknowledges a document that is not on disk.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO

import orjson

from .. import metrics
from ..plugin import Context, Sink
from ..record import ID_FIELD, Record
from ..registry import register

__all__ = ["NdjsonOptions", "NdjsonSink", "serialize"]


def serialize(record: Record) -> bytes:
    """The document as one NDJSON line with its deterministic id under `_id`."""
    return orjson.dumps({ID_FIELD: record.doc_id, **record.doc}) + b"\n"


@dataclass
class NdjsonOptions:
    path: str = field(default="-", metadata={"doc": "output file; '-' = stdout"})
    append: bool = field(default=True, metadata={"doc": "append instead of truncating"})


@register("sink", "ndjson")
@register("sink", "stdout")
class NdjsonSink(Sink):
    Options = NdjsonOptions
    name = "ndjson"

    def __init__(self, options: NdjsonOptions, ctx: Context):
        super().__init__(options, ctx)
        self._lock = threading.Lock()
        if options.path == "-":
            self._out: IO[bytes] = sys.stdout.buffer
            self._own = False
        else:
            self._out = open(options.path, "ab" if options.append else "wb")  # noqa: SIM115
            self._own = True

    def write(self, records: Iterable[Record]) -> None:
        records = list(records)
        if not records:
            return
        data = b"".join(serialize(r) for r in records)
        with self._lock:
            self._out.write(data)
            self._out.flush()
        for r in records:
            metrics.EVENTS_DELIVERED.labels(source=r.provenance.source, sink="ndjson").inc()
            r.done()

    def close(self) -> None:
        with self._lock:
            if self._own and not self._out.closed:
                self._out.close()
