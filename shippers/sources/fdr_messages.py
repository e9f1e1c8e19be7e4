"""Parsing SQS message bodies into the S3 objects they announce.

Three shapes are understood:

- the Falcon Data Replicator message
  `{"cid", "timestamp", "fileCount", "totalSize", "bucket", "pathPrefix",
  "files": [{"path", "size", "checksum"}]}`;
- a plain S3 event notification `{"Records": [{"eventName": "ObjectCreated:...",
  "s3": {"bucket": {"name"}, "object": {"key", "size", "eTag"}}}]}` — keys arrive
  URL-encoded (`+` for space) and are decoded here;
- either of them wrapped in an SNS notification `{"Type": "Notification", "Message": "..."}`.

Anything else raises `MessageError` with the reason; the source dead-letters the body.
A pure function of the body, so it is unit-tested without any AWS peer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

import orjson

__all__ = [
    "LOOKUP_KINDS",
    "MessageError",
    "Notification",
    "ObjectRef",
    "lookup_kind",
    "parse_message",
]

# FDR secondary ("lookup") data sets, recognised by a path segment: they describe hosts and
# users rather than being events, and are loaded into the enrichment table.
LOOKUP_KINDS = ("aidmaster", "managedassets", "notmanaged", "userinfo")
_HEX = re.compile(r"^[0-9a-fA-F]+$")


class MessageError(ValueError):
    """The body is not a message we understand; `reason` goes to the dead-letter sink."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """One S3 object to read, with what the message promises about it."""

    bucket: str
    key: str
    size: int | None = None
    checksum: str | None = None  # hex MD5 (32) or SHA-256 (64) of the stored bytes

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def lookup(self) -> str | None:
        return lookup_kind(self.key)


@dataclass(slots=True)
class Notification:
    """What one SQS message announces: objects, lookup files first."""

    kind: str  # "fdr" | "s3-event"
    objects: list[ObjectRef] = field(default_factory=list)
    timestamp_ms: int | None = None  # FDR message timestamp, when given


def lookup_kind(key: str) -> str | None:
    """'aidmaster' / 'managedassets' / 'notmanaged' / 'userinfo' when `key` is a lookup file."""
    for part in key.split("/")[:-1]:
        if part in LOOKUP_KINDS:
            return part
    return None


def parse_message(body: str | bytes) -> Notification:
    """The objects announced by an SQS message body; MessageError for anything else."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise MessageError(f"message body is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise MessageError("message body is not a JSON object")
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):
        return parse_message(doc["Message"])  # SNS → SQS subscription without raw delivery
    if "Records" in doc:
        return _s3_event(doc)
    if "files" in doc and "bucket" in doc:
        return _fdr(doc)
    if doc.get("Event") == "s3:TestEvent":
        raise MessageError("s3:TestEvent (sent once when notifications are configured)")
    raise MessageError("unknown message shape: neither an FDR message nor an S3 event")


def _ordered(objects: list[ObjectRef]) -> list[ObjectRef]:
    """Lookup files before event files (stable otherwise), so enrichment sees fresh hosts."""
    return sorted(objects, key=lambda o: 0 if o.lookup else 1)


def _fdr(doc: dict[str, object]) -> Notification:
    bucket = doc.get("bucket")
    files = doc.get("files")
    if not isinstance(bucket, str) or not bucket:
        raise MessageError("FDR message: 'bucket' must be a non-empty string")
    if not isinstance(files, list) or not files:
        raise MessageError("FDR message: 'files' must be a non-empty list")
    objects = []
    for i, f in enumerate(files):
        if not isinstance(f, dict) or not isinstance(f.get("path"), str) or not f["path"]:
            raise MessageError(f"FDR message: files[{i}].path missing")
        objects.append(
            ObjectRef(bucket, f["path"], _int(f.get("size"), f"files[{i}].size"), _checksum(f))
        )
    count = doc.get("fileCount")
    if count is not None and _int(count, "fileCount") != len(objects):
        raise MessageError(f"FDR message: fileCount {count} but {len(objects)} files listed")
    ts = doc.get("timestamp")
    return Notification("fdr", _ordered(objects), _int(ts, "timestamp") if ts is not None else None)


def _s3_event(doc: dict[str, object]) -> Notification:
    records = doc.get("Records")
    if not isinstance(records, list) or not records:
        raise MessageError("S3 event: 'Records' must be a non-empty list")
    objects = []
    for i, r in enumerate(records):
        try:
            name = r["eventName"]
            s3 = r["s3"]
            bucket = s3["bucket"]["name"]
            obj = s3["object"]
            key = unquote_plus(obj["key"])
        except (KeyError, TypeError):
            raise MessageError(
                f"S3 event: Records[{i}] lacks eventName/s3.bucket/s3.object.key"
            ) from None
        if not str(name).startswith("ObjectCreated:"):
            continue  # deletions etc. announce nothing to read
        etag = str(obj.get("eTag") or "").strip('"')
        checksum = etag if len(etag) == 32 and _HEX.match(etag) else None
        objects.append(
            ObjectRef(bucket, key, _int(obj.get("size"), f"Records[{i}].size"), checksum)
        )
    return Notification("s3-event", _ordered(objects))


def _int(v: object, what: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool):
        raise MessageError(f"{what} is not an integer: {v!r}")
    try:
        return int(v)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise MessageError(f"{what} is not an integer: {v!r}") from None


def _checksum(f: dict[str, object]) -> str | None:
    c = f.get("checksum")
    if not c:
        return None
    if not isinstance(c, str) or not _HEX.match(c) or len(c) not in (32, 64):
        raise MessageError(f"FDR message: checksum {c!r} is neither hex MD5 nor SHA-256")
    return c.lower()
