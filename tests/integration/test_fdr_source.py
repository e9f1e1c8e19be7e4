"""falcon-fdr source against real S3 (SeaweedFS) and SQS (moto), in process.

Covers: FDR message → lookups first → enriched events; raw + normalized archive written
with deterministic keys; message deleted only after delivery; S3 event notifications
(URL-encoded keys) and SNS wrapping; checksum verification; the gzip-bomb guard; metrics.
"""

from __future__ import annotations

import gzip
import json
from urllib.parse import quote_plus

import pytest

from shippers import metrics
from shippers.options import build_options
from shippers.plugin import Context
from shippers.sinks.archive import ArchiveOptions, ArchiveSink
from shippers.sinks.dead_letter import DeadLetterSink
from tests.integration.test_fdr_support import (
    EVENT_FILES,
    CollectSink,
    Env,
    aidmaster_lines,
    corpus_lines,
    expected_ids,
    gz,
    host_name_for,
    start_run,
    user_name_for,
    userinfo_lines,
)

pytestmark = [pytest.mark.s3, pytest.mark.sqs]


def _archive_sink(env: Env, tmp_path) -> ArchiveSink:
    ctx = Context(dead_letter=DeadLetterSink(tmp_path / "archive-dl.ndjson"))
    return ArchiveSink(build_options(ArchiveOptions, env.archive_sink_options(), "sinks[0]"), ctx)


def _received(outcome: str) -> float:
    return metrics.value("shippers_sqs_messages_total", {"outcome": outcome})


def test_fdr_message_end_to_end_with_archive_and_enrichment(env, tmp_path):
    all_lines = [ln for name in EVENT_FILES for ln in corpus_lines(name)]
    files = [
        env.put(f"data/batch1/part-{i:05d}.gz", gz(corpus_lines(name)))
        for i, name in enumerate(EVENT_FILES)
    ]
    # Lookup files listed *after* the data files: the source must still load them first.
    files.append(env.put("fdrv2/aidmaster/batch1/part-00000.gz", gz(aidmaster_lines(all_lines))))
    files.append(env.put("fdrv2/userinfo/batch1/part-00000.gz", gz(userinfo_lines(all_lines))))
    env.send_fdr(files)
    deleted_before = _received("deleted")
    bytes_before = metrics.value("shippers_s3_read_bytes_total")

    collect = CollectSink()
    run = start_run(tmp_path, env.source_options(), [_archive_sink(env, tmp_path), collect])
    want = expected_ids(all_lines)
    run.wait(lambda: env.queue_counts() == (0, 0) and _received("deleted") > deleted_before)
    run.stop()

    assert set(collect.docs) == want
    assert run.dead_letters() == []
    # Enrichment: every event of a known sensor has its host name, user names by SID.
    with_aid = [d for d in collect.docs.values() if d.get("host", {}).get("id")]
    assert len(with_aid) >= len(want) - 3
    raw_by_id = {}
    from shippers.normalizers import get_normalizer

    n = get_normalizer("falcon")
    for ln in all_lines:
        raw_by_id[n.normalize(ln)[1]] = json.loads(ln)
    enriched_users = 0
    for doc_id, doc in collect.docs.items():
        raw = raw_by_id[doc_id]
        if raw.get("aid"):
            expect = raw.get("ComputerName") or host_name_for(raw["aid"])
            assert doc["host"]["name"] == expect, doc_id
            assert doc["host"]["domain"]  # from the event, else from aidmaster
            assert doc["host"]["mac"] and doc["host"]["ip"]
        sid = raw.get("UserSid")
        if sid and not raw.get("UserName") and doc.get("user", {}).get("id") == sid:
            enriched_users += 1
            assert doc["user"]["name"] == user_name_for(sid)
            assert user_name_for(sid) in doc["related"]["user"]
    assert enriched_users >= 5

    # Raw archive: every object, unchanged, under raw/falcon/YYYY/MM/DD/HH/<original key>.
    raw_keys = env.keys(env.archive_bucket, "fdr/raw/falcon/")
    assert sorted(k.split("/", 7)[7] for k in raw_keys) == sorted(f["path"] for f in files)
    for key in raw_keys:
        original = key.split("/", 7)[7]
        a = env.s3.get_object(Bucket=env.archive_bucket, Key=key)["Body"].read()
        b = env.s3.get_object(Bucket=env.src_bucket, Key=original)["Body"].read()
        assert a == b
    # Normalized archive: each document exactly once, Hive layout from @timestamp.
    norm_keys = env.keys(env.archive_bucket, "fdr/normalized/")
    assert norm_keys and all(
        k.startswith("fdr/normalized/source=falcon/dt=")
        and "/hour=" in k
        and k.endswith(".ndjson.gz")
        for k in norm_keys
    )
    archived = env.read_normalized()
    assert sorted(d["_id"] for d in archived) == sorted(
        # The corpus repeats some events: the archive holds each line's document.
        n.normalize(ln)[1]
        for ln in all_lines
    )
    for d in archived:
        dt, hour = d["@timestamp"][:10], d["@timestamp"][11:13]
        assert any(f"dt={dt}/hour={hour}/" in k for k in norm_keys)
    assert metrics.value("shippers_s3_read_bytes_total") - bytes_before >= sum(
        f["size"] for f in files
    )


def test_reprocessing_the_same_message_rewrites_the_same_archive_keys(env, tmp_path):
    lines = corpus_lines("test-windows-a.log")
    body = gz(lines)
    files = [env.put("data/b2/part-00000.gz", body)]
    env.send_fdr(files)
    run = start_run(tmp_path / "a", env.source_options(), [_archive_sink(env, tmp_path)])
    run.wait(
        lambda: env.queue_counts() == (0, 0) and env.keys(env.archive_bucket, "fdr/normalized/")
    )
    run.stop()
    first = {
        k: env.s3.head_object(Bucket=env.archive_bucket, Key=k)["ContentLength"]
        for k in env.keys(env.archive_bucket)
    }

    env.send_fdr(files)  # the same announcement again (a redelivery)
    deleted = _received("deleted")
    run = start_run(tmp_path / "b", env.source_options(), [_archive_sink(env, tmp_path)])
    run.wait(lambda: env.queue_counts() == (0, 0) and _received("deleted") > deleted)
    run.stop()
    second = {
        k: env.s3.head_object(Bucket=env.archive_bucket, Key=k)["ContentLength"]
        for k in env.keys(env.archive_bucket)
    }
    assert second == first
    assert len(env.read_normalized()) == len(lines)


def test_s3_event_notification_and_sns_wrapped(env, tmp_path):
    lines = corpus_lines("test-linux.log")
    key = "data/with space+plus/part 1.gz"
    env.put(key, gz(lines))
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": env.src_bucket}, "object": {"key": quote_plus(key)}},
    }
    env.send(json.dumps({"Records": [record]}))
    key2 = "data/sns/part-2.gz"
    lines2 = corpus_lines("test-data.log")
    env.put(key2, gz(lines2))
    inner = json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": env.src_bucket}, "object": {"key": key2}},
                }
            ]
        }
    )
    env.send(json.dumps({"Type": "Notification", "MessageId": "x", "Message": inner}))

    collect = CollectSink()
    run = start_run(tmp_path, env.source_options(archive_url=""), [collect])
    want = expected_ids(lines) | expected_ids(lines2)
    run.wait(lambda: set(collect.docs) == want and env.queue_counts() == (0, 0))
    run.stop()
    assert run.dead_letters() == []
    paths = {d["log"]["file"]["path"] for d in collect.docs.values()}
    assert paths == {f"s3://{env.src_bucket}/{key}", f"s3://{env.src_bucket}/{key2}"}


def test_checksum_mismatch_is_retried_then_given_up(env, tmp_path):
    entry = env.put("data/bad-sum/part-0.gz", gz(corpus_lines("test-linux.log")))
    entry["checksum"] = "0" * 32
    env.send_fdr([entry])
    given_up = _received("given_up")
    collect = CollectSink()
    run = start_run(tmp_path, env.source_options(max_receive_count=2), [collect])
    run.wait(lambda: env.queue_counts() == (0, 0) and _received("given_up") > given_up)
    run.stop()
    (letter,) = run.dead_letters()
    assert "checksum" in letter["reason"] and letter["stage"] == "source"
    assert letter["detail"]["receive_count"] == 2
    assert json.loads(letter["original"])["files"][0]["path"] == "data/bad-sum/part-0.gz"
    assert collect.docs == {}  # refused before reading: the ETag is the MD5


def test_gzip_bomb_is_refused_and_dead_lettered(env, tmp_path):
    bomb = gzip.compress(b"A" * (40 << 20), compresslevel=9)  # ~40 KB → 40 MiB of one line
    good = corpus_lines("test-linux.log")
    files = [env.put("data/bomb/part-0.gz", bomb), env.put("data/bomb/part-1.gz", gz(good))]
    env.send_fdr(files)
    collect = CollectSink()
    deleted = _received("deleted")
    run = start_run(tmp_path, env.source_options(max_expansion_ratio=50, archive_url=""), [collect])
    run.wait(lambda: env.queue_counts() == (0, 0) and _received("deleted") > deleted)
    run.stop()
    (letter,) = run.dead_letters()
    assert letter["reason"].startswith("gzip expansion limit exceeded")
    assert letter["detail"]["key"] == "data/bomb/part-0.gz"
    # The refusal is final, the rest of the message went on and the message was deleted.
    assert set(collect.docs) == expected_ids(good)
