"""The cold tier over an `s3://` archive on a real S3 server (SeaweedFS).

Without DuckDB's httpfs extension (not installed in the test environment, and never
downloaded by the hunt), the pruned partitions are fetched with boto3; the hits must be
the same as over a local copy, and objects outside the window must not be fetched.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shippers.hunt import ColdArchive, Indicator, Query
from shippers.hunt.cold import fetch_partitions, search_cold
from shippers.plugin import Context
from shippers.sinks.archive import ArchiveOptions, ArchiveSink
from shippers.sinks.dead_letter import DeadLetterSink
from tests.unit.test_hunt_support import SHARED_IP, demo_records, write_layout

pytestmark = pytest.mark.s3


@pytest.fixture
def s3_archive(s3_endpoint: str, tmp_path: Path, monkeypatch) -> str:
    from tests.services.seaweedfs import ACCESS_KEY, SECRET_KEY, s3_client

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"hunt-{uuid.uuid4().hex[:8]}"
    s3 = s3_client(s3_endpoint)
    s3.create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/archive"
    opts = ArchiveOptions(url=url, endpoint_url=s3_endpoint)
    sink = ArchiveSink(opts, Context(dead_letter=DeadLetterSink(tmp_path / "dl")))
    sink.write(demo_records())
    sink.close()
    # an object outside any test window that would break the query if it were fetched
    s3.put_object(
        Bucket=bucket,
        Key="archive/normalized/source=falcon/dt=2020-01-01/hour=00/bad.ndjson.gz",
        Body=b"not gzip",
    )
    return url


def test_s3_archive_matches_local(s3_archive: str, s3_endpoint: str, tmp_path: Path) -> None:
    local = tmp_path / "local"
    write_layout(local, demo_records())
    window = {
        "since": datetime(2024, 5, 14, tzinfo=UTC),
        "until": datetime(2024, 5, 15, tzinfo=UTC),
    }
    for ind in (Indicator("ip", SHARED_IP), Indicator("domain", "badcdn.example")):
        q = Query([ind], **window)
        remote = search_cold(q, ColdArchive(s3_archive, s3_endpoint=s3_endpoint))
        here = search_cold(q, ColdArchive(str(local)))
        assert {h.id for h in remote} == {h.id for h in here}
        assert {h.source for h in remote} == {"falcon", "panos"}


def test_fetch_prunes_by_source_day_and_hour(
    s3_archive: str, s3_endpoint: str, tmp_path: Path
) -> None:
    q = Query(
        [Indicator("ip", SHARED_IP)],
        sources=("panos",),
        since=datetime(2024, 5, 14, 9, tzinfo=UTC),
        until=datetime(2024, 5, 14, 9, 59, tzinfo=UTC),
    )
    n = fetch_partitions(s3_archive, q, tmp_path, endpoint=s3_endpoint)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.gz"))
    assert n == len(files) == 1
    assert files[0].startswith("normalized/source=panos/dt=2024-05-14/hour=09/")
    outside = Query([Indicator("ip", SHARED_IP)], since=datetime(2024, 6, 1, tzinfo=UTC))
    assert fetch_partitions(s3_archive, outside, tmp_path / "none", endpoint=s3_endpoint) == 0
