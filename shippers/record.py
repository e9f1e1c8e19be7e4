"""The one record type that travels between stages, and the ack bookkeeping.

A `Record` is an ECS document plus where it came from (`Provenance`) and an `Ack` that the
sinks complete. A source groups the records of one unit it must acknowledge upstream (an
SQS message, a file, a stream offset range) under one `Ack`; the unit is acknowledged only
when every record has an outcome in every sink — delivered or dead-lettered.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ID_FIELD",
    "Ack",
    "DeadLetter",
    "Provenance",
    "Record",
    "content_id",
    "doc_field",
]

# Serialized documents outside Elasticsearch (normalize output, NDJSON archive, GELF) carry
# their deterministic document id under this key; the Elasticsearch sink moves it into the
# bulk action's `_id` (a `_id` inside `_source` is refused by Elasticsearch).
ID_FIELD = "_id"


def doc_field(doc: dict[str, Any], path: str) -> Any:
    """The value at a dotted ECS path ("source.ip") of a nested document, or None."""
    cur: Any = doc
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def content_id(*parts: str | bytes) -> str:
    """A short stable id from the given parts (used when a source has no event id of its own)."""
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\x1f")
    return h.hexdigest()


@dataclass(slots=True)
class Provenance:
    """Where a record came from: enough to find the original bytes again."""

    source: str  # source id, e.g. "falcon-fdr", "panos-syslog"
    location: str  # s3://bucket/key, a file path, tcp://peer:port, a stream URL
    offset: int | None = None  # byte offset of the line in the decompressed input, or stream offset
    received_at: float = field(default_factory=time.time)
    peer: str | None = None  # network peer address for syslog

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "location": self.location,
            "offset": self.offset,
            "received_at": self.received_at,
            "peer": self.peer,
        }


class Ack:
    """Counts outstanding outcomes of one acknowledgeable unit.

    The source calls `add()` for every outcome it expects (the pipeline adds one per sink),
    then `seal()` when it has produced everything. `on_complete(failed)` runs once, when the
    unit is sealed and every outcome arrived. `failed` is True when any outcome was a
    failure that must not be acknowledged upstream (e.g. shutdown before delivery).
    """

    __slots__ = ("_failed", "_lock", "_pending", "_sealed", "_settled", "name", "on_complete")

    def __init__(self, name: str = "", on_complete: Callable[[bool], None] | None = None):
        self.name = name
        self.on_complete = on_complete
        self._pending = 0
        self._sealed = False
        self._settled = False
        self._failed = False
        self._lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        with self._lock:
            self._pending += n

    def done(self, n: int = 1, *, failed: bool = False) -> None:
        with self._lock:
            self._pending -= n
            self._failed |= failed
        self._maybe_settle()

    def seal(self) -> None:
        with self._lock:
            self._sealed = True
        self._maybe_settle()

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def settled(self) -> bool:
        return self._settled

    def _maybe_settle(self) -> None:
        with self._lock:
            if self._settled or not self._sealed or self._pending > 0:
                return
            self._settled = True
            failed = self._failed
        if self.on_complete is not None:
            self.on_complete(failed)


@dataclass(slots=True)
class Record:
    """An ECS document with its deterministic id, provenance and ack handle."""

    doc: dict[str, Any]
    doc_id: str
    provenance: Provenance
    ack: Ack | None = None
    source_type: str = ""  # "falcon" or "panos": routes to index / stream / archive partition
    raw: bytes | None = None  # the original line, kept for the raw archive / --keep-original

    def done(self, *, failed: bool = False) -> None:
        if self.ack is not None:
            self.ack.done(failed=failed)


@dataclass(slots=True)
class DeadLetter:
    """An input that could not be normalized or delivered: reason plus the original bytes."""

    reason: str
    original: bytes
    provenance: Provenance
    stage: str = "normalize"  # normalize | deliver | source
    detail: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        try:
            text: str | None = self.original.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        out: dict[str, Any] = {
            "reason": self.reason,
            "stage": self.stage,
            "provenance": self.provenance.as_dict(),
            "offset": self.provenance.offset,
        }
        if text is not None:
            out["original"] = text
        else:
            import base64

            out["original_b64"] = base64.b64encode(self.original).decode()
        if self.detail:
            out["detail"] = self.detail
        return out
