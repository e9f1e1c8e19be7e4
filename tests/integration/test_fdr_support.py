"""Helpers of the FDR integration tests (no tests here): corpus objects, queues, runs.

Builds what CrowdStrike would deliver — gzip'd JSON-lines `data/` objects from the shared
corpus plus `fdrv2/aidmaster` and `fdrv2/userinfo` lookup objects written in FDR's
documented field format — uploads them to a real S3 server (SeaweedFS) and announces them
with an FDR message on a real SQS server (moto).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from shippers.normalizers import get_normalizer
from shippers.pipeline import Pipeline
from shippers.plugin import Context, Sink
from shippers.sinks.dead_letter import DeadLetterSink
from shippers.sources.falcon_fdr import FalconFdrOptions, FalconFdrSource
from tests.golden import CORPUS
from tests.services.moto_sqs import sqs_client
from tests.services.seaweedfs import s3_client

FDR_DIR = CORPUS / "crowdstrike-fdr"
EVENT_FILES = ("test-linux.log", "test-windows-a.log", "test-fdr.log")
SQS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def corpus_lines(name: str) -> list[bytes]:
    return [ln for ln in (FDR_DIR / name).read_bytes().splitlines() if ln.strip()]


def host_name_for(aid: str) -> str:
    return f"host-{aid[:8]}"


def user_name_for(sid: str) -> str:
    return f"user-{hashlib.sha1(sid.encode()).hexdigest()[:6]}"


def aidmaster_lines(lines: list[bytes]) -> list[bytes]:
    """One aidmaster record (FDR field names) per sensor id seen in `lines`."""
    aids = sorted({a for ln in lines if (a := json.loads(ln).get("aid"))})
    out = []
    for i, aid in enumerate(aids):
        rec = {
            "aid": aid,
            "cid": "ffffffff30a3407dae27d0503611022d",
            "ComputerName": host_name_for(aid),
            "MachineDomain": "corp.example",
            "event_platform": "Win",
            "Version": "Windows Server 2019",
            "AgentVersion": "7.10.0",
            "FirstSeen": "1600000000.000",
            "Time": "1700000000.000",
            "LocalAddressIP4": f"10.0.{i // 250}.{i % 250 + 1}",
            "MAC": f"00-50-56-00-{i // 256:02x}-{i % 256:02x}",
        }
        out.append(orjson.dumps(rec))
    return out


def userinfo_lines(lines: list[bytes]) -> list[bytes]:
    """One userinfo record per UserSid seen in `lines` (names distinct from the events')."""
    sids = sorted({s for ln in lines if (s := json.loads(ln).get("UserSid"))})
    return [
        orjson.dumps(
            {
                "UserSid": sid,
                "UserName": user_name_for(sid),
                "AccountType": "Domain User",
                "cid": "ffffffff30a3407dae27d0503611022d",
                "LastLoggedOnHost": "h",
            }
        )
        for sid in sids
    ]


def gz(lines: list[bytes]) -> bytes:
    return gzip.compress(b"\n".join(lines) + b"\n", mtime=0)


@dataclass
class Env:
    """One test's buckets, queue and clients (unique names: tests share the servers)."""

    s3_endpoint: str
    sqs_endpoint: str
    src_bucket: str
    archive_bucket: str
    queue_url: str
    s3: Any
    sqs: Any

    @classmethod
    def create(cls, s3_endpoint: str, sqs_endpoint: str, visibility: int = 4) -> Env:
        s3 = s3_client(s3_endpoint)
        sqs = sqs_client(sqs_endpoint)
        src, arch = unique("cs-fdr"), unique("archive")
        s3.create_bucket(Bucket=src)
        s3.create_bucket(Bucket=arch)
        q = sqs.create_queue(
            QueueName=unique("fdr"), Attributes={"VisibilityTimeout": str(visibility)}
        )["QueueUrl"]
        return cls(s3_endpoint, sqs_endpoint, src, arch, q, s3, sqs)

    def put(self, key: str, data: bytes) -> dict[str, Any]:
        """Upload one object; returns its FDR `files[]` entry (path, size, MD5 checksum)."""
        self.s3.put_object(Bucket=self.src_bucket, Key=key, Body=data)
        return {"path": key, "size": len(data), "checksum": hashlib.md5(data).hexdigest()}

    def send_fdr(self, files: list[dict[str, Any]], prefix: str = "data/batch") -> str:
        body = {
            "cid": "ffffffff30a3407dae27d0503611022d",
            "timestamp": int(time.time() * 1000),
            "fileCount": len(files),
            "totalSize": sum(f["size"] for f in files),
            "bucket": self.src_bucket,
            "pathPrefix": prefix,
            "files": files,
        }
        return self.send(json.dumps(body))

    def send(self, body: str) -> str:
        msg_id: str = self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)["MessageId"]
        return msg_id

    def queue_counts(self) -> tuple[int, int]:
        """(visible, in flight) messages of the queue."""
        from tests.services.moto_sqs import queue_counts

        return queue_counts(self.sqs, self.queue_url)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        out: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out += [o["Key"] for o in page.get("Contents", [])]
        return sorted(out)

    def read_normalized(self) -> list[dict[str, Any]]:
        docs = []
        for key in self.keys(self.archive_bucket, "fdr/normalized/"):
            body = self.s3.get_object(Bucket=self.archive_bucket, Key=key)["Body"].read()
            docs += [json.loads(ln) for ln in gzip.decompress(body).splitlines() if ln.strip()]
        return docs

    def source_options(self, **over: Any) -> dict[str, Any]:
        """falcon-fdr options for this env (as in a TOML table)."""
        opts = {
            "queue_url": self.queue_url,
            "region": "us-east-1",
            "sqs_endpoint_url": self.sqs_endpoint,
            "s3_endpoint_url": self.s3_endpoint,
            "wait_time_s": 1,
            "visibility_timeout_s": 4,
            "retry_visibility_s": 0,
            "max_receive_count": 3,
            "workers": 2,
            "archive_url": f"s3://{self.archive_bucket}/fdr",
            "archive_endpoint_url": self.s3_endpoint,
        }
        opts.update(over)
        return opts

    def archive_sink_options(self) -> dict[str, Any]:
        return {
            "url": f"s3://{self.archive_bucket}/fdr",
            "endpoint_url": self.s3_endpoint,
            "region": "us-east-1",
        }


def expected_ids(lines: list[bytes]) -> set[str]:
    n = get_normalizer("falcon")
    return {n.normalize(ln)[1] for ln in lines}


class CollectSink(Sink):
    """A real in-memory sink for in-process runs: keeps (doc_id, doc), acks on write."""

    name = "collect"

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.writes = 0
        self._lock = threading.Lock()

    def write(self, records: Any) -> None:
        with self._lock:
            for r in records:
                self.docs[r.doc_id] = r.doc
                self.writes += 1
                r.done()


@dataclass
class Run:
    source: FalconFdrSource
    pipeline: Pipeline
    ctx: Context
    thread: threading.Thread
    dead_letter_path: Path

    def wait(self, cond: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            if not self.thread.is_alive():
                break
            time.sleep(0.2)
        raise AssertionError(f"condition not met within {timeout}s; errors={self.pipeline.errors}")

    def stop(self) -> None:
        self.ctx.stop.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
        self.ctx.dead_letter.close()

    def dead_letters(self) -> list[dict[str, Any]]:
        if not self.dead_letter_path.exists():
            return []
        return [json.loads(ln) for ln in self.dead_letter_path.read_bytes().splitlines() if ln]


def start_run(tmp_path: Path, source_opts: dict[str, Any], sinks: list[Sink]) -> Run:
    """Run a Pipeline with a falcon-fdr source in a thread (in-process shipper)."""
    from shippers.options import build_options

    dl = tmp_path / "dead-letter.ndjson"
    ctx = Context(dead_letter=DeadLetterSink(dl), state_dir=tmp_path / "state")
    ctx.state_dir.mkdir(parents=True, exist_ok=True)
    opts = build_options(FalconFdrOptions, source_opts, "sources[0]")
    source = FalconFdrSource(opts, ctx)
    pipeline = Pipeline([source], sinks, ctx, idle_flush_s=0.3, grace_period_s=20)
    t = threading.Thread(target=pipeline.run, name="pipeline", daemon=True)
    t.start()
    return Run(source, pipeline, ctx, t, dl)
