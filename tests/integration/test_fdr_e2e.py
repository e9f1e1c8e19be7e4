"""End to end through `python -m shippers run`: SQS + S3 → Elasticsearch + S3 archive.

Real services only: SeaweedFS (S3), moto (SQS), Elasticsearch. The shipper runs as a
subprocess from a TOML config, exactly as deployed.

- A corpus FDR batch with aidmaster/userinfo lookups: every event lands in Elasticsearch
  enriched with host.name, raw and normalized archives exist, the message is deleted.
- SIGKILL in the middle of a large object, restart: the message is redelivered and
  Elasticsearch ends with each document exactly once; the archive is complete.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.test_fdr_support import (
    EVENT_FILES,
    Env,
    aidmaster_lines,
    corpus_lines,
    expected_ids,
    gz,
    host_name_for,
    userinfo_lines,
)

pytestmark = [pytest.mark.s3, pytest.mark.sqs, pytest.mark.elasticsearch]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(s3_endpoint, sqs_endpoint):
    return Env.create(s3_endpoint, sqs_endpoint, visibility=4)


def _toml(value: Any) -> str:
    return json.dumps(value)  # JSON strings, numbers and arrays are valid TOML values


def write_config(tmp_path: Path, env: Env, es_url: str, es_prefix: str, **source: Any) -> Path:
    opts = env.source_options(**source)
    lines = [
        f"state_dir = {_toml(str(tmp_path / 'state'))}",
        "[pipeline]",
        "grace_period_s = 20.0",
        "[dead_letter]",
        f"path = {_toml(str(tmp_path / 'dead-letter.ndjson'))}",
        "[[sources]]",
        'type = "falcon-fdr"',
        *(f"{k} = {_toml(v)}" for k, v in opts.items()),
        "[[sinks]]",
        'type = "elasticsearch"',
        f"hosts = [{_toml(es_url)}]",
        f"index_prefix = {_toml(es_prefix)}",
        "retention_days = 36500",  # the corpus is from 2020-2025: never expire it here
        "[[sinks]]",
        'type = "archive"',
        *(f"{k} = {_toml(v)}" for k, v in env.archive_sink_options().items()),
    ]
    path = tmp_path / "shipper.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_shipper(config: Path, log: Path) -> subprocess.Popen[bytes]:
    e = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": str(ROOT),
    }
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "shippers", "run", "--config", str(config)],
            cwd=ROOT,
            env=e,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_shipper(proc: subprocess.Popen[bytes], log: Path) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(
            f"shipper did not stop on SIGTERM:\n{log.read_text()[-3000:]}"
        ) from None


def es_docs(es_url: str, prefix: str) -> list[dict[str, Any]]:
    requests.post(f"{es_url}/{prefix}-*/_refresh", timeout=30)
    out: list[dict[str, Any]] = []
    r = requests.post(
        f"{es_url}/{prefix}-*/_search?scroll=1m",
        json={"size": 5000, "query": {"match_all": {}}},
        timeout=60,
    )
    r.raise_for_status()
    body = r.json()
    while body["hits"]["hits"]:
        out += body["hits"]["hits"]
        body = requests.post(
            f"{es_url}/_search/scroll",
            json={"scroll": "1m", "scroll_id": body["_scroll_id"]},
            timeout=60,
        ).json()
    return out


def es_count(es_url: str, prefix: str) -> int:
    requests.post(f"{es_url}/{prefix}-*/_refresh", timeout=30)
    r = requests.get(f"{es_url}/{prefix}-*/_count", timeout=30)
    return int(r.json().get("count", 0)) if r.ok else 0


def wait_for(cond: Any, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if proc.poll() is not None:
            raise AssertionError(f"shipper exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    raise AssertionError(f"timed out:\n{log.read_text()[-3000:]}")


# Every corpus FDR file, test-fdr.log included (its unsigned 64-bit RawProcessId stays
# vendor text instead of an out-of-range process.pid).
ES_EVENT_FILES = EVENT_FILES


def test_fdr_to_elasticsearch_end_to_end(env, es_url, es_prefix, tmp_path):
    all_lines = [ln for name in ES_EVENT_FILES for ln in corpus_lines(name)]
    files = [
        env.put(f"data/e2e/part-{i:05d}.gz", gz(corpus_lines(n)))
        for i, n in enumerate(ES_EVENT_FILES)
    ]
    files.append(env.put("fdrv2/aidmaster/e2e/part-00000.gz", gz(aidmaster_lines(all_lines))))
    files.append(env.put("fdrv2/userinfo/e2e/part-00000.gz", gz(userinfo_lines(all_lines))))
    env.send_fdr(files, prefix="data/e2e")
    want = expected_ids(all_lines)

    log = tmp_path / "shipper.log"
    proc = start_shipper(write_config(tmp_path, env, es_url, es_prefix), log)
    try:
        wait_for(
            lambda: es_count(es_url, es_prefix) >= len(want) and env.queue_counts() == (0, 0),
            120,
            proc,
            log,
        )
    finally:
        code = stop_shipper(proc, log)
    assert code == 0, log.read_text()[-3000:]

    hits = es_docs(es_url, es_prefix)
    assert sorted(h["_id"] for h in hits) == sorted(want)  # each event once
    raw = {}
    from shippers.normalizers import get_normalizer

    n = get_normalizer("falcon")
    for ln in all_lines:
        raw[n.normalize(ln)[1]] = json.loads(ln)
    for h in hits:
        src, line = h["_source"], raw[h["_id"]]
        if line.get("aid"):
            assert src["host"]["name"] == (line.get("ComputerName") or host_name_for(line["aid"]))
        assert h["_index"].startswith(f"{es_prefix}-falcon-")
    assert sum(1 for h in hits if h["_source"].get("host", {}).get("name")) >= len(want) - 3
    assert (
        not (tmp_path / "dead-letter.ndjson").exists()
        or not (tmp_path / "dead-letter.ndjson").read_text().strip()
    )
    # Archives: raw copies of every object; normalized holds every line's document.
    raw_keys = env.keys(env.archive_bucket, "fdr/raw/falcon/")
    assert sorted(k.split("/", 7)[7] for k in raw_keys) == sorted(f["path"] for f in files)
    assert {d["_id"] for d in env.read_normalized()} == want
    assert env.queue_counts() == (0, 0)


def _big_object(n_copies: int) -> tuple[bytes, set[str]]:
    """The Windows corpus repeated with unique event ids: one large FDR data object."""
    base = [json.loads(ln) for ln in corpus_lines("test-windows-a.log")]
    lines = []
    for i in range(n_copies):
        for rec in base:
            lines.append(json.dumps({**rec, "id": f"{rec['id']}-{i}"}).encode())
    return gz(lines), expected_ids(lines)


def test_sigkill_mid_object_then_restart_delivers_exactly_once(env, es_url, es_prefix, tmp_path):
    data, want = _big_object(300)  # ~18k events
    files = [env.put("data/big/part-00000.gz", data)]
    env.send_fdr(files, prefix="data/big")
    config = write_config(tmp_path, env, es_url, es_prefix, workers=1, batch_lines=500)

    log = tmp_path / "shipper.log"
    proc = start_shipper(config, log)
    # Kill once Elasticsearch holds part of the object: mid-object by construction.
    wait_for(lambda: es_count(es_url, es_prefix) > 0, 120, proc, log)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = es_count(es_url, es_prefix)
    assert 0 < partial < len(want), "the kill did not land mid-object"
    assert env.queue_counts() == (0, 1)  # the message is still in flight, not deleted

    proc = start_shipper(config, log)  # same state dir; the message comes back after 4 s
    try:
        wait_for(
            lambda: env.queue_counts() == (0, 0) and es_count(es_url, es_prefix) >= len(want),
            180,
            proc,
            log,
        )
    finally:
        code = stop_shipper(proc, log)
    assert code == 0, log.read_text()[-3000:]
    hits = es_docs(es_url, es_prefix)
    ids = [h["_id"] for h in hits]
    assert len(ids) == len(set(ids)) == len(want)  # exactly once
    assert set(ids) == want
    archived = [d["_id"] for d in env.read_normalized()]
    assert len(archived) == len(set(archived)) and set(archived) == want  # complete, no dupes
    (raw_key,) = env.keys(env.archive_bucket, "fdr/raw/falcon/")
    assert env.s3.get_object(Bucket=env.archive_bucket, Key=raw_key)["Body"].read() == data


def test_sigterm_returns_the_message_at_once_and_next_start_ships_the_rest(
    s3_endpoint, sqs_endpoint, es_url, es_prefix, tmp_path
):
    # A long visibility timeout: the message can only come back early if the shipper
    # returns it (visibility 0) on SIGTERM.
    env = Env.create(s3_endpoint, sqs_endpoint, visibility=120)
    data, want = _big_object(300)  # ~18k events
    files = [env.put("data/big/part-00000.gz", data)]
    env.send_fdr(files, prefix="data/big")
    config = write_config(
        tmp_path, env, es_url, es_prefix, workers=1, batch_lines=500, visibility_timeout_s=120
    )
    log = tmp_path / "shipper.log"
    proc = start_shipper(config, log)
    wait_for(lambda: es_count(es_url, es_prefix) > 0, 120, proc, log)
    code = stop_shipper(proc, log)
    assert code == 0, log.read_text()[-3000:]
    partial = es_count(es_url, es_prefix)
    assert 0 < partial < len(want), "SIGTERM did not land mid-object"
    # returned, not deleted and not left invisible for the 120 s timeout
    deadline = time.monotonic() + 10
    while env.queue_counts() != (1, 0) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert env.queue_counts() == (1, 0)

    proc = start_shipper(config, log)
    try:
        wait_for(
            lambda: env.queue_counts() == (0, 0) and es_count(es_url, es_prefix) >= len(want),
            180,
            proc,
            log,
        )
    finally:
        code = stop_shipper(proc, log)
    assert code == 0
    ids = [h["_id"] for h in es_docs(es_url, es_prefix)]
    assert len(ids) == len(set(ids)) == len(want) and set(ids) == want
    letters = tmp_path / "dead-letter.ndjson"
    assert not letters.exists() or not letters.read_text().strip()
