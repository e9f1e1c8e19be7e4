"""SQS in-flight message bookkeeping: visibility keep-alive and prompt return on shutdown.

A message stays invisible to other consumers only for the visibility timeout. Reading a
large FDR object (and waiting for the sinks to acknowledge its events) can take longer,
so a thread extends the timeout of every in-flight message at half the timeout — the
approach of Filebeat's awss3 input: late enough to be cheap, early enough that one slow
or failed call still leaves half a timeout of margin. On shutdown every message not yet
settled is made visible again at once (visibility 0) instead of waiting out its timeout.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from .. import metrics

__all__ = ["InFlight", "VisibilityKeeper"]

log = logging.getLogger("shippers.sources.falcon_fdr")


@dataclass(eq=False)
class InFlight:
    """One received SQS message, until it is deleted or handed back."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    error: str | None = None  # why the last attempt failed, for the dead-letter record
    stopped: bool = False  # failed because of shutdown: return it, never give it up
    settled: bool = field(default=False)


class VisibilityKeeper:
    """Extends the visibility of registered messages every `timeout_s / 2` seconds."""

    def __init__(self, client: Any, queue_url: str, timeout_s: int):
        self.client = client
        self.queue_url = queue_url
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._messages: dict[str, InFlight] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqs-keepalive", daemon=True)
        self._thread.start()

    def add(self, msg: InFlight) -> None:
        with self._lock:
            self._messages[msg.message_id] = msg

    def remove(self, msg: InFlight) -> bool:
        """Stop tracking `msg`; False when it was not tracked (already settled elsewhere)."""
        with self._lock:
            return self._messages.pop(msg.message_id, None) is not None

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)

    def _run(self) -> None:
        interval = max(self.timeout_s / 2, 0.5)
        while not self._stop.wait(interval):
            with self._lock:
                msgs = list(self._messages.values())
            if msgs:
                self.change_visibility(msgs, self.timeout_s)
                metrics.SQS_VISIBILITY_EXTENSIONS.inc(len(msgs))

    def change_visibility(self, msgs: list[InFlight], timeout_s: int) -> None:
        """ChangeMessageVisibilityBatch in groups of 10 (the SQS limit); failures are logged."""
        for i in range(0, len(msgs), 10):
            chunk = msgs[i : i + 10]
            entries = [
                {"Id": str(n), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": timeout_s}
                for n, m in enumerate(chunk)
            ]
            try:
                resp = self.client.change_message_visibility_batch(
                    QueueUrl=self.queue_url, Entries=entries
                )
            except Exception as e:
                log.warning("change visibility of %d messages failed: %s", len(chunk), e)
                continue
            for f in resp.get("Failed", []):
                log.warning(
                    "change visibility failed for %s: %s",
                    chunk[int(f["Id"])].message_id,
                    f.get("Message") or f.get("Code"),
                )

    def return_all(self) -> int:
        """Make every tracked message visible again now; returns how many."""
        with self._lock:
            msgs = list(self._messages.values())
            self._messages.clear()
        if msgs:
            self.change_visibility(msgs, 0)
            metrics.SQS_MESSAGES.labels(outcome="returned").inc(len(msgs))
            log.info("returned %d in-flight SQS messages (visibility 0)", len(msgs))
        return len(msgs)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
