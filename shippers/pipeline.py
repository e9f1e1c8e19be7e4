"""Wires sources → normalizers → sinks with bounded queues, acks and graceful shutdown.

Threads, not asyncio: the hot path is CPU-bound normalization plus blocking client
libraries (boto3, elasticsearch); a bounded `queue.Queue` between the source threads and
the worker threads is the back-pressure point — when sinks slow down, workers block in
`sink.write`, the queue fills and sources block in `emit`, so an SQS source stops
receiving and a TCP syslog source stops reading.

Ack accounting: `emit` adds one token to the batch's ack for the batch itself and the
worker removes it after handing every record to every sink, so a source may `seal()` its
unit right after emitting without the unit settling before the sinks saw it.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import metrics
from .errors import ParseError
from .lines import OversizedLine
from .normalizers import get_normalizer
from .plugin import Context, Normalizer, NormalizerOptions, RawBatch, Sink, Source
from .record import DeadLetter, Provenance, Record

__all__ = ["Pipeline", "add_provenance_fields", "normalize_one"]

log = logging.getLogger("shippers.pipeline")

_STOP = object()


def normalize_one(
    normalizer: Normalizer, line: bytes | OversizedLine, prov: Provenance
) -> Record | DeadLetter:
    """Normalize one raw line into a Record, or a DeadLetter carrying the reason and bytes."""
    if isinstance(line, OversizedLine):
        return DeadLetter(
            f"line too long: {line.length} bytes exceeds the limit; first {len(line.head)} kept",
            line.head,
            prov,
            detail={"length": line.length},
        )
    try:
        doc, doc_id = normalizer.normalize(line)
    except ParseError as e:
        return DeadLetter(e.reason, line, prov)
    except Exception as e:  # a normalizer bug must not stop the run, nor lose the line
        log.exception("normalizer %s crashed", normalizer.name)
        return DeadLetter(f"normalizer error: {type(e).__name__}: {e}", line, prov)
    add_provenance_fields(doc, prov)
    return Record(doc, doc_id, prov, source_type=normalizer.source_type, raw=line)


def add_provenance_fields(doc: dict[str, Any], prov: Provenance) -> None:
    """ECS `log.*` from provenance: offset of the line, file/object path, syslog peer.

    A network location (tcp://, udp://, https://) is not a file path; S3 keys and local
    paths are.
    """
    logf = doc.get("log")
    if logf is None:
        logf = doc["log"] = {}
    if prov.offset is not None:
        logf["offset"] = prov.offset
    if prov.peer:
        logf.setdefault("source", {})["address"] = prov.peer
    loc = prov.location
    if loc and ("://" not in loc or loc.startswith(("s3://", "file://"))):
        logf.setdefault("file", {})["path"] = loc


class Pipeline:
    """Runs sources, normalizer workers and sinks until stopped (or drained with `once`)."""

    def __init__(
        self,
        sources: Sequence[Source],
        sinks: Sequence[Sink],
        ctx: Context,
        *,
        normalize_options: NormalizerOptions | None = None,
        queue_size: int = 16,
        workers: int = 1,
        grace_period_s: float = 30.0,
        idle_flush_s: float = 1.0,
        on_idle: Callable[[], None] | None = None,
    ):
        self.sources = list(sources)
        self.sinks = list(sinks)
        self.ctx = ctx
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self.workers = workers
        self.grace_period_s = grace_period_s
        self.idle_flush_s = idle_flush_s
        self.on_idle = on_idle
        self._nopts = normalize_options or NormalizerOptions()
        self._normalizers: dict[str, Normalizer] = {}
        self._lock = threading.Lock()
        self.errors: list[BaseException] = []

    # -- source side -----------------------------------------------------------------
    def emit(self, batch: RawBatch) -> None:
        """Called by sources; blocks while the queue is full (back-pressure)."""
        if batch.ack is not None:
            batch.ack.add(1)
        n = len(batch.items)
        if n:
            metrics.EVENTS_RECEIVED.labels(source=batch.items[0][1].source).inc(n)
        while True:
            try:
                self.queue.put(batch, timeout=0.5)
                break
            except queue.Full:
                # Keep blocking even when stopping: the batch was read, so it must reach
                # the sinks (or the unit is returned upstream unacked by source.close()).
                continue
        metrics.QUEUE_DEPTH.labels(queue="normalize").set(self.queue.qsize())

    # -- worker side -----------------------------------------------------------------
    def _normalizer(self, fmt: str) -> Normalizer:
        with self._lock:
            n = self._normalizers.get(fmt)
            if n is None:
                n = self._normalizers[fmt] = get_normalizer(fmt, self._nopts)
            return n

    def process(self, batch: RawBatch) -> None:
        """Normalize one batch and hand the records to every sink."""
        normalizer = self._normalizer(batch.format)
        records: list[Record] = []
        nsinks = len(self.sinks)
        for line, prov in batch.items:
            out = normalize_one(normalizer, line, prov)
            if isinstance(out, DeadLetter):
                try:
                    self.ctx.dead_letter.write(out)
                except Exception:
                    log.exception("dead-letter write failed; unit stays unacknowledged")
                    if batch.ack is not None:
                        batch.ack.add(1)
                        batch.ack.done(failed=True)
                continue
            if batch.enrich is not None:
                batch.enrich(out.doc)
            out.ack = batch.ack
            if batch.ack is not None and nsinks:
                batch.ack.add(nsinks)
            records.append(out)
        if records:
            metrics.EVENTS_NORMALIZED.labels(source=records[0].provenance.source).inc(len(records))
        for sink in self.sinks:
            sink.write(records)
        if batch.ack is not None:
            batch.ack.done()

    def _worker(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                item = self.queue.get(timeout=self.idle_flush_s)
            except queue.Empty:
                self._flush_sinks()
                last_flush = time.monotonic()
                continue
            if item is _STOP:
                return
            try:
                self.process(item)
            except BaseException as e:
                log.exception("worker failed on a batch")
                self.errors.append(e)
                if item.ack is not None:
                    item.ack.done(failed=True)
            if time.monotonic() - last_flush > self.idle_flush_s * 5:
                self._flush_sinks()
                last_flush = time.monotonic()

    def _flush_sinks(self) -> None:
        for sink in self.sinks:
            try:
                sink.flush()
            except Exception:
                log.exception("flush of sink %s failed", sink.name)
        if self.on_idle is not None:
            self.on_idle()

    # -- lifecycle -------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop intake; the run then flushes, acks and returns."""

        def handler(signum: int, _frame: Any) -> None:
            log.info("signal %s: stopping intake, flushing", signum)
            self.ctx.stop.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run(self, *, once: bool = False) -> int:
        """Run to completion (`once`) or until `ctx.stop`; returns a process exit code."""
        workers = [
            threading.Thread(target=self._worker, name=f"normalize-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for w in workers:
            w.start()
        source_threads = [
            threading.Thread(
                target=self._run_source, args=(s, once), name=f"source-{s.name}", daemon=True
            )
            for s in self.sources
        ]
        for t in source_threads:
            t.start()
        for t in source_threads:
            while t.is_alive():
                t.join(timeout=0.2)
        deadline = time.monotonic() + self.grace_period_s
        for _ in workers:
            self.queue.put(_STOP)
        for w in workers:
            w.join(timeout=max(0.0, deadline - time.monotonic()))
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as e:
                log.exception("closing sink %s failed", sink.name)
                self.errors.append(e)
        for s in self.sources:
            try:
                s.close()
            except Exception:
                log.exception("closing source %s failed", s.name)
        return 1 if self.errors else 0

    def _run_source(self, source: Source, once: bool) -> None:
        try:
            source.run(self.emit, once=once)
        except BaseException as e:
            log.exception("source %s failed", source.name)
            self.errors.append(e)
            self.ctx.stop.set()
