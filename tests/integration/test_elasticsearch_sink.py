"""The Elasticsearch sink against a real Elasticsearch node (marker `elasticsearch`)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import orjson
import pytest
import requests

from shippers import metrics
from shippers.es_bulk import event_time, index_name
from shippers.schema import schema_errors
from tests.integration.elasticsearch_support import (
    BASE_DAY,
    count,
    indices,
    make_records,
    make_sink,
    search_ids,
    tracked_ack,
)

pytestmark = pytest.mark.elasticsearch


def _delivered(source: str) -> float:
    return metrics.value(
        "shippers_events_delivered_total", {"source": source, "sink": "elasticsearch"}
    )


def test_documents_are_schema_valid():
    for r in make_records(20, "falcon") + make_records(20, "panos"):
        assert schema_errors(r.doc) == []


def test_batches_land_in_event_date_indices_and_ack_after_delivery(es_url, es_prefix, tmp_path):
    falcon_ack, falcon_state = tracked_ack(150, "falcon-unit")
    panos_ack, panos_state = tracked_ack(150, "panos-unit")
    records = make_records(150, "falcon", days=3, ack=falcon_ack) + make_records(
        150, "panos", days=2, ack=panos_ack
    )
    before = _delivered("test-falcon") + _delivered("test-panos")
    t = make_sink(es_url, es_prefix, tmp_path, batch_docs=40, compress=True)
    try:
        t.sink.write(records)
        falcon_ack.seal()
        panos_ack.seal()
        t.sink.flush()
        assert falcon_state == {"settled": True, "failed": False}
        assert panos_state == {"settled": True, "failed": False}
    finally:
        t.close()
    assert count(es_url, es_prefix) == 300
    expected_indices = {index_name(es_prefix, r.source_type, event_time(r.doc)) for r in records}
    assert set(indices(es_url, es_prefix)) == expected_indices
    assert len(expected_indices) == 5
    assert _delivered("test-falcon") + _delivered("test-panos") - before == 300
    assert t.letters() == []
    # _id is the record's deterministic id; it is not repeated inside _source.
    r0 = records[0]
    got = requests.get(
        f"{es_url}/{index_name(es_prefix, 'falcon', event_time(r0.doc))}/_doc/{r0.doc_id}",
        timeout=10,
    ).json()
    assert got["found"] and got["_source"] == r0.doc


def test_partial_batch_is_sent_by_age(es_url, es_prefix, tmp_path):
    """A quiet source: a batch far below batch_docs still goes out after batch_age_s."""
    ack, state = tracked_ack(3)
    t = make_sink(es_url, es_prefix, tmp_path, batch_docs=1000, batch_age_s=0.2)
    try:
        t.sink.write(make_records(3, "panos", ack=ack))
        ack.seal()
        deadline = time.monotonic() + 30
        while not state["settled"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state == {"settled": True, "failed": False}  # without any flush() call
    finally:
        t.close()
    assert count(es_url, es_prefix) == 3


def test_replay_twice_leaves_exactly_one_copy(es_url, es_prefix, tmp_path):
    t = make_sink(es_url, es_prefix, tmp_path, batch_docs=64)
    labels = {"source": "test-falcon", "sink": "elasticsearch"}
    try:
        t.sink.write(make_records(200, "falcon", days=4))
        t.sink.flush()
        dup_before = metrics.value("shippers_events_duplicate_total", labels)
        # The replay: the same input normalized again → new Record objects, same ids.
        ack, state = tracked_ack(200)
        t.sink.write(make_records(200, "falcon", days=4, ack=ack))
        ack.seal()
        t.sink.flush()
        assert state == {"settled": True, "failed": False}
    finally:
        t.close()
    assert count(es_url, es_prefix) == 200
    assert metrics.value("shippers_events_duplicate_total", labels) - dup_before == 200
    assert t.letters() == []


def test_mapping_conflict_is_dead_lettered_while_the_batch_lands(es_url, es_prefix, tmp_path):
    records = make_records(30, "panos")
    bad_ip, bad_port = records[7], records[19]
    bad_ip.doc["source"]["ip"] = "not-an-ip"
    bad_port.doc["destination"]["port"] = "https"
    ack, state = tracked_ack(30)
    for r in records:
        r.ack = ack
    t = make_sink(es_url, es_prefix, tmp_path, batch_docs=100)
    try:
        t.sink.write(records)
        ack.seal()
        t.sink.flush()
    finally:
        t.close()
    assert state == {"settled": True, "failed": False}  # dead-lettered counts as an outcome
    assert count(es_url, es_prefix) == 28
    letters = t.letters()
    assert len(letters) == 2
    by_offset = {x["provenance"]["offset"]: x for x in letters}
    assert set(by_offset) == {7, 19}
    for rec, field in ((bad_ip, "source.ip"), (bad_port, "destination.port")):
        letter = by_offset[rec.provenance.offset]
        assert letter["stage"] == "deliver"
        assert letter["reason"].startswith("elasticsearch rejected (400 document_parsing_exception")
        assert f"[{field}]" in letter["reason"]  # the server's own reason names the field
        assert orjson.loads(letter["original"]) == rec.doc
        assert letter["detail"]["_id"] == rec.doc_id


def test_forced_429_is_retried_and_lands(es_url, es_prefix, tmp_path):
    """The test node's write pool is 1 thread + a queue of 16: a bulk spanning 40 indices
    gets most shard requests rejected with 429 by the server itself."""
    retried = {"status": "429"}
    before = metrics.value("shippers_bulk_items_retried_total", retried)
    ack, state = tracked_ack(400)
    records = make_records(400, "falcon", days=40, ack=ack)
    t = make_sink(es_url, es_prefix, tmp_path, batch_docs=2000, backoff_initial_s=0.05,
                  backoff_max_s=1.0)  # fmt: skip
    try:
        t.sink.write(records)
        ack.seal()
        t.sink.flush()
    finally:
        t.close()
    assert metrics.value("shippers_bulk_items_retried_total", retried) > before
    assert state == {"settled": True, "failed": False}
    assert count(es_url, es_prefix) == 400
    assert len(indices(es_url, es_prefix)) == 40
    assert t.letters() == []


def test_elasticsearch_stopped_mid_run_then_restarted(es_node, es_url, es_prefix, tmp_path):
    """Delivery stalls while the node is down (writers block), then completes exactly once."""
    n, chunk = 3000, 100
    ack, state = tracked_ack(n)
    records = make_records(n, "panos", days=3, ack=ack)
    t = make_sink(es_url, es_prefix, tmp_path, batch_docs=100, max_in_flight=2,
                  backoff_initial_s=0.1, backoff_max_s=1.0)  # fmt: skip
    progress = {"written": 0}

    def producer() -> None:
        for i in range(0, n, chunk):
            t.sink.write(records[i : i + chunk])
            progress["written"] = i + chunk
            time.sleep(0.02)  # a source reading at a steady pace
        ack.seal()
        t.sink.flush()

    worker = threading.Thread(target=producer, daemon=True)
    try:
        worker.start()
        _wait(lambda: progress["written"] >= 500, "first deliveries")
        es_node.stop()
        assert not es_node.healthy()
        _wait(lambda: not t.sink.ready(), "sink noticing the outage")
        written_while_down = progress["written"]
        time.sleep(1.5)
        # Back-pressure: with max_in_flight batches stuck, the producer cannot run ahead
        # (at most the open batch fills up, then write() blocks).
        assert progress["written"] - written_while_down <= 2 * chunk
        assert progress["written"] < n
        assert not state["settled"]
        es_node.start()
        worker.join(timeout=300)
        assert not worker.is_alive()
    finally:
        if not es_node.healthy():
            es_node.start()
        t.close()
    assert state == {"settled": True, "failed": False}
    assert count(es_url, es_prefix) == n
    # Every document exactly once: the set of ids found equals the set written.
    found = search_ids(es_url, es_prefix, {"match_all": {}})
    assert {i for _, i in found} == {r.doc_id for r in records}
    assert t.letters() == []


def test_unreachable_cluster_blocks_and_shutdown_leaves_records_unacked(tmp_path):
    """No server at all: nothing is dropped or dead-lettered; on stop the unit stays unacked."""
    from tests.services import free_port

    url = f"http://127.0.0.1:{free_port()}"
    t = make_sink(url, "nowhere", tmp_path, setup=False, batch_docs=10, batch_age_s=0.1,
                  backoff_max_s=0.2, shutdown_timeout_s=0.5)  # fmt: skip
    ack, state = tracked_ack(5)
    t.sink.write(make_records(5, "falcon", ack=ack))
    ack.seal()
    _wait(lambda: not t.sink.ready(), "the failed connection", timeout=30)
    time.sleep(0.5)  # several retries later: still nothing settled, nothing dead-lettered
    assert not state["settled"]
    t.sink.ctx.stop.set()
    t.close()
    assert state == {"settled": True, "failed": True}
    assert t.letters() == []


def _wait(cond, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_index_date_comes_from_the_event_not_the_arrival(es_url, es_prefix, tmp_path):
    old = BASE_DAY - timedelta(days=400)
    t = make_sink(es_url, es_prefix, tmp_path)
    try:
        t.sink.write(make_records(3, "falcon", start=old))
        t.sink.flush()
    finally:
        t.close()
    assert indices(es_url, es_prefix) == [f"{es_prefix}-falcon-{old:%Y.%m.%d}"]
