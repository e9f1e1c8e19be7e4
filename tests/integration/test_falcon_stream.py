"""The `falcon-stream` source against the local Falcon Event Streams API server.

Everything runs through the real `Pipeline` and the real Falcon normalizer into a capturing
sink (a Sink subclass recording each record's partition and offset, then completing it).
The server (`tests.services.falcon_api`) records what it saw: tokens, discovers, the
offset every stream connection asked for, refreshes, expired-token uses, Retry-After
violations. Short token/session lifetimes keep the tests fast; the `wait_for` deadlines
only bound how long progress may take, nothing asserts on durations.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from shippers import metrics
from shippers.pipeline import Pipeline
from shippers.plugin import Context, Sink
from shippers.record import Record
from shippers.sinks.dead_letter import DeadLetterSink
from shippers.sources.falcon_auth import HostRejected
from shippers.sources.falcon_stream import FalconStreamOptions, FalconStreamSource
from tests.services import require
from tests.services.falcon_api import FalconAPI

pytestmark = pytest.mark.falcon_api

DEADLINE_S = 30.0


# -- helpers ----------------------------------------------------------------------------
def wait_for(cond: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for: {what}")


class CaptureSink(Sink):
    """Records (partition, offset, doc) of every record, then completes it.

    With `hold=True` records are completed only on `flush`, last first, so batch acks
    settle out of order; `release=False` never completes them (a sink that is down).
    """

    name = "capture"

    def __init__(self, ctx: Context, *, hold: bool = False, release: bool = True):
        super().__init__(None, ctx)
        self.hold, self.release = hold, release
        self.lock = threading.Lock()
        self.got: list[tuple[str, int | None]] = []
        self.docs: list[dict[str, Any]] = []
        self.completed: list[tuple[float, str, int | None]] = []  # (when, partition, offset)
        self._held: list[Record] = []

    def write(self, records: Iterable[Record]) -> None:
        records = list(records)
        with self.lock:
            for r in records:
                self.got.append((r.provenance.location.rsplit("/", 1)[-1], r.provenance.offset))
                self.docs.append(r.doc)
            if self.hold or not self.release:
                self._held.extend(records)
                return
        self._complete(records)

    def flush(self) -> None:
        if not self.release:
            return
        with self.lock:
            held, self._held = self._held, []
        self._complete(reversed(held))

    def _complete(self, records: Iterable[Record]) -> None:
        for r in records:
            with self.lock:
                self.completed.append(
                    (
                        time.monotonic(),
                        r.provenance.location.rsplit("/", 1)[-1],
                        r.provenance.offset,
                    )
                )
            r.done()

    def delivered_before(self, when: float, partition: str = "0") -> int | None:
        """The highest offset of `partition` completed before `when`."""
        with self.lock:
            done = [
                o for t, p, o in self.completed if t < when and p == partition and o is not None
            ]
        return max(done, default=None)

    def offsets(self, partition: str = "0") -> list[int | None]:
        with self.lock:
            return [o for p, o in self.got if p == partition]


class Run:
    """A source + pipeline running in a thread."""

    def __init__(self, api: FalconAPI, tmp: Path, *, sink_kw: dict | None = None, **opts: Any):
        self.ctx = Context(dead_letter=DeadLetterSink(tmp / "dead.ndjson"), state_dir=tmp)
        defaults: dict[str, Any] = dict(
            client_id=api.client_id,
            client_secret=api.client_secret,
            base_url=api.base_url,
            checkpoint_path=str(tmp / "falcon-checkpoint.json"),
            batch_max_events=7,
            batch_max_age_s=0.05,
            reconnect_initial_s=0.05,
            reconnect_max_s=0.5,
            min_refresh_interval_s=0.0,
            settle_timeout_s=10.0,
        )
        defaults.update(opts)
        self.options = FalconStreamOptions(**defaults)
        self.source = FalconStreamSource(self.options, self.ctx)
        self.sink = CaptureSink(self.ctx, **(sink_kw or {}))
        self.pipeline = Pipeline([self.source], [self.sink], self.ctx, idle_flush_s=0.05)
        self.thread = threading.Thread(target=self.pipeline.run, name="pipeline", daemon=True)
        self.checkpoint = Path(defaults["checkpoint_path"])

    def __enter__(self) -> Run:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.ctx.stop.set()
        self.thread.join(timeout=DEADLINE_S)
        assert not self.thread.is_alive(), "pipeline did not stop"

    def committed(self) -> dict[str, int]:
        try:
            return json.loads(self.checkpoint.read_text())["offsets"]
        except FileNotFoundError:
            return {}


@pytest.fixture
def falcon_api():
    """Factory for local Falcon API servers, stopped after the test."""
    servers: list[FalconAPI] = []

    def make(**kw: Any) -> FalconAPI:
        api = require("Falcon API stand-in", lambda: FalconAPI(**kw).start())
        servers.append(api)
        return api

    yield make
    for s in servers:
        s.stop()


def secrets_of(api: FalconAPI) -> list[str]:
    """The client secret and every token the server handed out and saw in use."""
    tokens = [h.split(" ", 1)[1] for h in api.auth_headers if " " in h]
    return [api.client_secret, *tokens]


def assert_exactly_once(sink: CaptureSink, partition: str, expected: list[int]) -> None:
    got = sink.offsets(partition)
    dupes = [o for o, n in Counter(got).items() if n > 1]
    assert not dupes, f"partition {partition}: delivered twice: {dupes}"
    assert sorted(o for o in got if o is not None) == expected, f"partition {partition}"


# -- (1) token + discover + stream + checkpoint ------------------------------------------
def test_token_discover_stream_and_checkpoint(falcon_api, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    api = falcon_api()
    published = api.publish(0, 20)
    with Run(api, tmp_path) as run:
        wait_for(lambda: run.committed().get("0") == 19, "checkpoint at offset 19")
        bad = api.publish_raw(0, b"this is not json")
        published += api.publish(0, 5)
        wait_for(lambda: run.committed().get("0") == 25, "checkpoint past the bad line")

    assert api.tokens_issued >= 1
    assert api.token_requests[0]["client_id"] == api.client_id
    assert api.discover_calls >= 1 and len(api.app_ids) == 1
    app_id = next(iter(api.app_ids))
    assert app_id.isalnum() and len(app_id) <= 32
    first = api.connects[0]
    assert (first.partition, first.offset, first.status) == (0, None, 200)
    assert any(h.startswith("Token ") for h in api.auth_headers)  # the feed's own scheme
    assert_exactly_once(run.sink, "0", published)
    # The bad line went to the dead-letter file with its bytes and reason, not lost.
    letters = [json.loads(x) for x in (tmp_path / "dead.ndjson").read_text().splitlines()]
    assert [d["original"] for d in letters] == ["this is not json"]
    assert bad == 20 and letters[0]["provenance"]["source"] == "falcon-stream"
    assert letters[0]["provenance"]["location"] == f"{api.base_url}/sensors/entities/datafeed/v1/0"
    # Normalized through the real Falcon normalizer.
    kinds = Counter(d["event"]["kind"] for d in run.sink.docs)
    assert kinds["alert"] == sum(1 for o in published if o % 2 == 0)
    assert metrics.value("shippers_stream_offset", {"partition": "0"}) == 25
    for s in secrets_of(api):
        assert s not in caplog.text
    assert api.client_secret not in repr(run.options) and api.client_secret not in repr(run.source)


# -- (2) dropped connection + expired session --------------------------------------------
def test_survives_drop_and_expired_session_resuming_at_the_checkpoint(falcon_api, tmp_path):
    api = falcon_api(session_interval_s=600)
    dropped0 = metrics.value(
        "shippers_stream_reconnects_total", {"partition": "0", "reason": "dropped"}
    )
    published = api.publish(0, 30)
    with Run(api, tmp_path, sink_kw={"hold": True}) as run:
        wait_for(lambda: run.committed().get("0") == 29, "first 30 delivered")
        published += api.publish(0, 11)
        api.drop(0, partial=True)  # mid-line: half of an event, then a reset
        wait_for(lambda: len(api.connects) >= 2, "reconnect after the drop")
        wait_for(lambda: run.committed().get("0") == 40, "events after the drop delivered")
        published += api.publish(0, 9)
        api.expire_sessions()  # the server ends the stream; the old token is dead
        wait_for(lambda: api.discover_calls >= 2, "rediscover after the session expired")
        published += api.publish(0, 10)
        wait_for(lambda: run.committed().get("0") == published[-1], "everything delivered")
        snapshot = list(api.connects)

    assert_exactly_once(run.sink, "0", published)
    # Every reconnect asked for the offset right after the last one delivered before it:
    # the source waits for its in-flight events to settle, then resumes at checkpoint + 1.
    offsets = [c.offset for c in snapshot if c.status == 200]
    assert offsets[0] is None
    for c in snapshot[1:]:
        last = run.sink.delivered_before(c.at)
        assert last is not None and c.offset == last + 1, (c, last)
    assert snapshot[0].ended == "dropped"
    assert "session_expired" in [c.ended for c in snapshot]
    assert len({c.offset for c in snapshot if c.status == 200}) == len(offsets)  # no re-read
    assert (
        metrics.value("shippers_stream_reconnects_total", {"partition": "0", "reason": "dropped"})
        == dropped0 + 1
    )


def test_session_lapses_when_not_refreshed_in_time_and_the_source_recovers(falcon_api, tmp_path):
    # refresh at 99% with a floor far above the interval: the session lapses server-side.
    api = falcon_api(session_interval_s=0.5)
    published = api.publish(0, 5)
    with Run(api, tmp_path, refresh_fraction=0.99, min_refresh_interval_s=3600) as run:
        wait_for(lambda: run.committed().get("0") == 4, "first events")
        wait_for(lambda: any(c.ended == "session_expired" for c in api.connects), "session lapse")
        published += api.publish(0, 5)
        wait_for(lambda: run.committed().get("0") == 9, "events after the lapse")
    assert_exactly_once(run.sink, "0", published)
    assert api.discover_calls >= 2


def test_resent_events_before_the_requested_offset_are_skipped(falcon_api, tmp_path):
    api = falcon_api(overlap=3)  # a server that re-sends the 3 events before `offset`
    published = api.publish(0, 10)
    skipped0 = metrics.value("shippers_stream_events_skipped_total", {"partition": "0"})
    with Run(api, tmp_path) as run:
        wait_for(lambda: run.committed().get("0") == 9, "first events")
        api.drop(0, partial=False)
        published += api.publish(0, 4)
        wait_for(lambda: run.committed().get("0") == 13, "after reconnect")
    assert_exactly_once(run.sink, "0", published)
    assert api.connects[1].offset == 10
    assert metrics.value("shippers_stream_events_skipped_total", {"partition": "0"}) == skipped0 + 3


# -- (3) restart --------------------------------------------------------------------------
def test_restart_resumes_without_duplicate_or_backlog(falcon_api, tmp_path):
    api = falcon_api()
    first = api.publish(0, 15)
    with Run(api, tmp_path, sink_kw={"hold": True}) as run1:
        wait_for(lambda: run1.committed().get("0") == 14, "first run delivered")
    second = api.publish(0, 10)
    with Run(api, tmp_path) as run2:
        wait_for(lambda: run2.committed().get("0") == 24, "second run delivered")
    assert_exactly_once(run1.sink, "0", first)
    assert_exactly_once(run2.sink, "0", second)  # none of the first 15 again
    resumed = [c for c in api.connects if c.status == 200][-1]
    assert resumed.offset == 15


def test_close_does_not_checkpoint_undelivered_events(falcon_api, tmp_path):
    api = falcon_api()
    published = api.publish(0, 12)
    with Run(api, tmp_path) as run1:
        wait_for(lambda: run1.committed().get("0") == 11, "delivered")
    published += api.publish(0, 8)
    # A sink that never completes: events 12..19 are read but never delivered.
    with Run(api, tmp_path, sink_kw={"release": False}) as run2:
        wait_for(lambda: len(run2.sink.offsets()) == 8, "second run read the new events")
    assert run2.committed() == {"0": 11}
    with Run(api, tmp_path) as run3:
        wait_for(lambda: run3.committed().get("0") == 19, "third run delivered them")
    assert_exactly_once(run3.sink, "0", published[12:])
    assert [c.offset for c in api.connects if c.status == 200][-1] == 12


# -- (4) 429 Retry-After -------------------------------------------------------------------
def test_discover_429_retry_after_is_honoured(falcon_api, tmp_path):
    api = falcon_api()
    api.rate_limit_discover(times=2, retry_after=0.3)
    api.empty_discovers(1)  # then one "appId busy" answer: back off and ask again
    published = api.publish(0, 6)
    with Run(api, tmp_path) as run:
        wait_for(lambda: run.committed().get("0") == 5, "delivered after the 429s")
    assert api.discover_429s == 2
    assert api.retry_after_violations == 0  # no discover came back before Retry-After
    assert api.discover_calls >= 4
    assert_exactly_once(run.sink, "0", published)


# -- (5) several partitions ---------------------------------------------------------------
def test_partitions_keep_separate_offsets(falcon_api, tmp_path):
    api = falcon_api(partitions=3)
    pub = {0: api.publish(0, 5), 1: api.publish(1, 12), 2: []}
    with Run(api, tmp_path) as run:
        wait_for(lambda: run.committed() == {"0": 4, "1": 11}, "both partitions delivered")
        api.drop(1)
        pub[1] += api.publish(1, 3)
        pub[2] += api.publish(2, 2)
        wait_for(lambda: run.committed() == {"0": 4, "1": 14, "2": 1}, "after the drop")
    for p in range(3):
        assert_exactly_once(run.sink, str(p), pub[p])
        assert metrics.value("shippers_stream_offset", {"partition": str(p)}) == pub[p][-1]
    reconnects = [c for c in api.connects if c.partition == 1 and c.status == 200]
    assert [c.offset for c in reconnects] == [None, 12]
    assert len([c for c in api.connects if c.partition == 0]) == 1  # untouched by the drop


def test_partition_filter(falcon_api, tmp_path):
    api = falcon_api(partitions=3)
    pub = {p: api.publish(p, 3) for p in range(3)}
    with Run(api, tmp_path, partitions=[0, 2]) as run:
        wait_for(lambda: run.committed() == {"0": 2, "2": 2}, "selected partitions")
    assert {c.partition for c in api.connects} == {0, 2}
    assert run.sink.offsets("1") == []
    assert_exactly_once(run.sink, "2", pub[2])


# -- (6) token refresh before expiry ------------------------------------------------------
def test_token_and_session_refreshed_before_expiry(falcon_api, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    api = falcon_api(token_ttl_s=2.0, session_interval_s=2.0)
    published = api.publish(0, 3)
    with Run(api, tmp_path, refresh_fraction=0.4, token_refresh_fraction=0.5) as run:
        wait_for(lambda: api.tokens_issued >= 3, "three tokens")
        wait_for(lambda: len(api.refreshes) >= 3, "three session refreshes")
        published += api.publish(0, 3)
        wait_for(lambda: run.committed().get("0") == 5, "events still flowing")
    assert api.expired_token_uses == 0  # every Bearer call carried a live token
    assert api.refresh_failures == 0
    assert len([c for c in api.connects if c.status == 200]) == 1  # the session never lapsed
    assert_exactly_once(run.sink, "0", published)
    for s in secrets_of(api):
        assert s not in caplog.text


def test_revoked_token_is_replaced_on_401(falcon_api, tmp_path):
    api = falcon_api(session_interval_s=1.0)  # tokens live long; sessions refresh often
    published = api.publish(0, 3)
    with Run(api, tmp_path, refresh_fraction=0.2) as run:
        wait_for(lambda: len(api.refreshes) >= 2, "session refreshes")
        assert api.tokens_issued == 1
        api.revoke_tokens()
        n = len(api.refreshes)
        wait_for(lambda: len(api.refreshes) >= n + 2, "refreshes after the revocation")
        published += api.publish(0, 3)
        wait_for(lambda: run.committed().get("0") == 5, "events still flowing")
    assert api.unknown_token_uses == 1  # the revoked token was refused once, then replaced
    assert api.tokens_issued == 2
    assert api.refresh_failures == 0
    assert_exactly_once(run.sink, "0", published)


# -- host trust -----------------------------------------------------------------------------
def test_feed_on_a_foreign_host_is_refused_unless_allowed(falcon_api, tmp_path):
    api = falcon_api(feed_host="localhost")  # API on 127.0.0.1, feed elsewhere
    published = api.publish(0, 4)
    run = Run(api, tmp_path)
    with run:
        wait_for(lambda: run.pipeline.errors, "the source gives up")
    assert isinstance(run.pipeline.errors[0], HostRejected)
    assert "allow_hosts" in str(run.pipeline.errors[0])
    assert api.connects == []  # no session token was sent to the foreign host

    with Run(api, tmp_path, allow_hosts=["localhost"]) as run2:
        wait_for(lambda: run2.committed().get("0") == 3, "delivered with allow_hosts")
    assert_exactly_once(run2.sink, "0", published)


def test_once_stops_when_the_stream_is_idle(falcon_api, tmp_path):
    api = falcon_api()
    published = api.publish(0, 9)
    run = Run(api, tmp_path, once_idle_s=0.3)
    code = run.pipeline.run(once=True)
    assert code == 0
    assert_exactly_once(run.sink, "0", published)
    assert run.committed() == {"0": 8}
