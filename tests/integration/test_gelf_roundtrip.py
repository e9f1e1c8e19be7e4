"""GELF sink → the spec receiver over UDP, TCP and HTTP: every document arrives intact.

The whole shared corpus is normalized with the real normalizers; the receiver decodes what
arrives (its own chunk reassembly and decompression, written from the spec) and each
message is compared field by field with the documented flattening rule, implemented here
independently of `shippers.gelf_codec`.
"""

from __future__ import annotations

import collections
import os
import threading
from typing import Any

import orjson
import pytest

from shippers import metrics
from shippers.normalizers import get_normalizer
from shippers.pipeline import normalize_one
from shippers.plugin import Context
from shippers.record import DeadLetter, Provenance, Record
from shippers.sinks.dead_letter import DeadLetterSink
from shippers.sinks.gelf import GelfOptions, GelfSink
from tests.golden import CORPUS

pytestmark = pytest.mark.gelf

RESERVED = {"id", "message", "full_message", "short_message", "source", "timestamp", "level",
            "facility", "line", "file", "version", "host", "streams"}  # fmt: skip


def expected_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The documented rule: `_` + path with dots → `_`; reserved names get `ecs_`;
    scalar arrays joined with ","; object arrays indexed; bools and integers beyond 64 bits
    as text; nulls dropped."""
    out: dict[str, Any] = {}

    def name(path: str) -> str:
        n = path.lstrip("@").replace(".", "_")
        return f"_ecs_{n}" if n in RESERVED else f"_{n}"

    def walk(path: str, v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                walk(f"{path}.{k}" if path else k, x)
        elif isinstance(v, list):
            if v and all(not isinstance(x, (dict, list)) for x in v):
                out[name(path)] = ",".join(
                    ("true" if x else "false") if isinstance(x, bool) else str(x)
                    for x in v
                    if x is not None
                )
            else:
                for i, x in enumerate(v):
                    walk(f"{path}.{i}", x)
        elif isinstance(v, bool):
            out[name(path)] = "true" if v else "false"
        elif isinstance(v, int) and not -(2**63) <= v < 2**63:
            out[name(path)] = str(v)  # beyond a signed 64-bit long: as text
        elif v is not None:
            out[name(path)] = v

    for k, v in doc.items():
        if k != "_id":
            walk(k, v)
    return out


def corpus_records() -> list[Record]:
    records = []
    for family, fmt in (("crowdstrike-fdr", "falcon"), ("panw-panos", "panos")):
        normalizer = get_normalizer(fmt)
        for path in sorted((CORPUS / family).glob("*.log")):
            for i, line in enumerate(path.read_bytes().splitlines()):
                if not line.strip():
                    continue
                out = normalize_one(normalizer, line, Provenance("files", str(path), i))
                if isinstance(out, DeadLetter):
                    continue  # not the sink's concern; the normalizer tests cover these
                records.append(out)
    return records


@pytest.fixture(scope="module")
def records() -> list[Record]:
    recs = corpus_records()
    assert len(recs) > 500
    return recs


def make_sink(tmp_path, transport: str, receiver, **kw) -> tuple[GelfSink, Context]:
    port = {"udp": receiver.udp_port, "tcp": receiver.tcp_port, "http": receiver.http_port}
    ctx = Context(dead_letter=DeadLetterSink(tmp_path / "dead.ndjson"), state_dir=tmp_path)
    opts = GelfOptions(transport=transport, port=port[transport], source_host="test-host", **kw)
    return GelfSink(opts, ctx), ctx


def check_intact(received: list[dict[str, Any]], records: list[Record]) -> None:
    by_id: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for m in received:
        by_id[m["_shippers_id"]].append(m)
    want = collections.Counter(r.doc_id for r in records)
    assert {k: len(v) for k, v in by_id.items()} == dict(want)
    # A few corpus events share an id (same event in two sample files): compare per id as
    # multisets of field sets.
    want_by_id: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in records:
        want_by_id[r.doc_id].append(expected_fields(r.doc))
    key = lambda d: orjson.dumps(d, option=orjson.OPT_SORT_KEYS)  # noqa: E731
    for doc_id, msgs in by_id.items():
        extras = [
            {k: v for k, v in m.items() if k.startswith("_") and k != "_shippers_id"} for m in msgs
        ]
        assert sorted(extras, key=key) == sorted(want_by_id[doc_id], key=key), doc_id
        for msg in msgs:
            assert msg["version"] == "1.1"
            assert msg["short_message"].strip()
            assert isinstance(msg["timestamp"], float | int) and msg["timestamp"] > 1e9
            assert 0 <= msg["level"] <= 7


@pytest.mark.parametrize(
    ("transport", "options"),
    [
        ("udp", {"compression": "zlib"}),
        ("udp", {"compression": "gzip", "chunk_size": 1420}),
        ("udp", {"compression": "none", "chunk_size": 1420}),
        ("tcp", {}),
        ("http", {}),
    ],
    ids=["udp-zlib", "udp-gzip-chunked", "udp-plain-chunked", "tcp", "http"],
)
def test_corpus_round_trip(tmp_path, gelf_receiver, records, transport, options):
    sink, ctx = make_sink(tmp_path, transport, gelf_receiver, **options)
    before = metrics.value("shippers_events_delivered_total", {"source": "files", "sink": "gelf"})
    for i in range(0, len(records), 100):
        sink.write(records[i : i + 100])
    sink.close()
    assert gelf_receiver.wait_for(len(records), 60)
    assert not gelf_receiver.errors, gelf_receiver.errors[:5]
    assert {t for t, _ in gelf_receiver.messages} == {transport}
    check_intact([m for _, m in gelf_receiver.messages], records)
    delivered = metrics.value(
        "shippers_events_delivered_total", {"source": "files", "sink": "gelf"}
    )
    assert delivered - before == len(records)
    assert ctx.dead_letter.count == 0
    if options.get("chunk_size") == 1420:
        assert gelf_receiver.chunked_messages > 0  # some corpus documents needed chunks


def _large_doc(n_fields: int, field_bytes: int) -> dict[str, Any]:
    # Hex of random bytes: compresses only ~2:1, so the message needs many chunks.
    return {
        "@timestamp": "2024-05-01T12:00:00.123456Z",
        "event": {"kind": "event", "action": "LargeEvent"},
        "crowdstrike": {f"blob{i}": os.urandom(field_bytes // 2).hex() for i in range(n_fields)},
    }


def test_large_document_needs_many_chunks_and_arrives_intact(tmp_path, gelf_receiver):
    doc = _large_doc(8, 20_000)  # 160 kB of hex
    rec = Record(doc, "large-1", Provenance("files", "mem", 0), source_type="falcon")
    sink, _ = make_sink(tmp_path, "udp", gelf_receiver, chunk_size=1420)
    sink.write([rec])
    assert gelf_receiver.wait_for(1, 30)
    assert not gelf_receiver.errors
    assert gelf_receiver.max_chunks_seen >= 50
    check_intact([gelf_receiver.messages[0][1]], [rec])


def test_too_many_chunks_goes_to_dead_letter(tmp_path, gelf_receiver):
    doc = _large_doc(20, 30_000)  # ~300 kB of hex → > 128 chunks of 1420 bytes
    rec = Record(doc, "huge-1", Provenance("files", "mem", 0), source_type="falcon")
    ok = Record({"event": {"action": "x"}}, "ok-1", Provenance("files", "mem", 1))
    sink, ctx = make_sink(tmp_path, "udp", gelf_receiver, chunk_size=1420)
    sink.write([rec, ok])
    assert gelf_receiver.wait_for(1, 30)
    assert [m["_shippers_id"] for _, m in gelf_receiver.messages] == ["ok-1"]
    ctx.dead_letter.close()
    (letter,) = [orjson.loads(x) for x in (tmp_path / "dead.ndjson").read_bytes().splitlines()]
    assert "128" in letter["reason"] and letter["stage"] == "deliver"
    assert letter["detail"]["doc_id"] == "huge-1"


def test_oversized_field_is_truncated_with_a_marker(tmp_path, gelf_receiver):
    big = "é" * 20_000  # 40,000 UTF-8 bytes: over the 32,766-byte term limit
    doc = {"event": {"action": "x", "original": big}, "process": {"command_line": "ok"}}
    rec = Record(doc, "trunc-1", Provenance("files", "mem", 0))
    before = metrics.value("shippers_gelf_fields_truncated_total")
    sink, _ = make_sink(tmp_path, "tcp", gelf_receiver)
    sink.write([rec])
    sink.close()
    assert gelf_receiver.wait_for(1, 30)
    msg = gelf_receiver.messages[0][1]
    assert msg["_shippers_truncated"] == "_event_original"
    assert len(msg["_event_original"].encode()) <= 32_766
    assert big.startswith(msg["_event_original"])
    assert msg["_process_command_line"] == "ok"
    assert metrics.value("shippers_gelf_fields_truncated_total") - before == 1


def test_http_errors_are_retried_until_delivered(tmp_path, gelf_receiver, records):
    gelf_receiver.fail_http(3)  # three 503 answers first
    sink, ctx = make_sink(tmp_path, "http", gelf_receiver, retry_initial_s=0.01)
    batch = records[:20]
    sink.write(batch)
    assert gelf_receiver.wait_for(len(batch), 30)
    check_intact([m for _, m in gelf_receiver.messages], batch)
    assert ctx.dead_letter.count == 0


def test_tcp_reconnects_after_the_receiver_drops_the_connection(tmp_path, gelf_receiver, records):
    sink, _ = make_sink(tmp_path, "tcp", gelf_receiver, retry_initial_s=0.01)
    first, second = records[:50], records[50:100]
    sink.write(first)
    assert gelf_receiver.wait_for(len(first), 30)
    gelf_receiver.drop_tcp_connections()
    sink.write(second)  # must notice the closed connection and reconnect
    assert gelf_receiver.wait_for(len(first) + len(second), 30)
    check_intact([m for _, m in gelf_receiver.messages], first + second)


def test_tcp_tls_transport(tmp_path, tls_material, records):
    import ssl

    from tests.services.gelf_receiver import start

    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tls_material["server_cert"], tls_material["server_key"])
    receiver = start(tls=server)
    try:
        sink, _ = make_sink(tmp_path, "tcp", receiver, tls=True, tls_ca=tls_material["ca"])
        batch = records[:30]
        sink.write(batch)
        sink.close()
        assert receiver.wait_for(len(batch), 30)
        assert not receiver.errors
        check_intact([m for _, m in receiver.messages], batch)
    finally:
        receiver.stop()


def test_concurrent_writers_share_one_tcp_connection_safely(tmp_path, gelf_receiver, records):
    sink, _ = make_sink(tmp_path, "tcp", gelf_receiver)
    parts = [records[i::4][:100] for i in range(4)]
    threads = [threading.Thread(target=sink.write, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    total = sum(len(p) for p in parts)
    assert gelf_receiver.wait_for(total, 30)
    assert not gelf_receiver.errors
    check_intact([m for _, m in gelf_receiver.messages], [r for p in parts for r in p])
