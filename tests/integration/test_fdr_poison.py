"""Poison SQS messages end in the dead-letter sink and never block the good ones.

Real SeaweedFS + moto. An invalid body is dead-lettered at once (it cannot get better);
a missing object and a corrupt gzip are retried until `max_receive_count`, then recorded
with their error and deleted. A good message sent alongside is delivered meanwhile.
"""

from __future__ import annotations

import json

import pytest

from shippers import metrics
from tests.integration.test_fdr_support import (
    CollectSink,
    corpus_lines,
    expected_ids,
    gz,
    start_run,
)

pytestmark = [pytest.mark.s3, pytest.mark.sqs]


def _corrupt_gzip(lines: list[bytes]) -> bytes:
    data = bytearray(gz(lines))
    data[10] |= 0b110  # first deflate block type 3 (reserved): "invalid block type"
    return bytes(data)


def test_poison_messages_are_dead_lettered_after_receive_count(env, tmp_path):
    good_lines = corpus_lines("test-windows-a.log")
    bad_json = "{not json"
    env.send(bad_json)
    env.send_fdr([{"path": "data/gone/part-0.gz", "size": 10}], prefix="data/gone")
    corrupt = env.put("data/corrupt/part-0.gz", _corrupt_gzip(corpus_lines("test-fdr.log")))
    env.send_fdr([corrupt], prefix="data/corrupt")
    good = env.put("data/good/part-0.gz", gz(good_lines))
    env.send_fdr([good], prefix="data/good")
    given_up = metrics.value("shippers_sqs_messages_total", {"outcome": "given_up"})

    collect = CollectSink()
    # One worker: the poison messages come first in the queue and still cannot block.
    opts = env.source_options(max_receive_count=3, workers=1, archive_url="")
    run = start_run(tmp_path, opts, [collect])
    want = expected_ids(good_lines)
    run.wait(lambda: want <= set(collect.docs))
    run.wait(lambda: env.queue_counts() == (0, 0) and len(run.dead_letters()) >= 3)
    run.stop()

    letters = run.dead_letters()
    by_body = {ln["original"]: ln for ln in letters}
    assert len(letters) == 3, letters
    assert by_body[bad_json]["reason"].startswith("invalid SQS message: message body is not JSON")
    assert by_body[bad_json]["detail"]["receive_count"] == 1
    gone = next(ln for ln in letters if "data/gone" in ln["original"])
    assert "cannot read object" in gone["reason"] and "data/gone/part-0.gz" in gone["reason"]
    assert gone["detail"]["receive_count"] == 3
    bad_gz = next(ln for ln in letters if "data/corrupt" in ln["original"])
    assert "read failed" in bad_gz["reason"] and bad_gz["detail"]["receive_count"] == 3
    assert json.loads(bad_gz["original"])["files"][0]["path"] == "data/corrupt/part-0.gz"
    assert all(ln["stage"] == "source" for ln in letters)
    assert metrics.value("shippers_sqs_messages_total", {"outcome": "given_up"}) - given_up == 3
    assert want <= set(collect.docs)
