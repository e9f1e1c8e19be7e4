"""The hunt query model: what to look for (indicators), when, and in which sources.

One model serves both commands: `shippers hunt --ip A` is a query with one indicator,
`shippers ioc-sweep` a query with many. The hot (Elasticsearch), cold (DuckDB over the
archive) and Athena back ends all read the same `FIELDS` table, so the three agree on
which ECS fields an indicator of each kind is matched against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

__all__ = [
    "FIELDS",
    "KINDS",
    "SOURCES",
    "Indicator",
    "Kind",
    "Query",
    "parse_time",
]

Kind = Literal["ip", "cidr", "domain", "hash", "user", "host", "url"]
KINDS: tuple[str, ...] = ("ip", "cidr", "domain", "hash", "user", "host", "url")
SOURCES: tuple[str, ...] = ("falcon", "panos")

# ECS fields an indicator of each kind is compared with. `related.*` is what both
# normalizers fill for exactly this purpose; the specific fields are listed as well so a
# document whose `related` block is incomplete is still found. Array fields end in `[]`.
FIELDS: dict[str, tuple[str, ...]] = {
    "ip": (
        "related.ip[]",
        "source.ip",
        "destination.ip",
        "source.nat.ip",
        "destination.nat.ip",
        "client.ip",
        "server.ip",
        "host.ip[]",
        "dns.resolved_ip[]",
    ),
    "domain": (
        "related.hosts[]",
        "dns.question.name",
        "url.domain",
        "destination.domain",
        "source.domain",
        "tls.client.server_name",
    ),
    "hash": (
        "related.hash[]",
        "file.hash.md5",
        "file.hash.sha1",
        "file.hash.sha256",
        "process.hash.md5",
        "process.hash.sha1",
        "process.hash.sha256",
        "process.parent.hash.md5",
        "process.parent.hash.sha256",
        "dll.hash.md5",
        "dll.hash.sha256",
    ),
    "user": (
        "related.user[]",
        "user.name",
        "source.user.name",
        "destination.user.name",
        "user.target.name",
        "process.user.name",
    ),
    "host": ("host.name", "host.hostname", "host.id", "related.hosts[]", "observer.name"),
    "url": ("url.original", "url.full"),
}
FIELDS["cidr"] = FIELDS["ip"]


def normalize_value(kind: str, value: str) -> str:
    """The comparable form of a value: case-folded where the kind is case-insensitive.

    IPs are compared as written (normalizers emit canonical forms); domains, hashes, users,
    hosts are case-insensitive in practice (DNS, hex, Windows accounts), so both sides are
    lower-cased. A trailing dot of a fully qualified domain name is dropped.
    """
    v = value.strip()
    if kind in ("domain", "host"):
        return v.lower().rstrip(".")
    if kind in ("hash", "user"):
        return v.lower()
    return v


@dataclass(frozen=True, slots=True)
class Indicator:
    """One thing to look for. `value` is kept as given; `key` is the comparable form."""

    kind: str
    value: str

    @property
    def key(self) -> str:
        return normalize_value(self.kind, self.value)


@dataclass
class Query:
    """Indicators plus a time window (UTC, either end open) and the sources to search."""

    indicators: list[Indicator]
    since: datetime | None = None
    until: datetime | None = None
    sources: tuple[str, ...] = SOURCES
    limit: int = 10_000  # per tier; a hunt is for reading, not for exporting the archive
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [s for s in self.sources if s not in SOURCES]
        if bad:
            raise ValueError(f"unknown source(s) {', '.join(bad)}; known: {', '.join(SOURCES)}")
        for ind in self.indicators:
            if ind.kind not in KINDS:
                raise ValueError(f"unknown indicator kind {ind.kind!r}")
        if self.since and self.until and self.since > self.until:
            raise ValueError("--since is after --until")


_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """`2024-05-01`, `2024-05-01T10:00:00Z`, `2024-05-01 10:00+02:00`, `now`, or an age (`7d`).

    Naive times are UTC: the archive partitions and `@timestamp` are UTC, and a hunt that
    silently used the analyst's local zone would miss the edges of the window.
    """
    t = text.strip()
    now = now or datetime.now(UTC)
    if t.lower() == "now":
        return now
    m = _RELATIVE.match(t.lower())
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"cannot read time {text!r}: use ISO 8601 (2024-05-01, 2024-05-01T10:00:00Z) "
            "or a relative age such as 30m, 24h, 7d"
        ) from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
