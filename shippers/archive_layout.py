"""The archive's key layout and the store it lives in (S3 or a local directory, same keys).

Layout (fixed — the Athena DDL in `schemas/athena/` and hunting queries depend on it):

    <prefix>/normalized/source=<source_type>/dt=YYYY-MM-DD/hour=HH/<name>.ndjson.gz
    <prefix>/raw/falcon/YYYY/MM/DD/HH/<original key>

`dt`/`hour` of normalized objects come from the document's `@timestamp` in UTC; the raw
hour comes from the source object's LastModified (the same for a live run and a replay
from the CrowdStrike bucket, so both write the same raw key). Names are deterministic
(`<content_id(location)>-<segment>.ndjson.gz`): reprocessing the same input overwrites
the same keys instead of adding duplicates.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from . import metrics
from .record import content_id

__all__ = [
    "ArchiveStore",
    "ObjectInfo",
    "normalized_key",
    "parse_raw_key",
    "partition_of",
    "raw_key",
    "s3_client",
    "segment_name",
    "split_url",
]

_RAW_RE = re.compile(r"(?:^|/)raw/falcon/(\d{4})/(\d{2})/(\d{2})/(\d{2})/(.+)$")
_EPOCH_PARTITION = ("1970-01-01", "00")


def split_url(url: str) -> tuple[str | None, str]:
    """`s3://bucket/prefix` → (bucket, prefix); a local path → (None, absolute path)."""
    if url.startswith("s3://"):
        bucket, _, prefix = url[5:].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {url!r}")
        return bucket, prefix.strip("/")
    if "://" in url and not url.startswith("file://"):
        raise ValueError(f"unsupported archive URL {url!r} (s3://bucket/prefix or a directory)")
    return None, str(Path(url.removeprefix("file://")).resolve())


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def partition_of(doc: dict[str, Any]) -> tuple[str, str]:
    """(dt, hour) in UTC from the document's @timestamp; the epoch partition when absent."""
    ts = doc.get("@timestamp")
    if not isinstance(ts, str) or len(ts) < 13:
        return _EPOCH_PARTITION
    if ts.endswith(("Z", "+00:00")) and ts[10] == "T":
        return ts[:10], ts[11:13]  # the common case, without a datetime round trip
    try:
        dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return _EPOCH_PARTITION
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%d"), dt.strftime("%H")


def segment_name(location: str, segment: int) -> str:
    """Object name of one segment of one input: stable across reprocessing."""
    return f"{content_id(location)}-{segment:06d}.ndjson.gz"


def normalized_key(prefix: str, source_type: str, dt: str, hour: str, name: str) -> str:
    return _join(
        prefix, "normalized", f"source={source_type or 'unknown'}", f"dt={dt}", f"hour={hour}", name
    )


def raw_key(prefix: str, when: datetime, original_key: str) -> str:
    """`<prefix>/raw/falcon/YYYY/MM/DD/HH/<original key>` (UTC hour of `when`)."""
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return _join(prefix, "raw", "falcon", when.strftime("%Y/%m/%d/%H"), original_key)


def parse_raw_key(key: str) -> tuple[datetime, str] | None:
    """(hour, original key) of a raw archive key; None when `key` is not in the raw layout."""
    m = _RAW_RE.search(key)
    if not m:
        return None
    y, mo, d, h, original = m.groups()
    return datetime(int(y), int(mo), int(d), int(h), tzinfo=UTC), original


def s3_client(endpoint_url: str = "", region: str = "", *, pool: int = 10) -> Any:
    """A boto3 S3 client; credentials through the normal chain (env, profile, role)."""
    import boto3
    from botocore.config import Config

    cfg = Config(
        max_pool_connections=pool,
        retries={"max_attempts": 5, "mode": "standard"},
        # S3-compatible stores (SeaweedFS, MinIO) want path-style; AWS accepts both.
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return boto3.client(
        "s3", endpoint_url=endpoint_url or None, region_name=region or None, config=cfg
    )


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str  # relative to the store root (bucket), i.e. including the prefix
    size: int
    last_modified: datetime


class ArchiveStore:
    """Durable object writes under an `s3://bucket/prefix` or a local directory."""

    def __init__(self, url: str, *, endpoint_url: str = "", region: str = "", client: Any = None):
        self.url = url
        self.bucket, self.prefix = split_url(url)
        self.endpoint_url = endpoint_url
        self.local_root: Path | None = None
        if self.bucket is None:
            # Local: prefix is the absolute directory; keys are relative to it.
            self.local_root = Path(self.prefix)
            self.local_root.mkdir(parents=True, exist_ok=True)
            self.prefix = ""
            self.client: Any = None
        else:
            self.client = client or s3_client(endpoint_url, region)

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None

    def location(self, key: str) -> str:
        """A URL for a key of this store (s3://bucket/key or an absolute path)."""
        if self.local_root is not None:
            return str(self.local_root / key)
        return f"s3://{self.bucket}/{key}"

    # -- writes ----------------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes, content_type: str = "application/x-ndjson") -> None:
        """Write one object; durable (fsync'd locally, acknowledged by S3) on return."""
        if self.local_root is not None:
            with self._local_writer(key) as f:
                f.write(data)
        else:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                ContentEncoding="gzip" if key.endswith(".gz") else "",
            )
        metrics.S3_BYTES_WRITTEN.inc(len(data))

    def upload_stream(self, key: str, stream: IO[bytes]) -> int:
        """Stream `stream` into `key` with bounded memory; returns bytes written."""
        counter = _Counting(stream)
        if self.local_root is not None:
            with self._local_writer(key) as f:
                while chunk := counter.read(1024 * 1024):
                    f.write(chunk)
        else:
            from boto3.s3.transfer import TransferConfig

            # Two 8 MiB parts in flight at most: bounded memory whatever the object size.
            tc = TransferConfig(multipart_chunksize=8 << 20, max_concurrency=2)
            self.client.upload_fileobj(counter, self.bucket, key, Config=tc)
        metrics.S3_BYTES_WRITTEN.inc(counter.n)
        return counter.n

    def server_side_copy(self, src_bucket: str, src_key: str, key: str) -> None:
        """S3 → S3 copy inside the service (no bytes through us); raises ClientError if refused."""
        from boto3.s3.transfer import TransferConfig

        assert self.client is not None
        self.client.copy(
            {"Bucket": src_bucket, "Key": src_key},
            self.bucket,
            key,
            Config=TransferConfig(multipart_threshold=1 << 30, multipart_chunksize=256 << 20),
        )

    class _LocalWriter:
        def __init__(self, final: Path):
            self.final = final
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=final.parent)
            self.tmp = Path(tmp)
            self.f = os.fdopen(fd, "wb")

        def __enter__(self) -> IO[bytes]:
            return self.f

        def __exit__(self, exc_type: Any, *_: Any) -> None:
            if exc_type is not None:
                self.f.close()
                self.tmp.unlink(missing_ok=True)
                return
            self.f.flush()
            os.fsync(self.f.fileno())
            self.f.close()
            os.replace(self.tmp, self.final)  # atomic: readers never see half an object
            dfd = os.open(self.final.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def _local_writer(self, key: str) -> ArchiveStore._LocalWriter:
        assert self.local_root is not None
        return ArchiveStore._LocalWriter(self.local_root / key)

    # -- reads -----------------------------------------------------------------------------
    def size_of(self, key: str) -> int | None:
        """Size of an existing object, None when absent."""
        if self.local_root is not None:
            p = self.local_root / key
            return p.stat().st_size if p.is_file() else None
        from botocore.exceptions import ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def get_bytes(self, key: str) -> bytes:
        if self.local_root is not None:
            return (self.local_root / key).read_bytes()
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def list(self, sub_prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under `<prefix>/<sub_prefix>`, in key order."""
        base = _join(self.prefix, sub_prefix)
        if self.local_root is not None:
            root = self.local_root / base if base else self.local_root
            if root.is_file():
                files = [root]
            elif root.is_dir():
                files = sorted(p for p in root.rglob("*") if p.is_file())
            else:  # a partial name, like an S3 key prefix
                files = sorted(
                    p
                    for p in root.parent.rglob("*")
                    if p.is_file() and p.relative_to(self.local_root).as_posix().startswith(base)
                )
            for p in files:
                if p.name.startswith(".tmp-"):
                    continue
                st = p.stat()
                yield ObjectInfo(
                    p.relative_to(self.local_root).as_posix(),
                    st.st_size,
                    datetime.fromtimestamp(st.st_mtime, UTC),
                )
            return
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
            for o in page.get("Contents", []):
                yield ObjectInfo(o["Key"], int(o["Size"]), o["LastModified"])


class _Counting:
    """A read-only file wrapper counting bytes (for metrics and the returned size)."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.n = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.n += len(data)
        return data
