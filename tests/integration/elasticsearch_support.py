"""Helpers for the Elasticsearch integration tests: schema-valid documents, a sink, counts.

The documents follow `schemas/ecs_event.schema.json` (checked by `schema_errors`), shaped
like a Falcon process event and a PAN-OS traffic log, sharing IPs so that cross-source
searches have something to find.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import requests

from shippers.es_client import ElasticsearchOptions
from shippers.es_setup import install
from shippers.plugin import Context
from shippers.record import Ack, Provenance, Record, content_id
from shippers.sinks.dead_letter import DeadLetterSink
from shippers.sinks.elasticsearch import ElasticsearchSink

BASE_DAY = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def falcon_doc(i: int, when: datetime) -> dict[str, Any]:
    sha = hashlib.sha256(f"binary-{i % 7}".encode()).hexdigest()
    return {
        "@timestamp": when.isoformat().replace("+00:00", "Z"),
        "event": {
            "kind": "event",
            "category": ["process"],
            "type": ["start"],
            "action": "ProcessRollup2",
            "dataset": "crowdstrike.fdr",
            "module": "crowdstrike",
        },
        "host": {"name": f"host-{i % 5}", "id": f"aid{i % 5:04d}"},
        "process": {
            "pid": 1000 + i,
            "name": "cmd.exe",
            "command_line": f"cmd.exe /c job {i}",
            "hash": {"sha256": sha},
        },
        "source": {"ip": f"10.0.{i % 3}.{i % 250 + 1}"},
        "related": {"hash": [sha], "ip": [f"10.0.{i % 3}.{i % 250 + 1}"]},
        "crowdstrike": {"ConfigBuild": f"1007.3.{i}", "TargetProcessId": str(10**12 + i)},
        "labels": {"batch": "x", "replayed": False},
        "message": f"process {i} started",
    }


def panos_doc(i: int, when: datetime) -> dict[str, Any]:
    return {
        "@timestamp": when.isoformat().replace("+00:00", "Z"),
        "event": {
            "kind": "event",
            "category": ["network"],
            "type": ["connection", "end"],
            "action": "flow_terminated",
            "dataset": "panw.panos",
            "module": "panw",
            "outcome": "success",
        },
        "source": {"ip": f"10.0.{i % 3}.{i % 250 + 1}", "port": 40000 + i % 20000},
        "destination": {"ip": f"192.0.2.{i % 200 + 1}", "port": 443},
        "network": {"transport": "tcp", "bytes": 1000 + i},
        "observer": {"serial_number": "012801096514", "vendor": "Palo Alto Networks"},
        "panw": {"panos": {"session_id": str(30000 + i), "flow_id": i}},
        "message": f"TRAFFIC end {i}",
    }


def make_records(
    n: int,
    source_type: str,
    *,
    days: int = 1,
    start: datetime = BASE_DAY,
    ack: Ack | None = None,
    salt: str = "",
) -> list[Record]:
    """`n` records of one source, spread over `days` event days; ids are deterministic."""
    build = falcon_doc if source_type == "falcon" else panos_doc
    out = []
    for i in range(n):
        when = start + timedelta(days=i % days, seconds=i)
        doc = build(i, when)
        doc_id = content_id(source_type, salt, str(i))
        prov = Provenance(f"test-{source_type}", f"mem://{source_type}", offset=i)
        out.append(Record(doc, doc_id, prov, ack=ack, source_type=source_type))
    return out


@dataclass
class SinkUnderTest:
    sink: ElasticsearchSink
    dead_letter: DeadLetterSink
    dead_letter_path: Path
    es_url: str
    prefix: str
    acks: list[Ack] = field(default_factory=list)

    def letters(self) -> list[dict[str, Any]]:
        if not self.dead_letter_path.exists():
            return []
        return [orjson.loads(x) for x in self.dead_letter_path.read_bytes().splitlines() if x]

    def close(self) -> None:
        self.sink.close()
        self.dead_letter.close()


def make_sink(es_url: str, prefix: str, tmp_path: Path, *, setup: bool = True,
              **overrides: Any) -> SinkUnderTest:  # fmt: skip
    opts = ElasticsearchOptions(hosts=[es_url], index_prefix=prefix, **overrides)
    opts.validate("sink")
    dl_path = tmp_path / f"dead-letter-{prefix}.ndjson"
    dl = DeadLetterSink(dl_path)
    sink = ElasticsearchSink(opts, Context(dead_letter=dl, state_dir=tmp_path))
    if setup:
        install(sink.es, prefix, opts.retention_days)
    return SinkUnderTest(sink, dl, dl_path, es_url, prefix)


def tracked_ack(n_records: int, name: str = "unit") -> tuple[Ack, dict[str, Any]]:
    """An Ack expecting `n_records` outcomes from one sink; the dict records its settlement."""
    state: dict[str, Any] = {"settled": False, "failed": None}

    def done(failed: bool) -> None:
        state.update(settled=True, failed=failed)

    ack = Ack(name, on_complete=done)
    ack.add(n_records)
    return ack, state


def refresh(es_url: str, prefix: str) -> None:
    r = requests.post(f"{es_url}/{prefix}-*/_refresh?expand_wildcards=all", timeout=60)
    r.raise_for_status()


def count(es_url: str, prefix: str, query: dict[str, Any] | None = None) -> int:
    refresh(es_url, prefix)
    r = requests.post(
        f"{es_url}/{prefix}-*/_count", json={"query": query or {"match_all": {}}}, timeout=60
    )
    r.raise_for_status()
    return int(r.json()["count"])


def search_ids(es_url: str, prefix: str, query: dict[str, Any]) -> set[tuple[str, str]]:
    """(index, _id) of every hit (up to 10 000)."""
    refresh(es_url, prefix)
    r = requests.post(
        f"{es_url}/{prefix}-*/_search",
        json={"query": query, "size": 10000, "_source": False},
        timeout=60,
    )
    r.raise_for_status()
    return {(h["_index"], h["_id"]) for h in r.json()["hits"]["hits"]}


def indices(es_url: str, prefix: str) -> list[str]:
    r = requests.get(
        f"{es_url}/_cat/indices/{prefix}-*?format=json&h=index&expand_wildcards=all", timeout=30
    )
    r.raise_for_status()
    return sorted(x["index"] for x in r.json())
