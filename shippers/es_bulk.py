"""Bulk items as pre-serialized NDJSON bytes, and the routing of a record to its index.

Routing: `<prefix>-<source_type>-YYYY.MM.DD`, the date being the document's `@timestamp`
in UTC. Together with the deterministic `_id` and `op_type: create`, this is what makes
delivery idempotent: a replayed document is always routed to the *same* index, where the
`_id` already exists, so Elasticsearch answers 409 instead of storing a second copy — also
days later, when "today's" index is another one (routing by arrival time would lose this).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from .record import ID_FIELD, Record

__all__ = ["BulkItem", "EncodeError", "encode", "event_time", "index_name"]


class EncodeError(ValueError):
    """A record cannot become a bulk item (no usable @timestamp, not serializable)."""


@dataclass(slots=True)
class BulkItem:
    """One `create` action + document, ready to be concatenated into a bulk body."""

    record: Record
    index: str
    data: bytes  # action line + "\n" + document + "\n"
    action_len: int
    event_ts: float
    attempts: int = 0
    resolved: bool = False

    @property
    def doc_bytes(self) -> bytes:
        return self.data[self.action_len : -1]


def event_time(doc: dict[str, Any]) -> datetime:
    """The document's `@timestamp` as an aware UTC datetime (nanosecond digits dropped)."""
    ts = doc.get("@timestamp")
    if not isinstance(ts, str):
        raise EncodeError(f"@timestamp missing or not a string: {ts!r}")
    try:
        dt = datetime.fromisoformat(ts)
    except ValueError:
        dt = _parse_long_fraction(ts)
    if dt.tzinfo is None:
        raise EncodeError(f"@timestamp without UTC offset: {ts!r}")
    return dt.astimezone(UTC)


def _parse_long_fraction(ts: str) -> datetime:
    # Python accepts at most 6 fractional digits; Falcon/ES timestamps may carry 9.
    head, dot, rest = ts.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        trimmed = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
        try:
            return datetime.fromisoformat(trimmed)
        except ValueError:
            pass
    raise EncodeError(f"@timestamp is not ISO 8601: {ts!r}")


def index_name(prefix: str, source_type: str, when: datetime) -> str:
    return f"{prefix}-{source_type or 'other'}-{when:%Y.%m.%d}"


_DAY_START: dict[str, float] = {}


def _fast_utc(ts: Any) -> tuple[str, float] | None:
    """(YYYY.MM.DD, epoch) for the common `YYYY-MM-DDTHH:MM:SS[.f]Z` form, without datetime.

    The per-document cost matters here (this runs for every event shipped); anything else
    (offsets, odd forms) takes the full parser.
    """
    if not isinstance(ts, str) or len(ts) < 20 or ts[-1] != "Z" or ts[10] != "T":
        return None
    day = ts[:10]
    start = _DAY_START.get(day)
    try:
        if start is None:
            start = datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
            if len(_DAY_START) > 4096:
                _DAY_START.clear()
            _DAY_START[day] = start
        if ts[13] != ":" or ts[16] != ":":
            return None
        secs = int(ts[11:13]) * 3600 + int(ts[14:16]) * 60 + float(ts[17:-1])
    except ValueError:
        return None
    return f"{ts[0:4]}.{ts[5:7]}.{ts[8:10]}", start + secs


def encode(record: Record, prefix: str) -> BulkItem:
    """The bulk item of `record`; EncodeError with the reason when it cannot be sent."""
    doc = record.doc
    fast = _fast_utc(doc.get("@timestamp"))
    if fast is not None:
        day, epoch = fast
    else:
        when = event_time(doc)
        day, epoch = f"{when:%Y.%m.%d}", when.timestamp()
    index = f"{prefix}-{record.source_type or 'other'}-{day}"
    if ID_FIELD in doc:  # Elasticsearch refuses `_id` inside _source
        doc = {k: v for k, v in doc.items() if k != ID_FIELD}
    try:
        action = orjson.dumps({"create": {"_index": index, "_id": record.doc_id}})
        body = orjson.dumps(doc)
    except TypeError as e:
        raise EncodeError(f"document not serializable as JSON: {e}") from None
    data = b"".join((action, b"\n", body, b"\n"))
    return BulkItem(record, index, data, len(action) + 1, epoch)
