"""The whole shared corpus through the normalizers and the Elasticsearch sink (real server).

Zero item errors, every distinct document stored once in its source's index, and searches
by source.ip / destination.ip / process.hash.sha256 return exactly the documents that
carry the value — across the falcon and panos indices (cross-log correlation by the
shared schema). The expected sets are computed from the normalized records themselves.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import Any

import pytest

from shippers.es_bulk import encode
from shippers.normalizers import get_normalizer
from shippers.pipeline import normalize_one
from shippers.record import Provenance, Record
from tests.integration.elasticsearch_support import count, make_sink, search_ids

pytestmark = pytest.mark.elasticsearch

FORMATS = {"crowdstrike-fdr": "falcon", "panw-panos": "panos"}
FIELDS = ("source.ip", "destination.ip", "process.hash.sha256")


def _corpus_records(corpus) -> list[Record]:
    records = []
    for folder, fmt in FORMATS.items():
        normalizer = get_normalizer(fmt)
        for path in sorted((corpus / folder).glob("*.log")):
            for i, line in enumerate(path.read_bytes().splitlines()):
                if not line.strip():
                    continue
                out = normalize_one(normalizer, line, Provenance(f"corpus-{fmt}", str(path), i))
                if isinstance(out, Record):  # normalizer failures are the normalizer tests' job
                    records.append(out)
    return records


def _values(doc: dict[str, Any], path: str) -> list[Any]:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return []
        node = node[part]
    return node if isinstance(node, list) else [node]


def _core(doc: dict[str, Any]) -> dict[str, Any]:
    """A document without the fields that may differ between deliveries of one event."""
    return {k: v for k, v in doc.items() if k not in ("event", "log")}


def _key(field: str, value: Any) -> Any:
    """IPs compare as addresses, as the `ip` type does ("::" == "0:0:0:0:0:0:0:0")."""
    if not field.endswith(".ip"):
        return value
    ip = ipaddress.ip_address(value)
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


def test_whole_corpus_indexed_and_correlated_across_sources(corpus, es_url, es_prefix, tmp_path):
    records = _corpus_records(corpus)
    assert {r.source_type for r in records} == {"falcon", "panos"}
    stored = {(encode(r, es_prefix).index, r.doc_id) for r in records}
    # create + _id idempotence needs distinct events to have distinct ids: a collision
    # would be stored once and the other event counted as a "duplicate" — silently lost.
    by_id: dict[str, dict[str, Any]] = {}
    collisions = []
    for r in records:
        first = by_id.setdefault(r.doc_id, r.doc)
        if first is not r.doc and _core(first) != _core(r.doc):
            collisions.append(f"{r.doc_id}: {r.provenance.location}:{r.provenance.offset}")
    assert collisions == [], "distinct events share a document id"
    t = make_sink(es_url, es_prefix, tmp_path, batch_docs=200, backoff_initial_s=0.05,
                  backoff_max_s=1.0)  # fmt: skip
    try:
        t.sink.write(records)
        t.sink.flush()
    finally:
        t.close()
    refused = [f"{x['provenance']['location']}:{x['offset']}: {x['reason'][:300]}"
               for x in t.letters()]  # fmt: skip
    assert refused == [], "item errors: Elasticsearch refused corpus documents"
    assert count(es_url, es_prefix) == len(stored)
    assert search_ids(es_url, es_prefix, {"match_all": {}}) == stored

    cross_source = set()
    for field in FIELDS:
        expected: dict[Any, set[tuple[str, str]]] = defaultdict(set)
        for r in records:
            for v in _values(r.doc, field):
                expected[_key(field, v)].add((encode(r, es_prefix).index, r.doc_id))
        assert expected, f"corpus has no {field}"
        for value, want in expected.items():
            got = search_ids(es_url, es_prefix, {"term": {field: value}})
            assert got == want, f"{field}={value}"
            if {"falcon", "panos"} <= {idx.split("-")[-2] for idx, _ in got}:
                cross_source.add(field)
    # One query by IP finds both the endpoint (Falcon) and the firewall (PAN-OS) events.
    assert {"source.ip", "destination.ip"} <= cross_source
