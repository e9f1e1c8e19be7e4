"""The `archive` sink: normalized documents as gzip'd NDJSON in a Hive-partitioned layout.

    <prefix>/normalized/source=<source_type>/dt=YYYY-MM-DD/hour=HH/<name>.ndjson.gz

Each line is the ECS document with its deterministic id under `_id`. Objects are
*segments*: the records of one input (provenance.location) whose byte offset falls into
one `segment_bytes` range, and whose @timestamp falls into one hour. The name is derived
from the location and the segment number, so reprocessing the same S3 object (a
redelivered SQS message, a replay) rewrites the same keys with the same content — the
archive never holds a document twice.

A segment stays open in memory (compressed) while records arrive; `flush()` (called by
the pipeline on idle and periodically) writes every segment that has new records as a
whole object — a superset of what an earlier flush wrote — and only then completes those
records' acks. A segment is closed when the next segment of the same input starts, when
it sat idle between two flushes, or when too many are open; if records for a closed
segment arrive again, its object is read back and merged by `_id`.

Offsets are only byte offsets for object/file inputs (`s3://`, paths). For stream and
network inputs segments roll over by size under a per-run name, since those inputs
cannot be re-read in the same shape anyway.
"""

from __future__ import annotations

import gzip
import logging
import os
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .. import metrics
from ..archive_layout import ArchiveStore, normalized_key, partition_of, segment_name
from ..errors import ConfigError
from ..plugin import Context, Sink
from ..record import ID_FIELD, Record, content_id
from ..registry import register

__all__ = ["ArchiveOptions", "ArchiveSink"]

log = logging.getLogger("shippers.sinks.archive")


@dataclass
class ArchiveOptions:
    url: str = field(metadata={"doc": "s3://bucket/prefix or a local directory (same layout)"})
    endpoint_url: str = field(default="", metadata={"doc": "S3-compatible endpoint override"})
    region: str = field(default="", metadata={"doc": "AWS region of the archive bucket"})
    segment_bytes: int = field(
        default=64 << 20,
        metadata={"doc": "input bytes (decompressed offsets) per normalized object"},
    )
    flush_bytes: int = field(
        default=16 << 20, metadata={"doc": "unwritten NDJSON bytes that force a write"}
    )
    max_open_segments: int = field(
        default=16, metadata={"doc": "segments kept in memory before the oldest is closed"}
    )
    compress_level: int = field(default=6, metadata={"doc": "gzip level 1-9"})

    def validate(self, path: str) -> None:
        try:
            from ..archive_layout import split_url

            split_url(self.url)
        except ValueError as e:
            raise ConfigError(f"{path}.url", str(e), self.url) from None
        if self.segment_bytes < 1024:
            raise ConfigError(f"{path}.segment_bytes", "must be >= 1024", self.segment_bytes)
        if self.max_open_segments < 1:
            raise ConfigError(f"{path}.max_open_segments", "must be >= 1", self.max_open_segments)
        if not 1 <= self.compress_level <= 9:
            raise ConfigError(f"{path}.compress_level", "must be 1..9", self.compress_level)


class _Segment:
    """One normalized object being built: compressed bytes so far + records not yet durable."""

    __slots__ = (
        "_z",
        "chunks",
        "dirty",
        "ids",
        "key",
        "pending",
        "raw_bytes",
        "touched",
        "written",
    )

    def __init__(self, key: str, level: int):
        self.key = key
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip container, mtime 0
        self.chunks: list[bytes] = []
        self.pending: list[Record] = []
        self.raw_bytes = 0
        self.dirty = False
        self.written = False
        self.touched = True
        # ids in the object: a redelivered unit (SQS redelivery, replay, a duplicate in a
        # merged object) must neither add a second copy nor wait forever for its ack.
        self.ids: set[str] = set()

    def add(self, line: bytes, record: Record | None, doc_id: str | None = None) -> None:
        if record is not None:
            if record.doc_id in self.ids:
                # Already in the object (or in its next write): ack with the next write,
                # which is a superset of what is durable now.
                self.pending.append(record)
                self.dirty = True
                self.touched = True
                return
            self.ids.add(record.doc_id)
        elif doc_id is not None:
            self.ids.add(doc_id)
        out = self._z.compress(line)
        if out:
            self.chunks.append(out)
        self.raw_bytes += len(line)
        if record is not None:
            self.pending.append(record)
        self.dirty = True
        self.touched = True

    def snapshot(self) -> bytes:
        """A complete gzip object of everything added so far (the stream stays open)."""
        return b"".join(self.chunks) + self._z.copy().flush()


def _is_object_location(loc: str) -> bool:
    """Byte offsets of object/file inputs are stable across reprocessing; streams are not."""
    return loc.startswith(("s3://", "file://", "/")) or "://" not in loc


@register("sink", "archive")
class ArchiveSink(Sink):
    """Writes normalized documents to the archive; acks records once their object is durable."""

    Options = ArchiveOptions
    name = "archive"

    def __init__(self, options: ArchiveOptions, ctx: Context, *, store: ArchiveStore | None = None):
        super().__init__(options, ctx)
        self.store = store or ArchiveStore(
            options.url, endpoint_url=options.endpoint_url, region=options.region
        )
        self._lock = threading.RLock()
        self._segments: dict[str, _Segment] = {}
        self._current: dict[tuple[str, str, str, str], tuple[int, str]] = {}  # group → (idx, key)
        self._rolling: dict[str, tuple[int, int]] = {}  # stream location → (seq, bytes)
        self._closed: set[str] = set()  # keys written and dropped from memory in this run
        self._unwritten = 0
        self._run = content_id(str(os.getpid()), str(time.time_ns()))[:8]

    # -- routing -----------------------------------------------------------------------------
    def _segment_key(self, r: Record, dt: str, hour: str, nbytes: int) -> str:
        loc = r.provenance.location
        if r.provenance.offset is not None and _is_object_location(loc):
            idx = r.provenance.offset // self.options.segment_bytes
            name = segment_name(loc, idx)
        else:
            seq, size = self._rolling.get(loc, (0, 0))
            if size >= self.options.segment_bytes:
                seq, size = seq + 1, 0
            self._rolling[loc] = (seq, size + nbytes)
            idx = seq
            name = f"{content_id(loc)}-{self._run}-{seq:06d}.ndjson.gz"
        key = normalized_key(self.store.prefix, r.source_type, dt, hour, name)
        group = (r.source_type, dt, hour, loc)
        cur = self._current.get(group)
        if cur is None or cur[0] != idx:
            if cur is not None and cur[0] < idx:
                self._close(cur[1])  # the input moved on: the earlier segment is complete
            self._current[group] = (idx, key)
        return key

    def _open(self, key: str) -> _Segment:
        seg = _Segment(key, self.options.compress_level)
        if key in self._closed:
            # Records for a segment we already wrote and dropped: start from its object so
            # the rewrite is a superset, and skip records it already holds.
            try:
                existing = gzip.decompress(self.store.get_bytes(key))
            except Exception:
                log.exception("cannot read back %s; rewriting it from new records only", key)
                existing = b""
            for line in existing.splitlines(keepends=True):
                if line.strip():
                    seg.add(line, None, orjson.loads(line).get(ID_FIELD, ""))
            seg.dirty = False
            self._closed.discard(key)
        self._segments[key] = seg
        return seg

    # -- Sink API ----------------------------------------------------------------------------
    def write(self, records: Iterable[Record]) -> None:
        with self._lock:
            for r in records:
                line = orjson.dumps({ID_FIELD: r.doc_id, **r.doc}) + b"\n"
                dt, hour = partition_of(r.doc)
                key = self._segment_key(r, dt, hour, len(line))
                seg = self._segments.get(key) or self._open(key)
                seg.add(line, r)
                self._unwritten += len(line)
            if self._unwritten >= self.options.flush_bytes:
                self._write_dirty()
            while len(self._segments) > self.options.max_open_segments:
                oldest = next(iter(self._segments))  # dicts keep insertion order
                self._close(oldest)

    def flush(self) -> None:
        """Write every segment with new records; close those idle since the last flush."""
        with self._lock:
            self._write_dirty()
            for key, seg in list(self._segments.items()):
                if not seg.touched:
                    self._close(key)
                else:
                    seg.touched = False

    def close(self) -> None:
        with self._lock:
            for key in list(self._segments):
                self._close(key)

    # -- writing -----------------------------------------------------------------------------
    def _write_dirty(self) -> None:
        for seg in list(self._segments.values()):
            if seg.dirty:
                self._write(seg)
        self._unwritten = 0

    def _close(self, key: str) -> None:
        seg = self._segments.pop(key, None)
        if seg is None:
            return
        if seg.dirty:
            self._write(seg)
        if seg.written:
            self._closed.add(key)
        for group, (_, k) in list(self._current.items()):
            if k == key:
                del self._current[group]

    def _write(self, seg: _Segment) -> None:
        """Write the segment as one object; complete its pending records' acks."""
        pending, seg.pending = seg.pending, []
        try:
            self.store.put_bytes(seg.key, seg.snapshot())
        except Exception as e:
            log.error("archive write of %s failed: %s", seg.key, e)
            # The segment's bytes are no longer trustworthy as a base for a superset: drop
            # it. Its records fail, so their unit is retried and rewrites the segment.
            self._segments.pop(seg.key, None)
            if seg.written:
                self._closed.add(seg.key)
            for r in pending:
                r.done(failed=True)
            return
        seg.dirty = False
        seg.written = True
        counts: dict[str, int] = {}
        for r in pending:
            counts[r.provenance.source] = counts.get(r.provenance.source, 0) + 1
            r.done()
        for source, n in counts.items():
            metrics.EVENTS_DELIVERED.labels(source=source, sink="archive").inc(n)

    def ready(self) -> bool:
        return True

    def describe(self) -> dict[str, Any]:
        return {"url": self.options.url, "open_segments": len(self._segments)}
