"""Benchmark: peak RSS of the falcon-fdr source on a 1 GB (uncompressed) FDR object.

Not a test. Starts SeaweedFS (S3) and moto (SQS) from tests/services, generates a gzip'd
FDR data object of `--size-mb` uncompressed (corpus events with unique ids, written
streamed to a temp file), uploads it, and measures in separate child processes:

  baseline   interpreter + shippers/boto3 imports, nothing read
  gunzip     boto3 get_object → gzip → iter_lines over the object (the floor for streaming)
  source     the real source: FDR message on SQS → FalconFdrSource → Pipeline (falcon
             normalizer, enrichment) → a null sink that acknowledges; message deleted

Peak RSS is the child's `ru_maxrss`. Target (issue 4): source <= 256 MB.

    python -m bench.fdr_memory [--size-mb 1024]
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CORPUS = ROOT.parent / "shared" / "corpus" / "elastic" / "crowdstrike-fdr"


def generate(path: Path, size_mb: int) -> int:
    """Write a gzip'd JSON-lines object of about size_mb uncompressed; returns line count."""
    base = [
        json.loads(ln)
        for name in ("test-windows-a.log", "test-linux.log", "test-fdr.log")
        for ln in (CORPUS / name).read_bytes().splitlines()
        if ln.strip()
    ]
    target = size_mb << 20
    written = lines = 0
    with gzip.open(path, "wb", compresslevel=6) as out:
        i = 0
        while written < target:
            chunk = []
            for rec in base:
                chunk.append(json.dumps({**rec, "id": f"{rec.get('id', 'x')}-{i}"}).encode())
            data = b"\n".join(chunk) + b"\n"
            out.write(data)
            written += len(data)
            lines += len(chunk)
            i += 1
    return lines


CHILD = r"""
import os, sys, resource, json, time, threading
sys.path.insert(0, {root!r})
mode, endpoint_s3, endpoint_sqs, bucket, key, queue, state = sys.argv[1:8]
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
import boto3
from shippers.lines import iter_lines, open_maybe_gzip
from shippers.pipeline import Pipeline
from shippers.plugin import Context, Sink
from shippers.sinks.dead_letter import DeadLetterSink
from shippers.sources.falcon_fdr import FalconFdrOptions, FalconFdrSource
from shippers.normalizers import get_normalizer
get_normalizer("falcon")
t0 = time.monotonic()
n = 0
if mode == "gunzip":
    from shippers.archive_layout import s3_client
    import gzip
    body = s3_client(endpoint_s3, "us-east-1").get_object(Bucket=bucket, Key=key)["Body"]
    for _line in gzip.GzipFile(fileobj=body):
        n += 1
elif mode == "source":
    class Null(Sink):
        name = "null"
        count = 0
        def write(self, records):
            for r in records:
                Null.count += 1
                r.done()
    ctx = Context(dead_letter=DeadLetterSink(os.path.join(state, "dl.ndjson")), state_dir=__import__("pathlib").Path(state))
    opts = FalconFdrOptions(queue_url=queue, s3_endpoint_url=endpoint_s3, sqs_endpoint_url=endpoint_sqs,
                            region="us-east-1", wait_time_s=1, workers=1, visibility_timeout_s=60)
    src = FalconFdrSource(opts, ctx)
    Pipeline([src], [Null(None, ctx)], ctx).run(once=True)
    n = Null.count
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"mode": mode, "peak_rss_mb": round(rss, 1), "lines": n, "seconds": round(time.monotonic() - t0, 1)}}))
"""  # noqa: E501


def child(mode: str, *args: str) -> dict:
    code = CHILD.format(root=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code, mode, *args], capture_output=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr.decode()[-3000:]}")
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mb", type=int, default=1024, help="uncompressed object size")
    args = ap.parse_args()

    from tests.services import moto_sqs, seaweedfs

    with tempfile.TemporaryDirectory(prefix="fdr-bench-") as tmp:
        obj = Path(tmp) / "part-00000.gz"
        t = time.monotonic()
        lines = generate(obj, args.size_mb)
        size = obj.stat().st_size
        print(
            f"generated {lines} lines, {args.size_mb} MiB uncompressed, {size / 2**20:.1f} MiB "
            f"gzip'd in {time.monotonic() - t:.0f}s",
            flush=True,
        )
        s3srv, sqssrv = seaweedfs.start(), moto_sqs.start()
        try:
            s3 = seaweedfs.s3_client(s3srv.endpoint)
            s3.create_bucket(Bucket="cs-fdr")
            s3.upload_file(str(obj), "cs-fdr", "data/bench/part-00000.gz")
            sqs = moto_sqs.sqs_client(sqssrv.endpoint)
            q = sqs.create_queue(QueueName="fdr-bench")["QueueUrl"]
            sqs.send_message(
                QueueUrl=q,
                MessageBody=json.dumps(
                    {
                        "cid": "c",
                        "timestamp": int(time.time() * 1000),
                        "fileCount": 1,
                        "totalSize": size,
                        "bucket": "cs-fdr",
                        "pathPrefix": "data/bench",
                        "files": [{"path": "data/bench/part-00000.gz", "size": size}],
                    }
                ),
            )
            common = (s3srv.endpoint, sqssrv.endpoint, "cs-fdr", "data/bench/part-00000.gz", q, tmp)
            results = [child(m, *common) for m in ("baseline", "gunzip", "source")]
            left = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["All"])["Attributes"]
        finally:
            s3srv.stop()
            sqssrv.stop()
    for r in results:
        print(
            f"{r['mode']:9s} peak RSS {r['peak_rss_mb']:7.1f} MB  lines {r['lines']:>9}  "
            f"{r['seconds']:6.1f}s",
            flush=True,
        )
    print(
        f"queue after run: visible={left['ApproximateNumberOfMessages']} "
        f"in flight={left['ApproximateNumberOfMessagesNotVisible']}"
    )
    src = results[2]
    ok = src["lines"] == lines and src["peak_rss_mb"] <= 256
    print("target peak RSS <= 256 MB:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
