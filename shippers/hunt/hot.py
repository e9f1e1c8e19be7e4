"""The hot tier: one Elasticsearch search over the Falcon and PAN-OS indices.

Indices are `<prefix>-falcon-YYYY.MM.DD` and `<prefix>-panos-YYYY.MM.DD` (written by the
Elasticsearch sink). The query is a `bool.should` over the ECS fields of `query.FIELDS`;
it only narrows — `Matcher` decides on every returned document, exactly as for the cold
tier, so both tiers report the same hits for the same documents.

Large sweeps are split into chunks of indicators so no request exceeds the cluster's
boolean clause limit; results are unioned by `_id`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .match import Matcher, strip_scheme
from .merge import Hit
from .query import FIELDS, Indicator, Query

__all__ = ["HotStore", "build_es_query", "search_hot"]

log = logging.getLogger("shippers.hunt.hot")

_CHUNK = 100  # indicators per request: clauses = indicators x fields stays well under 4096
_KEYWORD_ONLY = {"domain", "hash", "user", "host", "url"}  # fields of these kinds are keyword


def _clauses(ind: Indicator) -> list[dict[str, Any]]:
    kind = ind.kind
    fields = [f.removesuffix("[]") for f in FIELDS[kind]]
    if kind in ("ip", "cidr"):
        # `ip` fields take an address or a CIDR in a term query.
        return [{"term": {f: ind.value.strip()}} for f in fields]
    value = ind.value.strip()
    out: list[dict[str, Any]] = []
    if kind == "url":
        bare = strip_scheme(value)
        for f in fields:
            out.append({"term": {f: {"value": bare, "case_insensitive": True}}})
            out.append({"wildcard": {f: {"value": f"*://{bare}", "case_insensitive": True}}})
        return out
    if kind == "domain":
        value = value.rstrip(".")
    for f in fields:
        out.append({"term": {f: {"value": value, "case_insensitive": True}}})
        if kind == "domain":
            out.append({"wildcard": {f: {"value": f"*.{value}", "case_insensitive": True}}})
    return out


def build_es_query(q: Query, indicators: list[Indicator] | None = None) -> dict[str, Any]:
    """The search body's `query` for the given indicators (default: all of `q`)."""
    inds = q.indicators if indicators is None else indicators
    should = [c for ind in inds for c in _clauses(ind)]
    filters: list[dict[str, Any]] = [{"bool": {"should": should, "minimum_should_match": 1}}]
    rng: dict[str, str] = {}
    if q.since is not None:
        rng["gte"] = q.since.isoformat()
    if q.until is not None:
        rng["lte"] = q.until.isoformat()
    if rng:
        filters.append({"range": {"@timestamp": rng}})
    return {"bool": {"filter": filters}}


class HotStore:
    """An Elasticsearch cluster holding the shipper's indices."""

    def __init__(self, url: str, *, index_prefix: str = "shippers", client: Any = None):
        self.url = url
        self.index_prefix = index_prefix
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            # The sink's client factory: same handling of user:password@ URLs and TLS.
            from ..es_client import ElasticsearchOptions, make_client

            opts = ElasticsearchOptions(
                hosts=[self.url], api_key=os.environ.get("SHIPPERS_ES_API_KEY", "")
            )
            self._client = make_client(opts)
        return self._client

    def indices(self, sources: tuple[str, ...]) -> str:
        return ",".join(f"{self.index_prefix}-{s}-*" for s in sources)

    def source_of(self, index: str) -> str:
        rest = index.removeprefix(f"{self.index_prefix}-")
        # data stream backing indices look like .ds-<name>-...; fall back to the name
        for s in ("falcon", "panos"):
            if rest.startswith(s) or f"-{s}-" in index:
                return s
        return rest.split("-", 1)[0]


def search_hot(q: Query, store: HotStore) -> list[Hit]:
    """Every indexed document in the window that matches one of the query's indicators."""
    from elasticsearch import helpers

    if not q.indicators or not q.sources:
        return []
    matcher = Matcher(q.indicators)
    hits: dict[str, Hit] = {}
    for start in range(0, len(q.indicators), _CHUNK):
        chunk = q.indicators[start : start + _CHUNK]
        scan = helpers.scan(
            store.client,
            index=store.indices(q.sources),
            query={"query": build_es_query(q, chunk)},
            size=1000,
            ignore_unavailable=True,
            allow_no_indices=True,
            preserve_order=False,
        )
        for raw in scan:
            doc = raw.get("_source") or {}
            matched = matcher.match(doc)
            if not matched:
                continue
            h = hits.get(raw["_id"])
            if h is None:
                if len(hits) >= q.limit:
                    log.warning("hot tier: stopped at --limit %d hits", q.limit)
                    return list(hits.values())
                h = hits[raw["_id"]] = Hit(
                    id=raw["_id"],
                    timestamp=str(doc.get("@timestamp", "")),
                    source=store.source_of(raw.get("_index", "")),
                    doc=doc,
                    tiers={"hot"},
                )
            h.matched |= matched
    return list(hits.values())
