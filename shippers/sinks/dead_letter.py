"""The dead-letter sink: every input we could not normalize or deliver, with the reason.

One JSON object per line: reason, stage, provenance (where it came from, line offset) and
the original bytes (as text, or base64 when not UTF-8). Writes are flushed before `write`
returns, because callers acknowledge upstream (delete an SQS message, commit an offset)
right after a successful dead-letter write.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import IO

import orjson

from .. import metrics
from ..record import DeadLetter

__all__ = ["DeadLetterSink"]


class DeadLetterSink:
    """Appends dead letters to a local NDJSON file (or stderr when no path is given)."""

    def __init__(self, path: str | Path | None = None, *, stream: IO[bytes] | None = None):
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._own = False
        if stream is not None:
            self._out: IO[bytes] = stream
        elif self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = open(self.path, "ab")  # noqa: SIM115 - lives as long as the sink
            self._own = True
        else:
            self._out = sys.stderr.buffer
        self.count = 0

    def write(self, letter: DeadLetter, *, sink: str = "") -> None:
        line = orjson.dumps(letter.as_dict()) + b"\n"
        with self._lock:
            self._out.write(line)
            self._out.flush()
            self.count += 1
        metrics.EVENTS_DEAD_LETTERED.labels(
            source=letter.provenance.source,
            sink=sink or letter.stage,
            reason=_reason_key(letter.reason),
        ).inc()

    def close(self) -> None:
        with self._lock:
            if self._own:
                self._out.close()


def _reason_key(reason: str) -> str:
    """A low-cardinality label from a free-text reason: the text before the first colon."""
    return reason.split(":", 1)[0][:60]
