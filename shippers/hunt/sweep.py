"""Retroactive IoC sweep: per indicator, where and when it was seen across both tiers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .merge import Timeline, summarize_doc, time_key
from .query import Indicator

__all__ = ["IndicatorReport", "sweep_report"]


@dataclass
class IndicatorReport:
    """What one indicator matched: first/last seen, hosts, users, counts per source/tier."""

    indicator: Indicator
    type: str
    refs: list[str] = field(default_factory=list)
    first_seen: str = ""
    last_seen: str = ""
    hosts: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    sources: Counter[str] = field(default_factory=Counter)
    tiers: Counter[str] = field(default_factory=Counter)

    @property
    def seen(self) -> bool:
        return sum(self.sources.values()) > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "indicator": self.indicator.value,
            "kind": self.indicator.kind,
            "type": self.type,
            "refs": self.refs,
            "status": "seen" if self.seen else "clean",
            "first_seen": self.first_seen or None,
            "last_seen": self.last_seen or None,
            "hits": sum(self.sources.values()),
            "hosts": sorted(self.hosts),
            "users": sorted(self.users),
            "sources": dict(sorted(self.sources.items())),
            "tiers": dict(sorted(self.tiers.items())),
        }


def sweep_report(
    timeline: Timeline, entries: list[tuple[Indicator, str, str]]
) -> list[IndicatorReport]:
    """One report per distinct indicator (input order), from a merged timeline.

    `entries` are (indicator, finer type, reference) as read from the IoC file. A hit that
    matched several indicators counts for each of them; within one indicator every
    document counts once (the timeline is already deduplicated by document id).
    """
    reports: dict[Indicator, IndicatorReport] = {}
    for ind, typ, ref in entries:
        r = reports.get(ind)
        if r is None:
            r = reports[ind] = IndicatorReport(ind, typ)
        if ref and ref not in r.refs:
            r.refs.append(ref)
    for hit in timeline.hits:
        summary = summarize_doc(hit.doc)
        for ind in hit.matched:
            r = reports.get(ind)
            if r is None:
                continue
            t = time_key(hit.timestamp)
            if hit.timestamp and (not r.first_seen or t < time_key(r.first_seen)):
                r.first_seen = hit.timestamp
            if hit.timestamp and (not r.last_seen or t > time_key(r.last_seen)):
                r.last_seen = hit.timestamp
            if summary["host"]:
                r.hosts.add(summary["host"])
            if summary["user"]:
                r.users.add(summary["user"])
            r.sources[hit.source] += 1
            r.tiers[hit.tier] += 1
    return list(reports.values())
