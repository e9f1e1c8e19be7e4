"""Hunting across the hot tier (Elasticsearch) and the cold tier (the archive).

`run_hunt(query, archive=..., hot=...)` searches whichever tiers are given and returns one
merged `Timeline`; a tier that fails is reported in `Timeline.errors` while the other
tier's hits are still returned — during an incident a partial answer now beats none.
"""

from __future__ import annotations

import logging

from .cold import ColdArchive, search_cold
from .hot import HotStore, search_hot
from .merge import Hit, Timeline, merge
from .query import Indicator, Query, parse_time

__all__ = [
    "ColdArchive",
    "Hit",
    "HotStore",
    "Indicator",
    "Query",
    "Timeline",
    "parse_time",
    "run_hunt",
]

log = logging.getLogger("shippers.hunt")


def run_hunt(
    q: Query, *, archive: ColdArchive | None = None, hot: HotStore | None = None
) -> Timeline:
    """Search the given tiers for the query's indicators and merge one timeline."""
    tiers: list[list[Hit]] = []
    errors: list[str] = []
    if hot is not None:
        try:
            tiers.append(search_hot(q, hot))
        except Exception as e:  # unreachable cluster, auth, missing indices
            log.debug("hot tier failed", exc_info=True)
            errors.append(f"hot tier ({hot.url}): {type(e).__name__}: {e}")
    if archive is not None:
        try:
            tiers.append(search_cold(q, archive))
        except Exception as e:  # unreadable archive, S3 credentials
            log.debug("cold tier failed", exc_info=True)
            errors.append(f"cold tier ({archive.url}): {type(e).__name__}: {e}")
    timeline = merge(*tiers)
    timeline.errors = errors
    return timeline
