"""Short rolling retention on clusters without ILM: delete dated indices past the window.

Indices are named `<prefix>-<source>-YYYY.MM.DD` by event day (see `shippers.es_bulk`), so
they roll over daily by construction and the name alone says which day an index holds.
An index is deleted when its whole day lies before `now - days`: with 14 days, at
2024-05-20T10:00Z the index of 2024-05-05 (ends 05-06T00:00, before 05-06T10:00) goes and
that of 05-06 stays. Names that do not match the pattern exactly (another prefix that
merely starts the same, a hand-made index) are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["apply_retention", "expired_indices", "list_dated_indices"]


def _pattern(prefix: str) -> re.Pattern[str]:
    # The source part has no "-": `shippers-x-falcon-…` is not an index of prefix `shippers`.
    return re.compile(rf"^{re.escape(prefix)}-[a-z0-9_]+-(\d{{4}})\.(\d{{2}})\.(\d{{2}})$")


def expired_indices(
    names: Iterable[str], prefix: str, days: int, now: datetime | None = None
) -> list[str]:
    """The names among `names` whose day ended more than `days` days before `now`."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=days)
    pat = _pattern(prefix)
    out = []
    for name in names:
        m = pat.match(name)
        if not m:
            continue
        try:
            day = datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
        except ValueError:  # 2024.13.45: not one of ours
            continue
        if day + timedelta(days=1) <= cutoff:
            out.append(name)
    return sorted(out)


def list_dated_indices(es: Any, prefix: str) -> list[str]:
    """Every index (open or closed) whose name matches `<prefix>-<source>-YYYY.MM.DD`."""
    resp = es.perform_request(
        "GET",
        f"/_cat/indices/{prefix}-*",
        params={"format": "json", "h": "index", "expand_wildcards": "open,closed"},
        headers={"accept": "application/json"},
    )
    pat = _pattern(prefix)
    return sorted(r["index"] for r in resp.body if pat.match(r["index"]))


def apply_retention(
    es: Any, prefix: str, days: int, *, dry_run: bool = False, now: datetime | None = None
) -> list[str]:
    """Delete (or with `dry_run` only list) the expired dated indices; returns their names."""
    expired = expired_indices(list_dated_indices(es, prefix), prefix, days, now)
    if not dry_run:
        # Explicit names, in chunks that keep the URL short; never a wildcard delete.
        for i in range(0, len(expired), 50):
            chunk = ",".join(expired[i : i + 50])
            es.perform_request("DELETE", f"/{chunk}", headers={"accept": "application/json"})
    return expired
