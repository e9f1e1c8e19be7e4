"""Durable per-partition stream offsets, advanced only over delivered events.

Two parts:

- A store (`FileCheckpoint`, `S3Checkpoint`) persists `{partition: offset}`. The local
  file is replaced atomically (write a temp file in the same directory, fsync, rename,
  fsync the directory), so a crash leaves either the old or the new checkpoint, never a
  torn one. A checkpoint that exists but cannot be read is an error, not an empty state:
  silently starting over would replay the whole retained backlog.
- `OffsetTracker` turns out-of-order delivery outcomes into a safe watermark. Batches of a
  partition are registered in read order; sinks may settle them in any order. The stored
  offset is the last offset of the longest *prefix* of settled, successful batches — the
  highest offset below which everything was delivered. A failed batch pins the watermark
  (the events after it are never checkpointed past it) until the caller re-reads it.

Stored offsets are the last delivered offset (inclusive). Callers resume at offset + 1.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from .errors import ShipperError

__all__ = [
    "CheckpointError",
    "CheckpointStore",
    "FileCheckpoint",
    "OffsetTracker",
    "S3Checkpoint",
    "open_checkpoint",
]

log = logging.getLogger("shippers.checkpoint")

_VERSION = 1


class CheckpointError(ShipperError):
    """A checkpoint exists but cannot be read or written."""


class CheckpointStore(Protocol):
    """Where offsets live. `load` returns {} when there is no checkpoint yet."""

    location: str

    def load(self) -> dict[str, int]: ...

    def save(self, offsets: Mapping[str, int]) -> None: ...


def _encode(offsets: Mapping[str, int]) -> bytes:
    return orjson.dumps(
        {"version": _VERSION, "offsets": dict(offsets), "updated_at": time.time()},
        option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2,
    )


def _decode(data: bytes, where: str) -> dict[str, int]:
    try:
        body = orjson.loads(data)
        offsets = body["offsets"]
        if not isinstance(offsets, dict):
            raise TypeError("offsets is not an object")
        out = {}
        for k, v in offsets.items():
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"offset of {k!r} is not an integer")
            out[str(k)] = v
        return out
    except (orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(
            f"checkpoint {where} is unreadable ({e}); fix or remove it deliberately — "
            "starting without it would re-read the retained backlog"
        ) from None


class FileCheckpoint:
    """A local JSON file, replaced atomically on every save."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.location = str(self.path)

    def load(self) -> dict[str, int]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise CheckpointError(f"cannot read checkpoint {self.path}: {e}") from None
        return _decode(data, str(self.path))

    def save(self, offsets: Mapping[str, int]) -> None:
        data = _encode(offsets)
        parent = self.path.parent
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        # The rename is durable only once the directory entry is on disk.
        try:
            dfd = os.open(parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)


class S3Checkpoint:
    """An S3 object (`s3://bucket/key`); a PUT replaces it atomically."""

    def __init__(self, url: str, *, client: Any = None, endpoint_url: str = ""):
        if not url.startswith("s3://") or "/" not in url[5:]:
            raise CheckpointError(f"not an s3://bucket/key URL: {url!r}")
        self.bucket, self.key = url[5:].split("/", 1)
        self.location = url
        if client is None:
            import boto3  # lazy: only S3 checkpoints need it

            client = boto3.client("s3", endpoint_url=endpoint_url or None)
        self._s3 = client

    def load(self) -> dict[str, int]:
        try:
            obj = self._s3.get_object(Bucket=self.bucket, Key=self.key)
        except Exception as e:
            code = getattr(e, "response", {}).get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                return {}
            raise CheckpointError(f"cannot read checkpoint {self.location}: {e}") from None
        return _decode(obj["Body"].read(), self.location)

    def save(self, offsets: Mapping[str, int]) -> None:
        self._s3.put_object(
            Bucket=self.bucket, Key=self.key, Body=_encode(offsets), ContentType="application/json"
        )


def open_checkpoint(location: str, *, s3_endpoint_url: str = "") -> CheckpointStore:
    """A store for `location`: `s3://bucket/key` or a local path."""
    if location.startswith("s3://"):
        return S3Checkpoint(location, endpoint_url=s3_endpoint_url)
    return FileCheckpoint(location)


@dataclass(slots=True, eq=False)
class Pending:
    """One emitted batch of a partition awaiting its delivery outcome."""

    partition: str
    last_offset: int | None  # highest event offset in the batch (None: no offsets in it)
    done: bool = False
    failed: bool = False


class OffsetTracker:
    """Contiguous delivered-offset watermark per partition, saved to a `CheckpointStore`.

    `track()` when a batch is emitted (in read order), `settle()` from its ack callback.
    Saves happen on advance, at most every `min_save_interval_s` (0 = every advance; use
    more for S3), and on `flush()`. A failing save is logged and retried on the next
    advance or flush; it never raises into the delivering thread.
    """

    def __init__(
        self,
        store: CheckpointStore,
        *,
        min_save_interval_s: float = 0.0,
        on_saved: Callable[[Mapping[str, int]], None] | None = None,
    ):
        self.store = store
        self.min_save_interval_s = min_save_interval_s
        self.on_saved = on_saved
        self._committed: dict[str, int] = dict(store.load())
        self._pending: dict[str, deque[Pending]] = {}
        self._cond = threading.Condition()
        self._dirty = False
        self._last_save = float("-inf")  # never saved: the first advance saves at once
        self.saves = 0

    def committed(self, partition: str) -> int | None:
        """The last offset of `partition` known delivered (inclusive), or None."""
        with self._cond:
            return self._committed.get(partition)

    def snapshot(self) -> dict[str, int]:
        with self._cond:
            return dict(self._committed)

    def track(self, partition: str, last_offset: int | None) -> Pending:
        """Register an emitted batch; its outcome must later reach `settle`."""
        entry = Pending(partition, last_offset)
        with self._cond:
            self._pending.setdefault(partition, deque()).append(entry)
        return entry

    def settle(self, entry: Pending, failed: bool = False) -> None:
        """Record a batch's outcome and advance the partition's watermark if possible."""
        with self._cond:
            entry.done, entry.failed = True, failed
            q = self._pending.get(entry.partition)
            advanced = False
            while q and q[0].done and not q[0].failed:
                head = q.popleft()
                last = head.last_offset
                if last is not None and last > self._committed.get(head.partition, -1):
                    self._committed[head.partition] = last
                    advanced = True
            if failed:
                log.warning(
                    "checkpoint: a batch of partition %s was not delivered; its offset stays "
                    "at %s until it is re-read",
                    entry.partition,
                    self._committed.get(entry.partition),
                )
            if advanced:
                self._dirty = True
                if time.monotonic() - self._last_save >= self.min_save_interval_s:
                    self._save_locked()
            self._cond.notify_all()

    def in_flight(self, partition: str) -> int:
        """Batches of `partition` not yet settled (or settled as failed)."""
        with self._cond:
            return sum(1 for e in self._pending.get(partition, ()) if not e.done or e.failed)

    def has_failed(self, partition: str) -> bool:
        with self._cond:
            return any(e.failed for e in self._pending.get(partition, ()))

    def wait_settled(
        self, partition: str, timeout: float, cancel: threading.Event | None = None
    ) -> bool:
        """Wait until every batch of `partition` has an outcome; False on timeout/cancel."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while any(not e.done for e in self._pending.get(partition, ())):
                left = deadline - time.monotonic()
                if left <= 0 or (cancel is not None and cancel.is_set()):
                    return False
                self._cond.wait(min(left, 0.5))
            return True

    def forget_failed(self, partition: str) -> None:
        """Drop a partition's settled entries (after a failure) before re-reading them."""
        with self._cond:
            q = self._pending.get(partition)
            if q:
                self._pending[partition] = deque(e for e in q if not e.done)

    def tick(self) -> None:
        """Save if anything advanced and `min_save_interval_s` has passed (call periodically)."""
        with self._cond:
            if self._dirty and time.monotonic() - self._last_save >= self.min_save_interval_s:
                self._save_locked()

    def flush(self) -> None:
        """Save now if anything advanced since the last save."""
        with self._cond:
            if self._dirty:
                self._save_locked()

    def _save_locked(self) -> None:
        offsets = dict(self._committed)
        try:
            self.store.save(offsets)
        except Exception as e:
            log.error("checkpoint: saving %s failed (will retry): %s", self.store.location, e)
            return
        self._dirty = False
        self._last_save = time.monotonic()
        self.saves += 1
        if self.on_saved is not None:
            self.on_saved(offsets)
