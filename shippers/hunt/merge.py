"""One timeline from hot and cold hits, deduplicated by document id.

Every document carries a deterministic `_id` (DESIGN.md, convention 3), and the
Elasticsearch index and the archive are fed from the same normalized record, so the same
event found in both tiers has the same id: it is one hit, tagged `both`, counted once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..record import doc_field as _get
from .query import Indicator

__all__ = ["Hit", "Timeline", "merge", "summarize_doc", "time_key"]


def time_key(ts: str) -> float:
    """Sort key of an ECS `@timestamp`: its epoch seconds (the two normalizers may write
    different ISO 8601 spellings of the same instant — `Z` vs `+00:00`, with or without
    milliseconds — which sort wrongly as strings). Unreadable times sort first."""
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return float("-inf")


@dataclass
class Hit:
    """One matching document and where it was found."""

    id: str
    timestamp: str
    source: str  # falcon | panos
    doc: dict[str, Any]
    tiers: set[str] = field(default_factory=set)  # {"hot"}, {"cold"} or both
    matched: set[Indicator] = field(default_factory=set)  # indicators that matched

    @property
    def tier(self) -> str:
        return "both" if len(self.tiers) > 1 else next(iter(self.tiers), "")

    def row(self) -> dict[str, Any]:
        """The timeline columns (time, source, host, user, action, src → dst, process/file)."""
        return {
            "time": self.timestamp,
            "source": self.source,
            "tier": self.tier,
            **summarize_doc(self.doc),
            "matched": sorted({i.value for i in self.matched}),
            "_id": self.id,
        }


def _first(doc: dict[str, Any], *paths: str) -> str:
    for p in paths:
        v = _get(doc, p)
        if isinstance(v, list):
            v = v[0] if v else None
        if v not in (None, ""):
            return str(v)
    return ""


def _endpoint(doc: dict[str, Any], side: str) -> str:
    addr = _first(doc, f"{side}.ip", f"{side}.address", f"{side}.domain")
    port = _get(doc, f"{side}.port")
    if addr and port not in (None, ""):
        return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
    return addr


def summarize_doc(doc: dict[str, Any]) -> dict[str, str]:
    """Host, user, action, src, dst and process/file of an ECS document, for one row.

    Firewall logs have no endpoint host name; the observer (the firewall) stands in so the
    analyst sees where the traffic crossed.
    """
    dst = _endpoint(doc, "destination")
    domain = _first(doc, "dns.question.name", "url.domain", "destination.domain")
    if domain and domain not in dst:
        dst = f"{dst} ({domain})" if dst else domain
    return {
        "host": _first(
            doc, "host.name", "host.hostname", "observer.name", "observer.hostname", "host.id"
        ),
        "user": _first(doc, "user.name", "source.user.name", "related.user"),
        "action": _first(doc, "event.action", "event.type"),
        "src": _endpoint(doc, "source"),
        "dst": dst,
        "process": _first(
            doc, "process.executable", "process.name", "file.path", "file.name", "url.original"
        ),
    }


@dataclass
class Timeline:
    """Merged hits, oldest first, with counts per source and per tier."""

    hits: list[Hit]
    errors: list[str] = field(default_factory=list)  # a tier that could not be searched

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            "source": dict(Counter(h.source for h in self.hits)),
            "tier": dict(Counter(h.tier for h in self.hits)),
        }


def merge(*tiers: list[Hit]) -> Timeline:
    """Union the hit lists of several tiers; a document id seen twice is one hit."""
    by_id: dict[str, Hit] = {}
    for hits in tiers:
        for h in hits:
            seen = by_id.get(h.id)
            if seen is None:
                by_id[h.id] = h
                continue
            seen.tiers |= h.tiers
            seen.matched |= h.matched
    ordered = sorted(by_id.values(), key=lambda h: (time_key(h.timestamp), h.source, h.id))
    return Timeline(ordered)
