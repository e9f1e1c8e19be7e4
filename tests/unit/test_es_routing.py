"""Bulk item encoding, event-date routing, retention selection and secret redaction."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from shippers.errors import ConfigError
from shippers.es_bulk import EncodeError, encode, event_time
from shippers.es_client import ElasticsearchOptions, redact
from shippers.options import build_options
from shippers.record import Provenance, Record
from shippers.retention import expired_indices


def _rec(doc, source_type="falcon"):
    return Record(doc, "id-1", Provenance("s", "mem://x", 0), source_type=source_type)


@pytest.mark.parametrize(
    ("ts", "index_day"),
    [
        ("2024-03-01T23:30:00Z", "2024.03.01"),
        ("2024-03-01T23:30:00.123456789Z", "2024.03.01"),  # nanoseconds
        ("2024-03-01T23:30:00-02:00", "2024.03.02"),  # UTC day, not the local one
        ("2024-03-02T00:30:00+01:00", "2024.03.01"),
    ],
)
def test_index_is_chosen_by_the_utc_event_day(ts, index_day):
    item = encode(_rec({"@timestamp": ts, "event": {"kind": "event"}}), "shippers")
    assert item.index == f"shippers-falcon-{index_day}"


def test_item_bytes_are_a_create_action_and_the_document_without_id():
    doc = {"@timestamp": "2024-03-01T00:00:00Z", "_id": "dup", "event": {"kind": "event"}}
    item = encode(_rec(doc, "panos"), "p")
    action, body, tail = item.data.split(b"\n")
    assert tail == b""
    assert orjson.loads(action) == {"create": {"_index": "p-panos-2024.03.01", "_id": "id-1"}}
    assert orjson.loads(body) == {"@timestamp": "2024-03-01T00:00:00Z", "event": {"kind": "event"}}
    assert item.doc_bytes == body
    assert "_id" in doc  # the record's document itself is left alone


@pytest.mark.parametrize("ts", [None, 17, "yesterday", "2024-03-01T00:00:00"])
def test_unusable_timestamp_is_an_encode_error(ts):
    with pytest.raises(EncodeError):
        encode(_rec({"@timestamp": ts}), "p")


def test_event_time_is_utc():
    assert event_time({"@timestamp": "2024-01-01T01:00:00+01:00"}) == datetime(
        2024, 1, 1, tzinfo=UTC
    )


def test_retention_selects_exactly_the_days_that_ended_before_the_window():
    now = datetime(2024, 5, 20, 10, 0, tzinfo=UTC)
    names = [
        "shippers-falcon-2024.05.05",  # ended 05-06T00:00 < 05-06T10:00: expired
        "shippers-falcon-2024.05.06",  # ends 05-07: inside the window
        "shippers-panos-2023.12.31",
        "shippers-panos-2024.05.20",
        "shippers-x-falcon-2024.01.01",  # another prefix that merely starts the same
        "shippers-falcon-2024.13.45",  # not a date
        "shippers-falcon-latest",
        "other-falcon-2020.01.01",
    ]
    assert expired_indices(names, "shippers", 14, now) == [
        "shippers-falcon-2024.05.05",
        "shippers-panos-2023.12.31",
    ]


def test_secrets_are_redacted_and_not_in_repr():
    opts = build_options(
        ElasticsearchOptions,
        {"hosts": ["https://elastic:s3cr3t-pw@es.example:9200"], "api_key": ""},
        "sinks[0]",
    )
    assert "s3cr3t-pw" not in repr(opts)
    assert redact("GET https://elastic:s3cr3t-pw@es.example failed", opts).count("s3cr3t") == 0
    opts2 = ElasticsearchOptions(api_key="QUJDOkRFRg==")
    assert "QUJDOkRFRg==" not in repr(opts2)
    assert redact("key QUJDOkRFRg== refused", opts2) == "key *** refused"


def test_options_are_validated_with_key_paths():
    with pytest.raises(ConfigError, match=r"sinks\[0\]\.hosts\[0\]"):
        build_options(ElasticsearchOptions, {"hosts": ["es.example:9200"]}, "sinks[0]")
    with pytest.raises(ConfigError, match=r"sinks\[0\]\.batch_docs"):
        build_options(ElasticsearchOptions, {"batch_docs": 0}, "sinks[0]")
    with pytest.raises(ConfigError) as e:
        build_options(ElasticsearchOptions, {"hosts": ["http://u:pw-xyz@h:1"], "batch_docs": 0},
                      "s")  # fmt: skip
    assert "pw-xyz" not in str(e.value)


@pytest.mark.parametrize(
    "ts",
    ["2024-03-01T23:30:00Z", "2024-03-01T23:30:00.5Z", "2024-12-31T00:00:00.123456789Z",
     "2024-03-01T23:30:00+00:00", "2024-03-01T23:30:00-05:00"],
)  # fmt: skip
def test_fast_timestamp_path_agrees_with_the_full_parser(ts):
    item = encode(_rec({"@timestamp": ts}), "p")
    when = event_time({"@timestamp": ts})
    assert item.index == f"p-falcon-{when:%Y.%m.%d}"
    assert item.event_ts == pytest.approx(when.timestamp(), abs=1e-6)


def test_index_prefix_must_be_a_valid_index_name() -> None:
    from shippers.config import parse_config

    def sink(prefix: str) -> dict:
        return {"type": "elasticsearch", "hosts": ["http://127.0.0.1:9200"], "index_prefix": prefix}

    src = {"type": "files", "paths": ["x"], "format": "panos"}
    assert parse_config({"sources": [src], "sinks": [sink("logs-sec")]}).sinks[0].options
    for bad in ("Logs", "a b", 'q"x', "_x", "a/b", "a:b"):
        with pytest.raises(ConfigError) as e:
            parse_config({"sources": [src], "sinks": [sink(bad)]})
        assert e.value.path == "sinks[0].index_prefix" and e.value.value == bad
