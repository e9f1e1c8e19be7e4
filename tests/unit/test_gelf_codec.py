"""GELF codec rules: naming, flattening, level, summary, size guards, chunking."""

from __future__ import annotations

import gzip
import zlib

import orjson
import pytest

from shippers import gelf_codec as g
from shippers.normalizers import get_normalizer
from tests.golden import CORPUS
from tests.services.gelf_receiver import check_message, decode_payload


def test_field_names():
    assert g.field_name("source.ip") == "_source_ip"
    assert g.field_name("@timestamp") == "_ecs_timestamp"
    assert g.field_name("message") == "_ecs_message"
    assert g.field_name("id") == "_ecs_id"
    assert g.field_name("labels.a b/c") == "_labels_a_b_c"


def test_flatten_rules():
    doc = {
        "_id": "not-a-field",
        "related": {"ip": ["10.0.0.1", "10.0.0.2"], "user": []},
        "threat": {"technique": [{"id": "T1059"}, {"id": "T1105"}]},
        "labels": {"nat": True, "none": None},
        "process": {"pid": 2**64 - 1, "args_count": 3, "x": float("nan")},
        "a": {"b_c": "first"},
        "a_b": {"c": "second"},
    }
    out = g.flatten(doc)
    assert out["_related_ip"] == "10.0.0.1,10.0.0.2"
    assert "_related_user" not in out and "_labels_none" not in out
    assert out["_threat_technique_0_id"] == "T1059" and out["_threat_technique_1_id"] == "T1105"
    assert out["_labels_nat"] == "true"
    assert out["_process_pid"] == str(2**64 - 1) and out["_process_args_count"] == 3
    assert out["_process_x"] == "nan"
    # A name collision keeps both values: the later one keeps its dots.
    assert out["_a_b_c"] == "first" and out["_a_b.c"] == "second"
    assert "_id" not in out and "_ecs_id" not in out


@pytest.mark.parametrize(
    ("doc", "level"),
    [
        ({"log": {"level": "critical"}}, 2),
        ({"log": {"level": "informational"}}, 6),
        ({"event": {"severity": 1}}, 2),
        ({"event": {"severity": 5}}, 6),
        ({"event": {"severity": 90}}, 2),
        ({"event": {"severity": 55}}, 4),
        ({}, 6),
    ],
)
def test_level(doc, level):
    assert g.syslog_level(doc) == level


def _first(path: str, fmt: str) -> dict:
    line = (CORPUS / path).read_bytes().split(b"\n", 1)[0]
    return get_normalizer(fmt).normalize(line)[0]


def test_short_messages_from_real_documents():
    traffic = _first("panw-panos/test-panw-panos-traffic-sample.log", "panos")
    assert g.short_message(traffic, "panos") == (
        "TRAFFIC allow 192.168.15.207:55113 → 175.16.199.1:443 tcp"
    )
    threat = _first("panw-panos/test-panw-panos-threat-sample.log", "panos")
    assert g.short_message(threat, "panos").startswith("THREAT url block-url ")
    proc = {
        "event": {"action": "ProcessRollup2"},
        "process": {"executable": "/usr/bin/curl"},
        "user": {"name": "alice"},
        "host": {"hostname": "mac-042"},
    }
    assert g.short_message(proc, "falcon") == "ProcessRollup2 /usr/bin/curl by alice on mac-042"


def test_message_is_valid_gelf_and_keeps_the_id():
    doc = _first("crowdstrike-fdr/test-fdr.log", "falcon")
    msg = g.build_message(doc, "abc123", source_type="falcon", default_host="h")
    assert check_message(msg) == []
    assert msg["_shippers_id"] == "abc123"
    assert msg["timestamp"] == pytest.approx(1625677521.162)


def test_term_limit_truncates_with_marker():
    msg = g.build_message({"event": {"original": "x" * 40_000}}, "i", max_term_bytes=32_766)
    assert len(msg["_event_original"]) == 32_766
    assert msg["_shippers_truncated"] == "_event_original"


def test_frame_limit_cuts_largest_fields():
    doc = {"crowdstrike": {f"f{i}": "y" * 30_000 for i in range(100)}}  # ~3 MB
    msg = g.build_message(doc, "i", max_message_bytes=2 * 1024 * 1024)
    assert len(g.encode(msg)) <= 2 * 1024 * 1024
    cut = msg["_shippers_truncated"].split(",")
    assert cut and all(len(msg[c]) < 30_000 for c in cut)


def test_frame_limit_impossible_raises():
    doc = {"f": {str(i): i for i in range(20_000)}}  # many tiny numeric fields
    with pytest.raises(g.GelfTooLarge):
        g.build_message(doc, "i", max_message_bytes=64 * 1024)


@pytest.mark.parametrize("method", ["zlib", "gzip", "none"])
def test_chunking_and_compression(method):
    payload = g.encode(g.build_message({"a": {"b": "z" * 50_000}}, "i"))
    data = g.compress(payload, method)
    assert (method != "gzip") or data[:2] == b"\x1f\x8b"
    assert (method != "zlib") or zlib.decompress(data) == payload
    ids = g.MessageIds()
    chunks = g.chunk(data, 600, ids.next())
    if len(data) <= 600:
        assert chunks == [data]
        return
    assert all(len(c) <= 600 and c[:2] == b"\x1e\x0f" for c in chunks)
    assert len({c[2:10] for c in chunks}) == 1
    assert [c[10] for c in chunks] == list(range(len(chunks)))
    assert {c[11] for c in chunks} == {len(chunks)}
    joined = b"".join(c[12:] for c in chunks)
    assert decode_payload(joined) == orjson.loads(payload)


def test_more_than_128_chunks_is_refused():
    with pytest.raises(g.GelfTooLarge):
        g.chunk(b"x" * (129 * 500), 512, b"12345678")
    assert len(g.chunk(b"x" * (128 * 500), 512, b"12345678")) == 128


def test_message_ids_are_unique():
    ids = g.MessageIds()
    assert len({ids.next() for _ in range(10_000)}) == 10_000
    assert gzip.decompress(g.compress(b"{}", "gzip")) == b"{}"


def test_graylog_content_pack_matches_the_field_rule():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "dashboards" / "graylog"
    pack = orjson.loads((root / "content_pack.json").read_bytes())
    inputs = [e["data"] for e in pack["entities"] if e["type"]["name"] == "input"]
    kinds = {d["type"]["@value"].rsplit(".", 1)[1] for d in inputs}
    assert kinds == {"GELFUDPInput", "GELFTCPInput", "GELFHttpInput"}
    streams = [e["data"] for e in pack["entities"] if e["type"]["name"] == "stream"]
    # Graylog strips the leading "_" of a GELF additional field.
    want_field = g.field_name("event.module")[1:]
    for s in streams:
        (rule,) = s["stream_rules"]
        assert rule["field"]["@value"] == want_field
    assert {s["stream_rules"][0]["value"]["@value"] for s in streams} == {"crowdstrike", "panw"}
    index_set = orjson.loads((root / "index_set.json").read_bytes())
    assert index_set["rotation_strategy"]["rotation_period"] == "P1D"
    assert index_set["retention_strategy"]["max_number_of_indices"] == 14
