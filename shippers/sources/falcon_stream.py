"""The `falcon-stream` source: CrowdStrike Falcon Event Streams, checkpointed per partition.

Flow (see docs/falcon-stream.md and ../shared/reference/falcon-event-streams.md):

1. OAuth2 client credentials → Bearer token (`TokenProvider`, renewed before expiry).
2. Discover: `GET /sensors/entities/datafeed/v2?appId=…&format=json` lists one resource per
   partition: `dataFeedURL`, `sessionToken.token`, `refreshActiveSessionURL`,
   `refreshActiveSessionInterval`. 429 waits `Retry-After`; an empty list (appId busy)
   backs off. Feed and refresh hosts must share the API's registrable domain.
3. One reader thread per partition opens `dataFeedURL&offset=N` with
   `Authorization: Token <session token>` and reads newline-delimited JSON forever. Lines
   are batched (`batch_max_events` / `batch_max_age_s`) into RawBatches of format "falcon".
4. A refresher thread POSTs each partition's `refreshActiveSessionURL` (Bearer) at
   `refresh_fraction` of `refreshActiveSessionInterval` (never sooner than
   `min_refresh_interval_s`), so the session never lapses.
5. Every batch carries an Ack whose completion settles it in the `OffsetTracker`, which
   checkpoints the highest offset below which every event was delivered.

Offsets are inclusive: the checkpoint holds the last delivered offset and a (re)connect
asks for offset + 1. After any drop the reader first emits what it had read, waits for
the in-flight batches to settle and then resumes at the checkpoint + 1 — so a reconnect
neither re-delivers nor skips an event. Only if delivery does not settle within
`settle_timeout_s` does it resume after the last *read* offset instead (again no
duplicate; the checkpoint catches up as the acks arrive).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import orjson
import requests

from .. import metrics
from ..checkpoint import OffsetTracker, Pending, open_checkpoint
from ..errors import ConfigError
from ..lines import DEFAULT_MAX_LINE_BYTES, OversizedLine
from ..plugin import Context, Emit, RawBatch, Source
from ..record import Ack, Provenance, content_id
from ..registry import register
from .falcon_auth import (
    ApiError,
    HostRejected,
    RateLimited,
    TokenProvider,
    api_error_detail,
    check_host,
    resolve_base_url,
    retry_after_seconds,
)

__all__ = ["FalconStreamOptions", "FalconStreamSource", "default_app_id"]

log = logging.getLogger("shippers.sources.falcon_stream")

SOURCE_ID = "falcon-stream"
_APP_ID_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
_READ_SIZE = 64 * 1024
# Ways a connection ends after which the session itself is suspect: discover a new one.
_NEEDS_NEW_SESSION = frozenset({"eof", "session", "http_401", "http_403", "http_404"})


_instances = itertools.count()


def default_app_id() -> str:
    """A fresh appId (≤32 alphanumerics) from hostname, pid and a per-process counter.

    Two running instances — or two sources in one process — never share one; CrowdStrike
    answers a discover for an appId that is still connected with no streams. Offsets do not
    depend on the appId, so a new one on every start costs nothing.
    """
    seed = f"{socket.gethostname()}:{os.getpid()}:{next(_instances)}"
    return "shippers" + hashlib.blake2b(seed.encode(), digest_size=8).hexdigest()


@dataclass
class FalconStreamOptions:
    client_id: str = field(metadata={"doc": "API client id (scope Event Streams: Read)"})
    client_secret: str = field(
        default="",
        repr=False,
        metadata={"doc": "API client secret (prefer client_secret_env)"},
    )
    client_secret_env: str = field(
        default="", metadata={"doc": "environment variable holding the client secret"}
    )
    cloud: Literal["us-1", "us-2", "eu-1", "us-gov-1", "us-gov-2"] = field(
        default="us-1", metadata={"doc": "CrowdStrike cloud (ignored when base_url is set)"}
    )
    base_url: str = field(default="", metadata={"doc": "API base URL, overrides cloud"})
    member_cid: str = field(default="", metadata={"doc": "MSSP child CID for the token"})
    app_id: str = field(
        default="",
        metadata={
            "doc": "appId, ≤32 alphanumerics, unique per running instance; "
            "default: derived from hostname and pid"
        },
    )
    partitions: list[int] = field(
        default_factory=list, metadata={"doc": "partitions to follow; empty = all"}
    )
    checkpoint_path: str = field(
        default="",
        metadata={
            "doc": "offset checkpoint: a file path or s3://bucket/key; "
            "default: <state_dir>/falcon-stream-<hash>.json"
        },
    )
    checkpoint_s3_endpoint_url: str = field(
        default="", metadata={"doc": "S3 endpoint for an s3:// checkpoint (S3-compatible stores)"}
    )
    checkpoint_interval_s: float = field(
        default=0.0,
        metadata={"doc": "minimum seconds between checkpoint writes (0 = on every advance)"},
    )
    initial_offset: int = field(
        default=0,
        metadata={"doc": "offset to start at when there is no checkpoint (0 = server default)"},
    )
    batch_max_events: int = field(default=500, metadata={"doc": "events per batch"})
    batch_max_age_s: float = field(
        default=1.0, metadata={"doc": "a partial batch is handed on after this many seconds"}
    )
    refresh_fraction: float = field(
        default=0.9,
        metadata={"doc": "refresh the session at this fraction of refreshActiveSessionInterval"},
    )
    min_refresh_interval_s: float = field(
        default=15.0, metadata={"doc": "never refresh a session more often than this"}
    )
    token_refresh_fraction: float = field(
        default=0.8, metadata={"doc": "renew the OAuth2 token at this fraction of expires_in"}
    )
    reconnect_initial_s: float = field(default=1.0, metadata={"doc": "first reconnect delay"})
    reconnect_max_s: float = field(default=60.0, metadata={"doc": "reconnect delay cap"})
    retry_after_default_s: float = field(
        default=60.0, metadata={"doc": "wait after a 429 without a Retry-After header"}
    )
    request_timeout_s: float = field(
        default=30.0, metadata={"doc": "timeout of token/discover/refresh calls and connects"}
    )
    stream_idle_timeout_s: float = field(
        default=0.0,
        metadata={"doc": "reconnect when the stream sends nothing for this long (0 = never)"},
    )
    settle_timeout_s: float = field(
        default=30.0,
        metadata={"doc": "before a reconnect, wait this long for in-flight events to deliver"},
    )
    allow_hosts: list[str] = field(
        default_factory=list,
        metadata={"doc": "extra trusted feed/refresh hosts ('.example.com' = domain suffix)"},
    )
    verify_tls: bool = field(default=True, metadata={"doc": "verify server certificates"})
    ca_file: str = field(default="", metadata={"doc": "CA bundle for the API and stream hosts"})
    max_event_bytes: int = field(
        default=DEFAULT_MAX_LINE_BYTES, metadata={"doc": "longer events are dead-lettered"}
    )
    once_idle_s: float = field(
        default=5.0, metadata={"doc": "with --once: stop after the stream is idle this long"}
    )

    def secret(self) -> str:
        """The client secret, from the option or the named environment variable."""
        if self.client_secret:
            return self.client_secret
        return os.environ.get(self.client_secret_env, "") if self.client_secret_env else ""

    def validate(self, path: str) -> None:
        p = f"{path}." if path else ""
        if not self.client_id:
            raise ConfigError(f"{p}client_id", "must not be empty", self.client_id)
        if not self.client_secret and not self.client_secret_env:
            raise ConfigError(
                f"{p}client_secret", "set client_secret or client_secret_env", has_value=False
            )
        resolve_base_url(self.cloud, self.base_url, f"{p}cloud")
        if self.app_id and not _APP_ID_RE.match(self.app_id):
            raise ConfigError(f"{p}app_id", "must be 1-32 letters or digits", self.app_id)
        for name in ("batch_max_events", "max_event_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{p}{name}", "must be >= 1", getattr(self, name))
        for name in ("refresh_fraction", "token_refresh_fraction"):
            v = getattr(self, name)
            if not 0.0 < v < 1.0:
                raise ConfigError(f"{p}{name}", "must be between 0 and 1 (exclusive)", v)
        if self.initial_offset < 0:
            raise ConfigError(f"{p}initial_offset", "must be >= 0", self.initial_offset)
        if self.reconnect_initial_s <= 0 or self.reconnect_max_s < self.reconnect_initial_s:
            raise ConfigError(
                f"{p}reconnect_max_s",
                "needs 0 < reconnect_initial_s <= reconnect_max_s",
                self.reconnect_max_s,
            )


class _Backoff:
    """Capped exponential backoff with jitter (half to full of the current step)."""

    def __init__(self, initial: float, maximum: float):
        self.initial, self.maximum, self._step = initial, maximum, initial

    def next(self) -> float:
        delay = self._step * random.uniform(0.5, 1.0)
        self._step = min(self.maximum, self._step * 2)
        return delay

    def reset(self) -> None:
        self._step = self.initial


@dataclass
class _Stream:
    """One partition's current session, as the last discovery returned it."""

    partition: str
    feed_url: str
    location: str  # feed URL without the query: the provenance location
    token: str = field(repr=False)
    refresh_url: str
    refresh_interval_s: float
    refreshed_at: float  # monotonic time of discovery or the last successful refresh
    generation: int  # which discovery produced this session


class _Halted(Exception):
    """The source is stopping; unwind the current operation."""


class _Partition:
    """Per-partition reading state: the open response, the batch being built, offsets."""

    def __init__(self, partition: str, resume_after: int | None):
        self.partition = partition
        self.lock = threading.Lock()  # guards the batch; held while emitting (back-pressure)
        self.items: list[tuple[bytes | OversizedLine, Provenance]] = []
        self.batch_offset: int | None = None
        self.batch_started = 0.0
        self.last_read = resume_after  # highest offset read (inclusive), None: nothing yet
        self.last_activity = time.monotonic()
        self.sock: socket.socket | None = None
        self.kill_reason = ""
        self.thread: threading.Thread | None = None

    def kill(self, reason: str) -> None:
        """Abort the open stream from another thread (its blocking read returns)."""
        self.kill_reason = reason
        sock = self.sock
        if sock is not None:
            try:
                # The plain-socket shutdown also works under TLS without touching the SSL
                # object that the reader thread is using.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass


@register("source", "falcon-stream")
class FalconStreamSource(Source):
    """Follows every (selected) partition of the Falcon event stream until stopped."""

    Options = FalconStreamOptions
    name = "falcon-stream"

    def __init__(self, options: FalconStreamOptions, ctx: Context):
        super().__init__(options, ctx)
        o = options
        self.base_url = resolve_base_url(o.cloud, o.base_url)
        self.app_id = o.app_id or default_app_id()
        self._http = requests.Session()
        self._http.verify = o.ca_file or o.verify_tls
        self.auth = TokenProvider(
            self._http,
            self.base_url,
            o.client_id,
            o.secret(),
            member_cid=o.member_cid,
            refresh_fraction=o.token_refresh_fraction,
            timeout_s=o.request_timeout_s,
            retry_after_default_s=o.retry_after_default_s,
        )
        cp = o.checkpoint_path or str(
            ctx.state_dir
            / f"falcon-stream-{content_id(self.base_url, o.client_id, o.member_cid)[:12]}.json"
        )
        self.tracker = OffsetTracker(
            open_checkpoint(cp, s3_endpoint_url=o.checkpoint_s3_endpoint_url),
            min_save_interval_s=o.checkpoint_interval_s,
            on_saved=_publish_offsets,
        )
        _publish_offsets(self.tracker.snapshot())
        self._halt = threading.Event()
        self._closed = threading.Event()
        self._streams: dict[str, _Stream] = {}
        self._generation = 0
        self._discover_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._parts: dict[str, _Partition] = {}
        self._emit: Emit | None = None
        self._fatal: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self.discoveries = 0

    def __repr__(self) -> str:
        return f"FalconStreamSource(base_url={self.base_url!r}, app_id={self.app_id!r})"

    # -- lifecycle -------------------------------------------------------------------
    def run(self, emit: Emit, *, once: bool = False) -> None:
        """Discover, start one reader per partition, and supervise until stopped."""
        self._emit = emit
        log.info("falcon-stream: starting, api %s, appId %s", self.base_url, self.app_id)
        try:
            self._discover()
        except _Halted:
            return
        for name, target in (("refresh", self._refresh_loop), ("flush", self._flush_loop)):
            t = threading.Thread(target=target, name=f"falcon-stream-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        started = time.monotonic()
        while not self._halt.is_set():
            if self.ctx.stop.wait(0.1):
                break
            if once and self._idle_since(started) >= self.options.once_idle_s:
                log.info(
                    "falcon-stream: idle for %.1fs, stopping (--once)", self.options.once_idle_s
                )
                break
        self._shutdown()
        if self._fatal is not None:
            raise self._fatal

    def close(self) -> None:
        """Stop reading. Undelivered events are not checkpointed; they are read again."""
        self._closed.set()
        self._shutdown()
        self.tracker.flush()
        self._http.close()

    def _shutdown(self) -> None:
        self._halt.set()
        with self._state_lock:
            parts = list(self._parts.values())
        for p in parts:
            p.kill("stopping")
        for p in parts:
            if p.thread is not None and p.thread is not threading.current_thread():
                p.thread.join(timeout=10)
        for t in self._threads:
            t.join(timeout=10)
        self.tracker.flush()

    def _idle_since(self, started: float) -> float:
        with self._state_lock:
            parts = list(self._parts.values())
        if any(p.items for p in parts):
            return 0.0
        last = max([started, *(p.last_activity for p in parts)])
        return time.monotonic() - last

    def _sleep(self, seconds: float) -> None:
        if self._halt.wait(max(0.0, seconds)):
            raise _Halted

    # -- discovery -------------------------------------------------------------------
    def _discover(self, stale_generation: int | None = None) -> None:
        """Discover the streams (retrying until it works) and start readers for new ones.

        Readers that lose their session call this with the generation they had; when a
        newer discovery already happened meanwhile they just take its result.
        """
        with self._discover_lock:
            if stale_generation is not None and self._generation > stale_generation:
                return
            backoff = _Backoff(self.options.reconnect_initial_s, self.options.reconnect_max_s)
            while True:
                if self._halt.is_set():
                    raise _Halted
                try:
                    streams = self._discover_once()
                except RateLimited as e:
                    log.warning(
                        "falcon-stream: discover rate limited; waiting %.1fs", e.retry_after
                    )
                    self._sleep(e.retry_after)
                    continue
                except ApiError as e:
                    delay = backoff.next()
                    log.warning("falcon-stream: %s; retrying in %.1fs", e, delay)
                    self._sleep(delay)
                    continue
                if not streams:
                    delay = backoff.next()
                    log.warning(
                        "falcon-stream: discover returned no streams (appId %s busy, or no "
                        "partitions selected); retrying in %.1fs",
                        self.app_id,
                        delay,
                    )
                    self._sleep(delay)
                    continue
                break
            self._generation += 1
            now = time.monotonic()
            with self._state_lock:
                for s in streams:
                    s.generation, s.refreshed_at = self._generation, now
                    self._streams[s.partition] = s
        for s in streams:
            self._ensure_reader(s.partition)

    def _discover_once(self) -> list[_Stream]:
        self.discoveries += 1
        url = f"{self.base_url}/sensors/entities/datafeed/v2"
        resp = self.auth.request(
            "GET", url, "discover", params={"appId": self.app_id, "format": "json"}
        )
        if resp.status_code == 429:
            raise RateLimited(
                "discover",
                retry_after_seconds(
                    resp.headers.get("Retry-After"), self.options.retry_after_default_s
                ),
            )
        if resp.status_code != 200:
            raise ApiError("discover", resp.status_code, api_error_detail(resp, self._secrets()))
        if not resp.content.strip():
            # beats treats a 200 with an empty body as transient: so do we.
            raise ApiError("discover", 200, "empty response body")
        try:
            resources = resp.json().get("resources") or []
        except (ValueError, AttributeError):
            raise ApiError("discover", 200, "response is not a JSON object") from None
        wanted = {str(p) for p in self.options.partitions}
        out: list[_Stream] = []
        for r in resources:
            try:
                feed = str(r["dataFeedURL"])
                token = str(r["sessionToken"]["token"])
                refresh_url = str(r["refreshActiveSessionURL"])
                interval = float(r.get("refreshActiveSessionInterval") or 1800)
            except (KeyError, TypeError, ValueError):
                raise ApiError(
                    "discover", 200, "a resource lacks dataFeedURL/sessionToken"
                ) from None
            check_host(feed, self.base_url, self.options.allow_hosts, "dataFeedURL")
            check_host(
                refresh_url, self.base_url, self.options.allow_hosts, "refreshActiveSessionURL"
            )
            location = feed.split("?", 1)[0]
            partition = location.rstrip("/").rsplit("/", 1)[-1]
            if wanted and partition not in wanted:
                continue
            out.append(_Stream(partition, feed, location, token, refresh_url, interval, 0.0, 0))
        log.info(
            "falcon-stream: discovered %d stream(s): partitions %s",
            len(out),
            ", ".join(s.partition for s in out),
        )
        return out

    def _secrets(self) -> list[str]:
        with self._state_lock:
            tokens = [s.token for s in self._streams.values()]
        return [*self.auth.secrets(), *tokens]

    def _ensure_reader(self, partition: str) -> None:
        with self._state_lock:
            if partition in self._parts or self._halt.is_set():
                return
            part = _Partition(partition, self._resume_after(partition))
            self._parts[partition] = part
            part.thread = threading.Thread(
                target=self._reader, args=(part,), name=f"falcon-stream-p{partition}", daemon=True
            )
        part.thread.start()

    def _resume_after(self, partition: str) -> int | None:
        committed = self.tracker.committed(partition)
        if committed is not None:
            return committed
        return self.options.initial_offset - 1 if self.options.initial_offset > 0 else None

    # -- reading ---------------------------------------------------------------------
    def _reader(self, part: _Partition) -> None:
        backoff = _Backoff(self.options.reconnect_initial_s, self.options.reconnect_max_s)
        http = requests.Session()
        http.verify = self._http.verify
        try:
            while not self._halt.is_set():
                with self._state_lock:
                    stream = self._streams[part.partition]
                outcome, read = self._read_stream(http, part, stream)
                # Hand on what was read before anything else, then reconnect cleanly.
                if not self._closed.is_set():
                    self._flush_batch(part)
                if self._halt.is_set():
                    break
                if read:
                    backoff.reset()  # the connection worked: the next drop starts afresh
                self._reconnected(part, outcome)
                if outcome != "http_429":  # a 429 already waited its Retry-After
                    self._sleep(backoff.next())
                if outcome in _NEEDS_NEW_SESSION:
                    self._discover(stale_generation=stream.generation)
        except _Halted:
            pass
        except HostRejected as e:
            self._fail(e)
        except BaseException as e:
            log.exception("falcon-stream: reader of partition %s crashed", part.partition)
            self._fail(e)
        finally:
            if not self._closed.is_set():
                self._flush_batch(part)
            http.close()

    def _fail(self, e: BaseException) -> None:
        if self._fatal is None:
            self._fatal = e
        self._halt.set()

    def _reconnected(self, part: _Partition, outcome: str) -> None:
        """Count the reconnect and pick the resume offset (see the module docstring)."""
        metrics.STREAM_RECONNECTS.labels(partition=part.partition, reason=outcome).inc()
        settled = self.tracker.wait_settled(
            part.partition, self.options.settle_timeout_s, cancel=self._halt
        )
        if self._halt.is_set():
            raise _Halted
        committed = self.tracker.committed(part.partition)
        if settled and self.tracker.has_failed(part.partition):
            # Some events were read but not delivered: read them again from the checkpoint.
            self.tracker.forget_failed(part.partition)
            part.last_read = self._resume_after(part.partition)
        elif settled and committed is not None:
            part.last_read = committed if part.last_read is None else max(committed, part.last_read)
        log.info(
            "falcon-stream: partition %s %s; resuming after offset %s (checkpoint %s)",
            part.partition,
            outcome,
            part.last_read,
            committed,
        )

    def _feed_url(self, stream: _Stream, part: _Partition) -> str:
        if part.last_read is None:
            return stream.feed_url
        sep = "&" if "?" in stream.feed_url else "?"
        return f"{stream.feed_url}{sep}{urlencode({'offset': part.last_read + 1})}"

    def _read_stream(
        self, http: requests.Session, part: _Partition, stream: _Stream
    ) -> tuple[str, int]:
        """Read one connection until it ends; returns (why it ended, events read)."""
        o = self.options
        url = self._feed_url(stream, part)
        part.kill_reason = ""
        read = 0
        try:
            resp = http.get(
                url,
                headers={
                    "Authorization": f"Token {stream.token}",
                    "Accept": "application/json",
                    "Connection": "Keep-Alive",
                    # Uncompressed: a decompressor could hold events back in its buffer.
                    "Accept-Encoding": "identity",
                },
                stream=True,
                timeout=(o.request_timeout_s, o.stream_idle_timeout_s or None),
            )
        except requests.RequestException as e:
            log.warning(
                "falcon-stream: partition %s: connect failed: %s", part.partition, type(e).__name__
            )
            return "connect", 0
        try:
            if resp.status_code != 200:
                detail = api_error_detail(resp, self._secrets())
                log.warning(
                    "falcon-stream: partition %s: stream refused: HTTP %s %s",
                    part.partition,
                    resp.status_code,
                    detail,
                )
                if resp.status_code == 429:
                    self._sleep(
                        retry_after_seconds(
                            resp.headers.get("Retry-After"), o.retry_after_default_s
                        )
                    )
                return f"http_{resp.status_code}", 0
            part.sock = _socket_of(resp)
            if self._halt.is_set():
                return "stopping", 0
            log.info("falcon-stream: partition %s connected at %s", part.partition, _offset_of(url))
            pending = b""
            skipping: int | None = None  # length so far of an over-long line being skipped
            head = b""
            while True:
                try:
                    chunk = resp.raw.read1(_READ_SIZE)
                except Exception as e:  # urllib3 / http.client / ssl / socket: a drop
                    if part.kill_reason:
                        return part.kill_reason, read
                    log.warning(
                        "falcon-stream: partition %s: stream dropped: %s",
                        part.partition,
                        type(e).__name__,
                    )
                    return "dropped", read
                if not chunk:
                    # A line without its newline at EOF is incomplete and dropped here; its
                    # offset was not recorded, so the reconnect asks for it again.
                    return part.kill_reason or "eof", read
                part.last_activity = time.monotonic()
                if skipping is not None:
                    if b"\n" not in chunk:
                        skipping += len(chunk)
                        continue
                    rest, chunk = chunk.split(b"\n", 1)
                    item = OversizedLine(head, skipping + len(rest))
                    self._append(part, item, Provenance(SOURCE_ID, stream.location, None), None)
                    skipping, head = None, b""
                pending += chunk
                if b"\n" not in chunk:
                    if len(pending) > o.max_event_bytes:
                        # Memory stays bounded: keep the head for the dead letter, skip the rest.
                        skipping, head, pending = len(pending), pending[: o.max_event_bytes], b""
                    continue
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    read += self._add_line(part, stream, line)
        finally:
            part.sock = None
            resp.close()

    def _add_line(self, part: _Partition, stream: _Stream, line: bytes) -> int:
        """Queue one raw line into the partition's batch; returns 1 if it was an event."""
        line = line.rstrip(b"\r")
        if not line.strip():
            return 0  # keep-alive / blank lines carry nothing
        offset = _event_offset(line)
        if offset is not None and part.last_read is not None and offset <= part.last_read:
            # The server re-sent an event we already have (offset handling upstream):
            # skipping it keeps the no-duplicates promise.
            metrics.STREAM_EVENTS_SKIPPED.labels(partition=part.partition).inc()
            log.debug(
                "falcon-stream: partition %s: skipping re-sent offset %d", part.partition, offset
            )
            return 0
        if len(line) > self.options.max_event_bytes:
            item: bytes | OversizedLine = OversizedLine(
                line[: self.options.max_event_bytes], len(line)
            )
        else:
            item = line
        # Lines that are not JSON objects with an offset still go on: the normalizer
        # dead-letters them with the reason and the original bytes.
        self._append(part, item, Provenance(SOURCE_ID, stream.location, offset), offset)
        return 1

    def _append(
        self, part: _Partition, item: bytes | OversizedLine, prov: Provenance, offset: int | None
    ) -> None:
        with part.lock:
            if not part.items:
                part.batch_started = time.monotonic()
            part.items.append((item, prov))
            if offset is not None:
                part.last_read = offset
                part.batch_offset = offset
            if len(part.items) >= self.options.batch_max_events:
                self._emit_locked(part)

    def _flush_batch(self, part: _Partition, *, max_age: float | None = None) -> None:
        """Emit the partition's partial batch (only if older than `max_age`, when given)."""
        if max_age is not None:
            # The flusher must never wait behind a reader blocked in emit (back-pressure).
            if not part.lock.acquire(blocking=False):
                return
        else:
            part.lock.acquire()
        try:
            if part.items and (max_age is None or time.monotonic() - part.batch_started >= max_age):
                self._emit_locked(part)
        finally:
            part.lock.release()

    def _emit_locked(self, part: _Partition) -> None:
        items, last = part.items, part.batch_offset
        part.items, part.batch_offset = [], None
        entry = self.tracker.track(part.partition, last)
        ack = Ack(f"{SOURCE_ID}:{part.partition}:{last}", on_complete=_settler(self.tracker, entry))
        assert self._emit is not None
        self._emit(RawBatch("falcon", items, ack))  # type: ignore[arg-type]
        ack.seal()

    def _flush_loop(self) -> None:
        """Hand on aged partial batches and write due checkpoints."""
        tick = max(0.02, min(1.0, self.options.batch_max_age_s / 4))
        while not self._halt.wait(tick):
            with self._state_lock:
                parts = list(self._parts.values())
            for p in parts:
                self._flush_batch(p, max_age=self.options.batch_max_age_s)
            self.tracker.tick()

    # -- session refresh -------------------------------------------------------------
    def _refresh_delay(self, s: _Stream) -> float:
        return max(
            s.refresh_interval_s * self.options.refresh_fraction,
            self.options.min_refresh_interval_s,
        )

    def _refresh_loop(self) -> None:
        retry_at: dict[str, float] = {}
        while not self._halt.is_set():
            with self._state_lock:
                streams = list(self._streams.values())
            now = time.monotonic()
            next_due = now + 1.0
            for s in streams:
                due = max(s.refreshed_at + self._refresh_delay(s), retry_at.get(s.partition, 0.0))
                if now >= due:
                    retry_at.pop(s.partition, None)
                    wait = self._refresh(s)
                    if wait is not None:
                        retry_at[s.partition] = time.monotonic() + wait
                    due = retry_at.get(s.partition, time.monotonic() + self._refresh_delay(s))
                next_due = min(next_due, due)
            self._halt.wait(max(0.01, next_due - time.monotonic()))

    def _refresh(self, s: _Stream) -> float | None:
        """POST the refresh URL; returns seconds until a retry, or None when done."""
        try:
            resp = self.auth.request(
                "POST",
                s.refresh_url,
                "session refresh",
                data=b"",
                headers={"Content-Type": "application/json"},
            )
        except RateLimited as e:  # the token endpoint said 429
            metrics.STREAM_SESSION_REFRESHES.labels(outcome="rate_limited").inc()
            return e.retry_after
        except ApiError as e:
            metrics.STREAM_SESSION_REFRESHES.labels(outcome="failed").inc()
            log.warning("falcon-stream: partition %s: %s; retrying", s.partition, e)
            return min(5.0, self._refresh_delay(s) / 10)
        if resp.status_code in (200, 201, 204):
            metrics.STREAM_SESSION_REFRESHES.labels(outcome="ok").inc()
            with self._state_lock:
                if self._streams.get(s.partition) is s:
                    s.refreshed_at = time.monotonic()
            log.debug("falcon-stream: partition %s: session refreshed", s.partition)
            return None
        detail = api_error_detail(resp, self._secrets())
        if resp.status_code == 429:
            metrics.STREAM_SESSION_REFRESHES.labels(outcome="rate_limited").inc()
            return retry_after_seconds(
                resp.headers.get("Retry-After"), self.options.retry_after_default_s
            )
        if 400 <= resp.status_code < 500:
            # The session is gone (expired or replaced): reconnecting discovers a new one.
            metrics.STREAM_SESSION_REFRESHES.labels(outcome="gone").inc()
            log.warning(
                "falcon-stream: partition %s: session refresh refused (HTTP %s %s); reconnecting",
                s.partition,
                resp.status_code,
                detail,
            )
            with self._state_lock:
                part = self._parts.get(s.partition)
            if part is not None:
                part.kill("session")
            return self._refresh_delay(s)
        metrics.STREAM_SESSION_REFRESHES.labels(outcome="failed").inc()
        log.warning(
            "falcon-stream: partition %s: session refresh HTTP %s %s; retrying",
            s.partition,
            resp.status_code,
            detail,
        )
        return min(5.0, self._refresh_delay(s) / 10)


def _settler(tracker: OffsetTracker, entry: Pending) -> Callable[[bool], None]:
    def settle(failed: bool) -> None:
        tracker.settle(entry, failed)

    return settle


def _publish_offsets(offsets: Any) -> None:
    for partition, offset in offsets.items():
        metrics.STREAM_OFFSET.labels(partition=partition).set(offset)


def _event_offset(line: bytes) -> int | None:
    """`metadata.offset` of a stream line, or None when the line is not such an event."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    meta = obj.get("metadata")
    off = meta.get("offset") if isinstance(meta, dict) else None
    return off if isinstance(off, int) and not isinstance(off, bool) else None


def _offset_of(url: str) -> str:
    q = urlsplit(url).query
    for part in q.split("&"):
        if part.startswith("offset="):
            return f"offset {part[7:]}"
    return "the server's default offset"


def _socket_of(resp: requests.Response) -> socket.socket | None:
    """The socket under a streamed response, so another thread can abort the read."""
    conn = getattr(resp.raw, "connection", None) or getattr(resp.raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    return sock if isinstance(sock, socket.socket) else None
