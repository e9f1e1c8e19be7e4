"""The Elasticsearch sink: batched `_bulk` of pre-serialized NDJSON, idempotent, never dropping.

Flow: `write()` encodes each record into a bulk item (action + document bytes, orjson) and
appends it to the open batch; a batch is sent when it reaches `batch_docs` or
`batch_bytes`, or is `batch_age_s` old (a ticker thread, so a quiet source is not held
back). At most `max_in_flight` bulk requests run at once: beyond that `write()` blocks,
which is how back-pressure reaches the sources.

Outcomes per item (a record's ack is completed only by one of these):
- 2xx → delivered; 409 → already there (an earlier delivery of the same `_id`): delivered.
- 429 / 5xx → retried *alone* (only the failed items form the next request) with capped
  exponential backoff and jitter; 429 without limit, 5xx up to `item_retry_limit`.
- other 4xx (mapping conflict, …) → dead-letter sink with the server's reason and the
  document bytes.
Whole-request failures (connection refused, timeout, 429/5xx, auth) are retried without a
time limit: delivery stalls, writers block, nothing is dropped. Only on shutdown (stop flag
set, `shutdown_timeout_s` exceeded) do undelivered records complete as *failed*, so their
source units are not acknowledged upstream and are redelivered later.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import backoff

from .. import metrics
from ..es_bulk import BulkItem, EncodeError, encode
from ..es_client import ElasticsearchOptions, make_client, redact
from ..plugin import Context, Sink
from ..record import DeadLetter, Record
from ..registry import register

__all__ = ["ElasticsearchSink"]

log = logging.getLogger("shippers.sinks.elasticsearch")

SINK = "elasticsearch"
# Only what the outcome needs: a 5000-item response shrinks to statuses and errors.
_FILTER_PATH = "errors,items.*.status,items.*.error"


class _Aborted(Exception):
    """Shutdown gave up on delivery; remaining items complete as failed (not acked)."""


def _delays(initial: float, cap: float) -> Iterator[float]:
    """Capped exponential delays with "equal jitter": half fixed, half random."""
    gen = backoff.expo(base=2, factor=initial, max_value=cap)
    next(gen)  # backoff's generators yield None first (primed by its decorators)
    for v in gen:
        yield v / 2 + backoff.full_jitter(v / 2)


@register("sink", "elasticsearch")
class ElasticsearchSink(Sink):
    Options = ElasticsearchOptions
    name = SINK

    def __init__(self, options: ElasticsearchOptions, ctx: Context, *, client: Any = None):
        super().__init__(options, ctx)
        self.o = options
        self.es = client if client is not None else make_client(options)
        self._lock = threading.Lock()
        self._buf: list[BulkItem] = []
        self._buf_bytes = 0
        self._buf_since = 0.0
        self._slots = threading.BoundedSemaphore(options.max_in_flight)
        self._pool = ThreadPoolExecutor(options.max_in_flight, thread_name_prefix="es-bulk")
        self._idle = threading.Condition()
        self._inflight = 0
        self._abort = threading.Event()
        self._closing = threading.Event()
        self._healthy = True
        self._ilm: bool | None = None
        self._ticker = threading.Thread(target=self._tick, name="es-batch-age", daemon=True)
        self._ticker.start()

    # -- intake ----------------------------------------------------------------------
    def write(self, records: Iterable[Record]) -> None:
        full: list[list[BulkItem]] = []
        for record in records:
            try:
                item = encode(record, self.o.index_prefix)
            except EncodeError as e:
                self._dead_letter_record(record, str(e), record.raw or b"", None)
                continue
            with self._lock:
                if not self._buf:
                    self._buf_since = time.monotonic()
                self._buf.append(item)
                self._buf_bytes += len(item.data)
                if len(self._buf) >= self.o.batch_docs or self._buf_bytes >= self.o.batch_bytes:
                    full.append(self._take())
            # Send outside the lock: _submit blocks while max_in_flight requests run.
            while full:
                self._submit(full.pop(0))

    def _take(self) -> list[BulkItem]:
        batch, self._buf, self._buf_bytes = self._buf, [], 0
        return batch

    def _tick(self) -> None:
        period = min(0.25, self.o.batch_age_s / 2)
        while not self._closing.wait(period):
            with self._lock:
                aged = bool(self._buf) and time.monotonic() - self._buf_since >= self.o.batch_age_s
                batch = self._take() if aged else None
            if batch:
                self._submit(batch)

    def _submit(self, batch: list[BulkItem]) -> None:
        self._slots.acquire()
        with self._idle:
            self._inflight += 1
        try:
            if self._abort.is_set():
                raise _Aborted
            self._pool.submit(self._run_batch, batch)
        except (_Aborted, RuntimeError):
            # Shutdown gave up (or the pool is gone): fail the records so their source
            # units are not acknowledged — they will be redelivered.
            for it in batch:
                it.resolved = True
                it.record.done(failed=True)
            self._finish_slot()

    def _finish_slot(self) -> None:
        self._slots.release()
        with self._idle:
            self._inflight -= 1
            self._idle.notify_all()

    # -- lifecycle -------------------------------------------------------------------
    def flush(self) -> None:
        """Send the open batch and wait until every request in flight has an outcome."""
        with self._lock:
            batch = self._take() if self._buf else None
        if batch:
            self._submit(batch)
        self._wait_idle()

    def _wait_idle(self) -> None:
        gave_up_at: float | None = None
        with self._idle:
            while self._inflight:
                if self.ctx.stop.is_set() and self._closing.is_set():
                    gave_up_at = gave_up_at or time.monotonic() + self.o.shutdown_timeout_s
                    if time.monotonic() >= gave_up_at and not self._abort.is_set():
                        log.error("shutdown: giving up on undelivered documents (left unacked)")
                        self._abort.set()
                self._idle.wait(0.5)

    def close(self) -> None:
        self._closing.set()
        self.flush()
        self._ticker.join(timeout=5)
        self._pool.shutdown(wait=True)
        try:
            self.es.close()
        except Exception:
            pass

    def ready(self) -> bool:
        """Reachable (last request got an answer) and not saturated."""
        return self._healthy and self._inflight < self.o.max_in_flight

    # -- delivery --------------------------------------------------------------------
    def _run_batch(self, items: list[BulkItem]) -> None:
        try:
            self._deliver(items)
        except _Aborted:
            pass
        except Exception:
            log.exception("elasticsearch delivery failed unexpectedly; records left unacked")
        finally:
            for it in items:
                if not it.resolved:  # aborted or a bug: the source unit must not be acked
                    it.resolved = True
                    it.record.done(failed=True)
            self._finish_slot()

    def _deliver(self, items: list[BulkItem]) -> None:
        pending = items
        delays = _delays(self.o.backoff_initial_s, self.o.backoff_max_s)
        while pending:
            results = self._bulk(pending)
            retry: list[BulkItem] = []
            delivered: Counter[str] = Counter()
            duplicates: Counter[str] = Counter()
            now = time.time()
            lag: dict[str, Any] = {}  # per-source histogram child: one label lookup per batch
            for it, (status, error) in zip(pending, results, strict=True):
                src = it.record.provenance.source
                if status < 300 or status == 409:
                    delivered[src] += 1
                    if status == 409:
                        duplicates[src] += 1
                    h = lag.get(src)
                    if h is None:
                        h = lag[src] = metrics.EVENT_LAG_SECONDS.labels(source=src)
                    h.observe(now - it.event_ts)
                    it.resolved = True
                    it.record.done()
                elif status == 429 or status >= 500:
                    it.attempts += 1
                    if status >= 500 and it.attempts > self.o.item_retry_limit:
                        self._dead_letter(it, status, error, retries=it.attempts - 1)
                    else:
                        metrics.BULK_ITEMS_RETRIED.labels(status=str(status)).inc()
                        retry.append(it)
                else:
                    self._dead_letter(it, status, error)
            for src, n in delivered.items():
                metrics.EVENTS_DELIVERED.labels(source=src, sink=SINK).inc(n)
            for src, n in duplicates.items():
                metrics.EVENTS_DUPLICATE.labels(source=src, sink=SINK).inc(n)
            if retry:
                delay = next(delays)
                log.info("%d bulk items rejected (429/5xx); retrying in %.2fs", len(retry), delay)
                if self._abort.wait(delay):
                    raise _Aborted
            pending = retry

    def _bulk(self, items: list[BulkItem]) -> list[tuple[int, dict[str, Any] | None]]:
        """One outcome per item; whole-request failures are retried here until answered."""
        from elastic_transport import TransportError
        from elasticsearch import ApiError

        delays: Iterator[float] | None = None
        while True:
            if self._abort.is_set():
                raise _Aborted
            body = b"".join([it.data for it in items])
            try:
                return self._post(body, len(items))
            except ApiError as e:
                status = e.meta.status
                if status in (400, 413):
                    # The request as a whole is refused (too large, malformed): isolate the
                    # culprit by halving; a single refused document is dead-lettered.
                    if len(items) > 1:
                        mid = len(items) // 2
                        return self._bulk(items[:mid]) + self._bulk(items[mid:])
                    return [(status, _error_of(e))]
                what = f"HTTP {status}: {e.message}"
            except TransportError as e:
                what = f"{type(e).__name__}: {e}"
            except _BadResponse as e:
                what = str(e)
            self._healthy = False
            delays = delays or _delays(self.o.backoff_initial_s, self.o.backoff_max_s)
            delay = next(delays)
            log.warning(
                "bulk request of %d documents failed (%s); retrying in %.1fs",
                len(items), redact(what, self.o), delay,
            )  # fmt: skip
            if self._abort.wait(delay):
                raise _Aborted

    def _post(self, body: bytes, n: int) -> list[tuple[int, dict[str, Any] | None]]:
        headers = {"content-type": "application/x-ndjson", "accept": "application/json"}
        if self.o.compress:
            body = gzip.compress(body, compresslevel=1)  # speed over ratio: CPU is the cost
            headers["content-encoding"] = "gzip"
        t0 = time.perf_counter()
        resp = self.es.perform_request(
            "POST", "/_bulk", params={"filter_path": _FILTER_PATH}, headers=headers, body=body
        )
        metrics.BULK_REQUEST_SECONDS.observe(time.perf_counter() - t0)
        self._healthy = True
        out = resp.body
        if not isinstance(out, dict):
            raise _BadResponse(f"unexpected bulk response type {type(out).__name__}")
        if not out.get("errors"):
            return [(201, None)] * n
        results = []
        for entry in out.get("items", []):
            ((_op, r),) = entry.items()
            results.append((int(r.get("status", 500)), r.get("error")))
        if len(results) != n:
            raise _BadResponse(f"bulk response has {len(results)} items for {n} sent")
        return results

    # -- dead letters ----------------------------------------------------------------
    def _dead_letter(
        self, it: BulkItem, status: int, error: dict[str, Any] | None, retries: int = 0
    ) -> None:
        reason = f"elasticsearch rejected ({status} {_etype(error)}): {_ereason(error)}"
        if retries:
            reason += f" (after {retries} retries)"
        detail = {"index": it.index, "_id": it.record.doc_id, "status": status, "error": error}
        it.resolved = True
        self._dead_letter_record(it.record, reason, it.doc_bytes, detail)

    def _dead_letter_record(
        self, record: Record, reason: str, original: bytes, detail: dict[str, Any] | None
    ) -> None:
        letter = DeadLetter(
            reason=redact(reason, self.o),
            original=original,
            provenance=record.provenance,
            stage="deliver",
            detail=detail,
        )
        try:
            self.ctx.dead_letter.write(letter, sink=SINK)
        except Exception:
            log.exception("dead-letter write failed; record left unacked")
            record.done(failed=True)
            return
        record.done()

    # -- retention -------------------------------------------------------------------
    def apply_retention(self, *, dry_run: bool = False) -> list[str]:
        """Delete dated indices past `retention_days`, unless the cluster has ILM (it does it)."""
        from ..es_setup import has_ilm
        from ..retention import apply_retention

        if self._ilm is None:
            self._ilm = has_ilm(self.es)
        if self._ilm:
            return []
        return apply_retention(self.es, self.o.index_prefix, self.o.retention_days, dry_run=dry_run)


class _BadResponse(Exception):
    """A 2xx bulk answer we cannot map onto the items we sent: retry the request."""


def _error_of(e: Any) -> dict[str, Any]:
    body = getattr(e, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err: dict[str, Any] = body["error"]
        return err
    return {"type": "http_error", "reason": str(getattr(e, "message", e))}


def _etype(error: dict[str, Any] | None) -> str:
    return str((error or {}).get("type", "unknown"))


def _ereason(error: dict[str, Any] | None) -> str:
    """The server's reason, with the nested cause (e.g. the failing field value) appended."""
    if not error:
        return "no reason given"
    parts = [str(error.get("reason", ""))]
    cause = error.get("caused_by")
    depth = 0
    while isinstance(cause, dict) and depth < 3:
        parts.append(f"{cause.get('type', '')}: {cause.get('reason', '')}")
        cause = cause.get("caused_by")
        depth += 1
    return " | caused by ".join(p for p in parts if p)
