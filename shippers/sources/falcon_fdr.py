"""The `falcon-fdr` source: Falcon Data Replicator objects announced on SQS, read from S3.

Per SQS message (long-polled in batches by `workers` threads):

1. Past `max_receive_count` receives → dead-letter (body + last error) and delete.
2. Parse the body (FDR message, S3 event notification, SNS-wrapped; `fdr_messages`).
   Anything else → dead-letter with the reason, delete only after that write succeeded.
3. For each object, lookup files first: HEAD (size/ETag checks), copy to the raw archive
   (server-side copy when possible, else a streamed upload), then stream it —
   StreamingBody → gzip (with an expansion limit against gzip bombs) → lines. Lookup
   files (aidmaster, managedassets, notmanaged, userinfo) load the enrichment table;
   event files are emitted as `RawBatch(format="falcon")` with `enrich` set.
4. One `Ack` per message, sealed after the last batch. When it settles successfully the
   message is deleted; when it fails the message becomes visible again after
   `retry_visibility_s` (or is given up on its last allowed receive); a shutdown returns
   it at once (visibility 0). `sqs_keepalive` extends the visibility meanwhile.

With `list_url` set the source reads no queue: it lists objects (the raw archive, or the
CrowdStrike bucket) and processes each as one unit — `shippers replay` uses this mode.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from .. import metrics
from ..archive_layout import ArchiveStore, parse_raw_key, raw_key, s3_client, split_url
from ..enrichment import LookupTable
from ..errors import ConfigError
from ..lines import DEFAULT_MAX_LINE_BYTES, OversizedLine, iter_lines, open_maybe_gzip
from ..plugin import Context, Emit, RawBatch, Source
from ..record import Ack, DeadLetter, Provenance
from ..registry import register
from .fdr_messages import MessageError, ObjectRef, parse_message
from .sqs_keepalive import InFlight, VisibilityKeeper

__all__ = ["ExpansionLimitExceeded", "FalconFdrOptions", "FalconFdrSource"]

log = logging.getLogger("shippers.sources.falcon_fdr")

SOURCE_ID = "falcon-fdr"
_READ_BUFFER = 1 << 20


@dataclass
class FalconFdrOptions:
    queue_url: str = field(default="", metadata={"doc": "SQS queue URL (required unless list_url)"})
    region: str = field(default="", metadata={"doc": "AWS region; empty = boto3 default chain"})
    endpoint_url: str = field(
        default="", metadata={"doc": "endpoint override for SQS and S3 (S3-compatible stores)"}
    )
    sqs_endpoint_url: str = field(default="", metadata={"doc": "SQS endpoint (over endpoint_url)"})
    s3_endpoint_url: str = field(default="", metadata={"doc": "S3 endpoint (over endpoint_url)"})
    workers: int = field(default=2, metadata={"doc": "threads receiving and processing messages"})
    max_messages: int = field(default=10, metadata={"doc": "messages per ReceiveMessage (1-10)"})
    wait_time_s: int = field(default=20, metadata={"doc": "long-polling wait (0-20 s)"})
    visibility_timeout_s: int = field(
        default=300, metadata={"doc": "visibility timeout; extended at half of it while working"}
    )
    max_receive_count: int = field(
        default=5, metadata={"doc": "receives after which a failing message is given up"}
    )
    retry_visibility_s: int = field(
        default=30, metadata={"doc": "delay before a failed message is retried"}
    )
    batch_lines: int = field(default=1000, metadata={"doc": "lines per emitted batch"})
    max_line_bytes: int = field(
        default=DEFAULT_MAX_LINE_BYTES, metadata={"doc": "longer lines are dead-lettered"}
    )
    max_expansion_ratio: float = field(
        default=200.0, metadata={"doc": "gzip bomb guard: decompressed/compressed ratio limit"}
    )
    max_uncompressed_bytes: int = field(
        default=64 << 30, metadata={"doc": "gzip bomb guard: decompressed bytes per object"}
    )
    verify_checksum: bool = field(
        default=True, metadata={"doc": "check size/checksum from the message"}
    )
    archive_url: str = field(
        default="", metadata={"doc": "raw archive s3://bucket/prefix or directory; empty = none"}
    )
    archive_endpoint_url: str = field(default="", metadata={"doc": "endpoint of the archive store"})
    archive_region: str = field(default="", metadata={"doc": "region of the archive bucket"})
    lookup_db: str = field(
        default="fdr-lookup.sqlite", metadata={"doc": "enrichment table, relative to state_dir"}
    )
    list_url: str = field(
        default="", metadata={"doc": "replay mode: list objects here instead of reading SQS"}
    )
    list_prefix: str = field(default="", metadata={"doc": "replay mode: key prefix under list_url"})
    list_since: str = field(default="", metadata={"doc": "replay mode: ISO time, inclusive"})
    list_until: str = field(default="", metadata={"doc": "replay mode: ISO time, exclusive"})

    def validate(self, path: str) -> None:
        if not self.queue_url and not self.list_url:
            raise ConfigError(
                f"{path}.queue_url", "required (or list_url for replay)", has_value=False
            )
        checks = [
            ("workers", self.workers >= 1, ">= 1"),
            ("max_messages", 1 <= self.max_messages <= 10, "1..10"),
            ("wait_time_s", 0 <= self.wait_time_s <= 20, "0..20"),
            ("visibility_timeout_s", 1 <= self.visibility_timeout_s <= 43200, "1..43200"),
            ("max_receive_count", self.max_receive_count >= 1, ">= 1"),
            ("retry_visibility_s", 0 <= self.retry_visibility_s <= 43200, "0..43200"),
            ("batch_lines", self.batch_lines >= 1, ">= 1"),
            ("max_expansion_ratio", self.max_expansion_ratio > 1, "> 1"),
            ("max_uncompressed_bytes", self.max_uncompressed_bytes > 0, "> 0"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise ConfigError(f"{path}.{name}", f"must be {rule}", getattr(self, name))
        for name in ("archive_url", "list_url"):
            if getattr(self, name):
                try:
                    split_url(getattr(self, name))
                except ValueError as e:
                    raise ConfigError(f"{path}.{name}", str(e), getattr(self, name)) from None
        for name in ("list_since", "list_until"):
            if getattr(self, name):
                try:
                    parse_time(getattr(self, name))
                except ValueError:
                    raise ConfigError(
                        f"{path}.{name}", "expected an ISO date/time", getattr(self, name)
                    ) from None


def parse_time(text: str) -> datetime:
    """ISO date or date-time ('2025-04-01', '2025-04-01T11', '…Z'); naive means UTC."""
    t = text.strip().replace("Z", "+00:00")
    if len(t) == 13 and t[10] == "T":  # '2025-04-01T11': an hour, as in the archive layout
        t += ":00"
    dt = datetime.fromisoformat(t)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


# -- errors ---------------------------------------------------------------------------------
class ObjectFailed(Exception):
    """An object could not be read completely; the message is retried."""


class ExpansionLimitExceeded(Exception):
    """The object decompresses beyond the configured limits: refused as a gzip bomb."""


class _Stopped(Exception):
    """Shutdown was requested while a message was being processed."""


# -- streaming readers ----------------------------------------------------------------------
class _BodyReader(io.RawIOBase):
    """Raw-IO view of a boto3 StreamingBody (or file) counting bytes and hashing them."""

    def __init__(self, body: Any, hasher: Any = None):
        self.body = body
        self.hasher = hasher
        self.n = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.body.read(len(b))
        n = len(data)
        b[:n] = data
        self.n += n
        if self.hasher is not None:
            self.hasher.update(data)
        metrics.S3_BYTES_READ.inc(n)
        return n


class _ExpansionGuard(io.RawIOBase):
    """Raw-IO over a gzip stream that refuses to inflate beyond the configured limits."""

    def __init__(self, inner: IO[bytes], counted: _BodyReader, ratio: float, absolute: int):
        self.inner = inner
        self.counted = counted
        self.ratio = ratio
        self.absolute = absolute
        self.n = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.inner.readinto(b)  # type: ignore[attr-defined]
        self.n += n
        # 1 MiB slack: the first blocks of any stream inflate before much input is counted.
        if self.n > self.absolute or self.n > self.ratio * self.counted.n + (1 << 20):
            raise ExpansionLimitExceeded(
                f"gzip expansion limit exceeded: {self.n} bytes from {self.counted.n} compressed "
                f"(limits: ratio {self.ratio:g}, {self.absolute} bytes)"
            )
        return int(n)


@dataclass(slots=True)
class _Head:
    size: int
    etag: str
    last_modified: datetime


# -- the source -----------------------------------------------------------------------------
@register("source", "falcon-fdr")
class FalconFdrSource(Source):
    """SQS-announced FDR objects (or, in replay mode, listed objects) → `falcon` batches."""

    Options = FalconFdrOptions
    name = SOURCE_ID

    def __init__(self, options: FalconFdrOptions, ctx: Context):
        super().__init__(options, ctx)
        o = options
        self.s3 = s3_client(
            o.s3_endpoint_url or o.endpoint_url, o.region, pool=max(10, o.workers * 2)
        )
        self.sqs: Any = None
        if o.queue_url and not o.list_url:
            import boto3
            from botocore.config import Config

            self.sqs = boto3.client(
                "sqs",
                endpoint_url=(o.sqs_endpoint_url or o.endpoint_url) or None,
                region_name=o.region or None,
                # The read timeout must outlast the long poll.
                config=Config(
                    read_timeout=o.wait_time_s + 30,
                    max_pool_connections=o.workers * 2 + 4,
                    retries={"max_attempts": 5, "mode": "standard"},
                ),
            )
        self.archive: ArchiveStore | None = None
        if o.archive_url:
            self.archive = ArchiveStore(
                o.archive_url, endpoint_url=o.archive_endpoint_url, region=o.archive_region
            )
        self.lookups = LookupTable(Path(ctx.state_dir) / o.lookup_db)
        self.keeper: VisibilityKeeper | None = None
        self._lock = threading.Lock()
        self.failed_units: list[tuple[str, str]] = []  # replay mode: (unit, error)
        self.units_done = 0

    # -- run loop ----------------------------------------------------------------------------
    def run(self, emit: Emit, *, once: bool = False) -> None:
        if self.options.list_url:
            self._run_listing(emit)
            return
        self.keeper = VisibilityKeeper(
            self.sqs, self.options.queue_url, self.options.visibility_timeout_s
        )
        threads = [
            threading.Thread(target=self._worker, args=(emit, once), name=f"fdr-{i}", daemon=True)
            for i in range(self.options.workers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.2)
                if self.ctx.stop.is_set():
                    # A worker may sit in a long poll; it returns what it receives after
                    # stop by itself, so shutdown need not wait for the poll to end.
                    t.join(timeout=1.0)
                    break

    def _worker(self, emit: Emit, once: bool) -> None:
        o = self.options
        while not self.ctx.stop.is_set():
            try:
                resp = self.sqs.receive_message(
                    QueueUrl=o.queue_url,
                    MaxNumberOfMessages=o.max_messages,
                    WaitTimeSeconds=o.wait_time_s,
                    VisibilityTimeout=o.visibility_timeout_s,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                )
            except Exception as e:
                log.error("SQS receive failed: %s", e)
                if once:
                    return
                self.ctx.stop.wait(5)
                continue
            messages = resp.get("Messages", [])
            if not messages:
                if once:
                    return
                continue
            metrics.SQS_MESSAGES.labels(outcome="received").inc(len(messages))
            inflight = [
                InFlight(
                    m["MessageId"],
                    m["ReceiptHandle"],
                    m.get("Body", ""),
                    int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
                )
                for m in messages
            ]
            assert self.keeper is not None
            for msg in inflight:
                self.keeper.add(msg)
            for msg in inflight:
                if self.ctx.stop.is_set():
                    self._settle(msg, failed=True)  # tracked → returned (visibility 0)
                    continue
                self._handle(msg, emit)

    # -- one message -------------------------------------------------------------------------
    def _handle(self, msg: InFlight, emit: Emit) -> None:
        o = self.options
        if msg.receive_count > o.max_receive_count:
            msg.error = (
                f"received {msg.receive_count} times (max_receive_count {o.max_receive_count}); "
                "an earlier attempt never finished (crash or timeout)"
            )
            self._give_up(msg)
            return
        try:
            note = parse_message(msg.body)
        except MessageError as e:
            msg.error = e.reason
            self._give_up(msg, reason=f"invalid SQS message: {e.reason}")
            return
        ack = Ack(name=msg.message_id, on_complete=lambda failed: self._settle(msg, failed))
        try:
            for ref in note.objects:
                self._process_object(ref, ack, emit, msg.body)
        except _Stopped:
            msg.stopped = True
            msg.error = "shutdown"
            ack.add()
            ack.done(failed=True)
        except Exception as e:
            msg.error = str(e)
            log.warning(
                "message %s failed (receive %d/%d): %s",
                msg.message_id,
                msg.receive_count,
                o.max_receive_count,
                e,
            )
            ack.add()
            ack.done(failed=True)
        finally:
            ack.seal()

    def _settle(self, msg: InFlight, failed: bool) -> None:
        """The message's outcome is known: delete, give up, or hand it back."""
        assert self.keeper is not None
        if not self.keeper.remove(msg):
            return  # already returned by close()
        if not failed:
            self._delete(msg)
        elif msg.stopped or self.ctx.stop.is_set():
            self.keeper.change_visibility([msg], 0)
            metrics.SQS_MESSAGES.labels(outcome="returned").inc()
        elif msg.receive_count >= self.options.max_receive_count:
            msg.error = msg.error or "delivery to a sink failed"
            self._give_up(msg, tracked=False)
        else:
            self.keeper.change_visibility([msg], self.options.retry_visibility_s)
            metrics.SQS_MESSAGES.labels(outcome="returned").inc()

    def _give_up(self, msg: InFlight, reason: str | None = None, *, tracked: bool = True) -> None:
        """Dead-letter the message body with its error, then delete it (only if that worked)."""
        if tracked and self.keeper is not None:
            self.keeper.remove(msg)
        reason = reason or f"gave up on SQS message after {msg.receive_count} receives: {msg.error}"
        letter = DeadLetter(
            reason,
            msg.body.encode(),
            Provenance(SOURCE_ID, f"{self.options.queue_url}#{msg.message_id}"),
            stage="source",
            detail={
                "message_id": msg.message_id,
                "receive_count": msg.receive_count,
                "error": msg.error,
            },
        )
        try:
            self.ctx.dead_letter.write(letter)
        except Exception:
            log.exception("dead-letter write failed; message %s stays on the queue", msg.message_id)
            return
        metrics.SQS_MESSAGES.labels(outcome="given_up").inc()
        self._delete(msg)

    def _delete(self, msg: InFlight) -> None:
        try:
            self.sqs.delete_message(
                QueueUrl=self.options.queue_url, ReceiptHandle=msg.receipt_handle
            )
        except Exception as e:
            # It comes back and is processed again: deterministic ids keep that harmless.
            log.warning("delete of message %s failed: %s", msg.message_id, e)
            return
        metrics.SQS_MESSAGES.labels(outcome="deleted").inc()

    # -- one object --------------------------------------------------------------------------
    def _head(self, ref: ObjectRef) -> _Head:
        if not ref.bucket:  # a local file (replay from a directory archive)
            st = Path(ref.key).stat()
            return _Head(st.st_size, "", datetime.fromtimestamp(st.st_mtime, UTC))
        from botocore.exceptions import ClientError

        try:
            h = self.s3.head_object(Bucket=ref.bucket, Key=ref.key)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            raise ObjectFailed(f"{ref.url}: cannot read object ({code or e})") from None
        return _Head(int(h["ContentLength"]), str(h.get("ETag", "")).strip('"'), h["LastModified"])

    def _process_object(
        self, ref: ObjectRef, ack: Ack, emit: Emit, original: str, *, archived: bool = False
    ) -> None:
        if self.ctx.stop.is_set():
            raise _Stopped
        head = self._head(ref)
        if self.options.verify_checksum:
            _verify_head(ref, head)
        location = ref.url if ref.bucket else ref.key
        if self.archive is not None and not archived:
            location = self._archive_raw(ref, head)
        hasher = _hasher(ref) if self.options.verify_checksum and ref.checksum else None
        try:
            if ref.lookup:
                self._load_lookup(ref, location, hasher)
            else:
                self._emit_events(ref, location, ack, emit, hasher)
        except ExpansionLimitExceeded as e:
            # Deterministic: retrying cannot help. The rest of the object is accounted for
            # by this one dead letter (which names the object); the message goes on.
            self.ctx.dead_letter.write(
                DeadLetter(
                    str(e),
                    original.encode(),
                    Provenance(SOURCE_ID, location),
                    stage="source",
                    detail={"bucket": ref.bucket, "key": ref.key},
                )
            )
            return
        if hasher is not None and ref.checksum and hasher.hexdigest() != ref.checksum:
            raise ObjectFailed(
                f"{ref.url}: checksum mismatch ({hasher.hexdigest()} != {ref.checksum})"
            )

    def _open(
        self, ref: ObjectRef, hasher: Any
    ) -> tuple[IO[bytes], _BodyReader, Callable[[], None]]:
        """(decompressed stream, compressed-byte counter, close) for one object."""
        if ref.bucket:
            from botocore.exceptions import ClientError

            try:
                body = self.s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"]
            except ClientError as e:
                code = e.response.get("Error", {}).get("Code", "")
                raise ObjectFailed(f"{ref.url}: cannot read object ({code or e})") from None
        else:
            body = open(ref.key, "rb")  # noqa: SIM115 - closed by the returned callable
        counted = _BodyReader(body, hasher)
        raw = io.BufferedReader(counted, buffer_size=_READ_BUFFER)
        stream = open_maybe_gzip(raw)
        if stream is not raw:  # gzip: guard the expansion, re-buffer for readline
            guard = _ExpansionGuard(
                stream,
                counted,
                self.options.max_expansion_ratio,
                self.options.max_uncompressed_bytes,
            )
            stream = io.BufferedReader(guard, buffer_size=_READ_BUFFER)
        return stream, counted, body.close

    def _lines(self, ref: ObjectRef, hasher: Any) -> Iterator[tuple[int, bytes | OversizedLine]]:
        stream, counted, close = self._open(ref, hasher)
        try:
            yield from iter_lines(stream, self.options.max_line_bytes)
        except (ExpansionLimitExceeded, _Stopped):
            raise
        except Exception as e:  # corrupt gzip, truncated object, connection reset
            raise ObjectFailed(
                f"{ref.url}: read failed at {counted.n} bytes: {type(e).__name__}: {e}"
            ) from None
        finally:
            close()

    def _emit_events(
        self, ref: ObjectRef, location: str, ack: Ack, emit: Emit, hasher: Any
    ) -> None:
        items: list[tuple[Any, Provenance]] = []
        now = time.time()
        for offset, line in self._lines(ref, hasher):
            items.append((line, Provenance(SOURCE_ID, location, offset, now)))
            if len(items) >= self.options.batch_lines:
                emit(RawBatch("falcon", items, ack, self.lookups.enrich))
                items = []
                if self.ctx.stop.is_set():
                    raise _Stopped
                now = time.time()
        if items:
            emit(RawBatch("falcon", items, ack, self.lookups.enrich))

    def _load_lookup(self, ref: ObjectRef, location: str, hasher: Any) -> None:
        kind = ref.lookup
        assert kind is not None
        batch: list[dict[str, Any]] = []
        n = 0
        for offset, line in self._lines(ref, hasher):
            try:
                if isinstance(line, OversizedLine):
                    raise ValueError(f"line too long ({line.length} bytes)")
                rec = orjson.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not a JSON object")
            except ValueError as e:
                raw = line.head if isinstance(line, OversizedLine) else line
                self.ctx.dead_letter.write(
                    DeadLetter(
                        f"{kind} lookup record unreadable: {e}",
                        raw,
                        Provenance(SOURCE_ID, location, offset),
                        stage="source",
                    )
                )
                continue
            batch.append(rec)
            if len(batch) >= 5000:
                n += self.lookups.load(kind, batch)
                batch = []
        if batch:
            n += self.lookups.load(kind, batch)
        log.info("loaded %d %s records from %s", n, kind, ref.url)

    def _archive_raw(self, ref: ObjectRef, head: _Head) -> str:
        """Copy the object into the raw archive (idempotent); returns the archived location."""
        assert self.archive is not None
        key = raw_key(self.archive.prefix, head.last_modified, ref.key)
        location = self.archive.location(key)
        if self.archive.size_of(key) == head.size:
            return location  # a redelivery: already archived
        if ref.bucket and self.archive.is_s3 and self._same_endpoint():
            from botocore.exceptions import ClientError

            try:
                self.archive.server_side_copy(ref.bucket, ref.key, key)
                metrics.S3_BYTES_WRITTEN.inc(head.size)
                return location
            except ClientError as e:  # e.g. the source bucket refuses CopyObject
                log.info("server-side copy of %s refused (%s); streaming it", ref.url, e)
        if ref.bucket:
            body = self.s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"]
        else:
            body = open(ref.key, "rb")  # noqa: SIM115
        try:
            counted = _BodyReader(body)
            self.archive.upload_stream(key, io.BufferedReader(counted, buffer_size=_READ_BUFFER))
        finally:
            body.close()
        return location

    def _same_endpoint(self) -> bool:
        o = self.options
        return (o.archive_endpoint_url or o.s3_endpoint_url or o.endpoint_url) == (
            o.s3_endpoint_url or o.endpoint_url
        )

    # -- replay mode -------------------------------------------------------------------------
    def _run_listing(self, emit: Emit) -> None:
        """Process every listed object as one unit, lookup files first."""
        o = self.options
        store = ArchiveStore(
            o.list_url,
            endpoint_url=o.s3_endpoint_url or o.endpoint_url,
            region=o.region,
            client=None if split_url(o.list_url)[0] is None else self.s3,
        )
        since = parse_time(o.list_since) if o.list_since else None
        until = parse_time(o.list_until) if o.list_until else None
        refs: list[tuple[ObjectRef, bool]] = []
        for info in store.list(o.list_prefix):
            name = info.key.rsplit("/", 1)[-1]
            if info.size == 0 or name.startswith(("_", ".")):
                continue  # _SUCCESS markers, temp files
            parsed = parse_raw_key(info.key)
            when = parsed[0] if parsed else info.last_modified
            if (since and when < since) or (until and when >= until):
                continue
            if store.local_root is not None:
                ref = ObjectRef("", str(store.local_root / info.key))
            else:
                ref = ObjectRef(str(store.bucket), info.key)
            # Objects of our raw archive are already archived: read them where they are.
            refs.append((ref, parsed is not None))
        refs.sort(key=lambda r: 0 if r[0].lookup else 1)
        log.info("replaying %d objects from %s", len(refs), o.list_url)
        for ref, archived in refs:
            if self.ctx.stop.is_set():
                break
            unit = ref.url if ref.bucket else ref.key
            errors: list[str] = []
            ack = Ack(name=unit, on_complete=self._unit_callback(unit, errors))
            try:
                self._process_object(ref, ack, emit, unit, archived=archived)
            except _Stopped:
                errors.append("stopped")
                ack.add()
                ack.done(failed=True)
            except Exception as e:
                errors.append(str(e))
                ack.add()
                ack.done(failed=True)
            finally:
                ack.seal()

    def _unit_callback(self, unit: str, errors: list[str]) -> Callable[[bool], None]:
        return lambda failed: self._unit_done(unit, failed, errors)

    def _unit_done(self, unit: str, failed: bool, errors: list[str]) -> None:
        with self._lock:
            self.units_done += 1
            if failed:
                self.failed_units.append((unit, "; ".join(errors) or "delivery failed"))

    # -- shutdown ----------------------------------------------------------------------------
    def close(self) -> None:
        """Hand every unsettled message back to the queue at once (visibility 0)."""
        if self.keeper is not None:
            self.keeper.stop()
            self.keeper.return_all()
        self.lookups.close()


def _hasher(ref: ObjectRef) -> Any:
    assert ref.checksum
    return hashlib.md5(usedforsecurity=False) if len(ref.checksum) == 32 else hashlib.sha256()


def _verify_head(ref: ObjectRef, head: _Head) -> None:
    """Cheap checks before reading: size, and the ETag when it is a plain MD5."""
    if ref.size is not None and ref.size != head.size:
        raise ObjectFailed(f"{ref.url}: size {head.size} but the message says {ref.size}")
    etag = head.etag
    plain_md5 = len(etag) == 32 and "-" not in etag  # multipart ETags are not an MD5
    if ref.checksum and len(ref.checksum) == 32 and plain_md5 and etag.lower() != ref.checksum:
        raise ObjectFailed(f"{ref.url}: ETag {etag} does not match checksum {ref.checksum}")
