"""Parsing of SQS bodies: FDR messages, S3 event notifications, SNS wrapping, rejects."""

from __future__ import annotations

import json

import pytest

from shippers.sources.fdr_messages import MessageError, lookup_kind, parse_message

FDR = {
    "cid": "ffffffff30a3407dae27d0503611022d",
    "timestamp": 1700000000123,
    "fileCount": 3,
    "totalSize": 300,
    "bucket": "cs-prod",
    "pathPrefix": "data/abc",
    "files": [
        {"path": "data/abc/part-00000.gz", "size": 100, "checksum": "A" * 32},
        {"path": "fdrv2/userinfo/abc/part-00000.gz", "size": 100, "checksum": "b" * 64},
        {"path": "fdrv2/aidmaster/abc/part-00000.gz", "size": 100},
    ],
}


def test_fdr_message_lists_lookup_files_first():
    n = parse_message(json.dumps(FDR))
    assert n.kind == "fdr" and n.timestamp_ms == 1700000000123
    assert [o.key for o in n.objects] == [
        "fdrv2/userinfo/abc/part-00000.gz",
        "fdrv2/aidmaster/abc/part-00000.gz",
        "data/abc/part-00000.gz",
    ]
    data = n.objects[2]
    assert (data.bucket, data.size, data.checksum) == ("cs-prod", 100, "a" * 32)
    assert data.url == "s3://cs-prod/data/abc/part-00000.gz" and data.lookup is None
    assert [o.lookup for o in n.objects[:2]] == ["userinfo", "aidmaster"]


def test_s3_event_keys_are_url_decoded_and_non_creates_skipped():
    body = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": "b"},
                    "object": {
                        "key": "data/a+b%2Bc/%C3%A9t%C3%A9.gz",
                        "size": 5,
                        "eTag": "0123456789abcdef0123456789abcdef",
                    },
                },
            },
            {
                "eventName": "ObjectRemoved:Delete",
                "s3": {"bucket": {"name": "b"}, "object": {"key": "x"}},
            },
        ]
    }
    n = parse_message(json.dumps(body))
    (o,) = n.objects
    assert o.key == "data/a b+c/été.gz"
    assert o.size == 5 and o.checksum == "0123456789abcdef0123456789abcdef"


def test_sns_wrapped_fdr_message():
    wrapped = {"Type": "Notification", "MessageId": "m", "Message": json.dumps(FDR)}
    assert len(parse_message(json.dumps(wrapped).encode()).objects) == 3


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "message body is not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"hello": "world"}', "unknown message shape"),
        ('{"Event": "s3:TestEvent"}', "s3:TestEvent"),
        (json.dumps({**FDR, "files": []}), "'files' must be a non-empty list"),
        (json.dumps({**FDR, "fileCount": 2}), "fileCount 2 but 3 files"),
        (
            json.dumps({**FDR, "files": [{"path": "a", "checksum": "xyz"}], "fileCount": 1}),
            "neither hex MD5 nor SHA-256",
        ),
        (
            json.dumps({**FDR, "files": [{"path": "a", "size": "big"}], "fileCount": 1}),
            "size is not an integer",
        ),
        ('{"Records": [{"s3": {}}]}', "lacks eventName"),
        (json.dumps({"Type": "Notification", "Message": "nope"}), "not JSON"),
    ],
)
def test_anything_else_is_a_message_error_with_reason(body, reason):
    with pytest.raises(MessageError) as e:
        parse_message(body)
    assert reason in e.value.reason


def test_lookup_kind_looks_at_directories_only():
    assert lookup_kind("fdrv2/managedassets/x/part-0.gz") == "managedassets"
    assert lookup_kind("aidmaster/part-0.gz") == "aidmaster"
    assert lookup_kind("data/aidmaster") is None
    assert lookup_kind("data/x/part-0.gz") is None
