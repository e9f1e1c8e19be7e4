"""`shippers bench es`: the full sink against raw pre-built `_bulk` bodies, same run, same docs.

N generated, schema-shaped documents (half Falcon-like, half PAN-OS-like, over a few event
days) are shipped twice into the real server given with `--es`:
- raw: the bulk bodies are built *before* the clock starts and POSTed with a plain HTTP
  client (requests), with the same batch size and the same number of concurrent requests
  as the sink — the floor: only Elasticsearch's own indexing cost;
- sink: the same records through `ElasticsearchSink.write` + `flush` — encoding, batching,
  per-item outcome handling, metrics and acks included.
Each into its own index prefix (fresh indices, same templates). Best of `--repeat` rounds,
the order alternating between rounds.
The result has both rates (docs/s) and `ratio = sink / raw` (target >= 0.8).
Start a node with `python -m tests.services.elasticsearch start --bench`.
"""

from __future__ import annotations

import argparse
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["add_es_args", "make_bench_records", "run_es_bench"]


def add_es_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--es", default="", help="Elasticsearch URL")
    p.add_argument("--events", type=int, default=200_000, help="documents per round")
    p.add_argument("--repeat", type=int, default=3, help="best of N rounds")
    p.add_argument("--batch-docs", type=int, default=5000)
    p.add_argument("--max-in-flight", type=int, default=2)


def make_bench_records(n: int) -> list[Any]:
    """Deterministic ECS documents of realistic size (~0.8–1 KB each)."""
    from .record import Provenance, Record, content_id

    start = datetime(2024, 5, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        ts = (start + timedelta(seconds=i * 7)).isoformat().replace("+00:00", "Z")
        ip = f"10.{i % 7}.{i % 200}.{i % 250 + 1}"
        if i % 2:
            doc: dict[str, Any] = {
                "@timestamp": ts,
                "event": {"kind": "event", "category": ["process"], "type": ["start"],
                          "action": "ProcessRollup2", "dataset": "crowdstrike.fdr",
                          "module": "crowdstrike", "id": f"evt-{i}"},
                "host": {"name": f"host-{i % 500}", "id": f"aid{i % 500:08x}",
                         "os": {"type": "windows", "platform": "windows"}},
                "process": {"pid": 1000 + i % 60000, "name": "svchost.exe",
                            "command_line": f"C:\\Windows\\system32\\svchost.exe -k netsvcs -p {i}",
                            "executable": "C:\\Windows\\system32\\svchost.exe",
                            "entity_id": str(10**15 + i),
                            "hash": {"sha256": f"{i:064x}", "md5": f"{i:032x}"},
                            "parent": {"name": "services.exe", "pid": 700}},
                "user": {"name": f"user{i % 50}", "domain": "CORP"},
                "source": {"ip": ip},
                "related": {"ip": [ip], "user": [f"user{i % 50}"], "hash": [f"{i:064x}"]},
                "crowdstrike": {"ConfigBuild": "1007.3.0016606.11", "TreeId": str(i * 31),
                                "SessionId": str(i % 9)},
            }  # fmt: skip
            out.append(Record(doc, content_id("bench", str(i)),
                              Provenance("bench-falcon", "bench://falcon", i),
                              source_type="falcon"))  # fmt: skip
        else:
            doc = {
                "@timestamp": ts,
                "event": {"kind": "event", "category": ["network"], "type": ["connection", "end"],
                          "action": "flow_terminated", "dataset": "panw.panos", "module": "panw",
                          "outcome": "success"},
                "source": {"ip": ip, "port": 1024 + i % 60000, "bytes": i % 9000},
                "destination": {"ip": f"198.51.100.{i % 250 + 1}", "port": 443, "bytes": i % 70000},
                "network": {"transport": "tcp", "application": "ssl", "bytes": i % 79000},
                "observer": {"serial_number": "012801096514", "vendor": "Palo Alto Networks",
                             "product": "PAN-OS", "ingress": {"zone": "trust"},
                             "egress": {"zone": "untrust"}},
                "rule": {"name": "allow-web"},
                "related": {"ip": [ip, f"198.51.100.{i % 250 + 1}"]},
                "panw": {"panos": {"session_id": str(i), "sequence_number": str(i * 3),
                                   "flow_id": str(i % 1000)}},
                "message": f"TRAFFIC end session {i}",
            }  # fmt: skip
            out.append(Record(doc, content_id("bench", str(i)),
                              Provenance("bench-panos", "bench://panos", i),
                              source_type="panos"))  # fmt: skip
    return out


def _raw_bodies(records: list[Any], prefix: str, batch_docs: int) -> list[bytes]:
    """Bulk bodies built ahead of time with orjson (outside the measured time)."""
    import orjson

    from .es_bulk import event_time, index_name

    bodies, lines = [], []
    for i, r in enumerate(records, 1):
        idx = index_name(prefix, r.source_type, event_time(r.doc))
        lines.append(orjson.dumps({"create": {"_index": idx, "_id": r.doc_id}}))
        lines.append(orjson.dumps(r.doc))
        if i % batch_docs == 0:
            bodies.append(b"\n".join(lines) + b"\n")
            lines = []
    if lines:
        bodies.append(b"\n".join(lines) + b"\n")
    return bodies


def _raw_round(url: str, bodies: list[bytes], in_flight: int) -> float:
    import requests

    session = requests.Session()
    headers = {"content-type": "application/x-ndjson"}

    def post(body: bytes) -> None:
        r = session.post(f"{url}/_bulk", data=body, headers=headers,
                         params={"filter_path": "errors"}, timeout=120)  # fmt: skip
        r.raise_for_status()
        if r.json().get("errors"):
            raise RuntimeError("raw bulk reported item errors")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(post, bodies))
    return time.perf_counter() - t0


def _sink_round(url: str, records: list[Any], prefix: str, args: Any, tmp: str) -> float:
    from .es_client import ElasticsearchOptions
    from .plugin import Context
    from .sinks.dead_letter import DeadLetterSink
    from .sinks.elasticsearch import ElasticsearchSink

    opts = ElasticsearchOptions(
        hosts=[url],
        index_prefix=prefix,
        batch_docs=args.batch_docs,
        max_in_flight=args.max_in_flight,
        batch_bytes=64 * 1024 * 1024,
    )
    dl = DeadLetterSink(f"{tmp}/dead-letter.ndjson")
    sink = ElasticsearchSink(opts, Context(dead_letter=dl))
    t0 = time.perf_counter()
    for i in range(0, len(records), 1000):  # as the pipeline hands them over
        sink.write(records[i : i + 1000])
    sink.flush()
    elapsed = time.perf_counter() - t0
    sink.close()
    dl.close()
    if dl.count:
        raise RuntimeError(f"{dl.count} documents dead-lettered during the benchmark")
    return elapsed


def run_es_bench(args: Any) -> dict[str, Any]:
    """Both rates and their ratio; raises when no server is given or documents fail."""
    import tempfile

    import requests

    from .es_client import ElasticsearchOptions, make_client
    from .es_setup import install

    url = (getattr(args, "es", "") or "").rstrip("/")
    if not url:
        raise SystemExit("bench es: give --es URL (e.g. from "
                         "`python -m tests.services.elasticsearch start --bench`)")  # fmt: skip
    n = int(getattr(args, "events", 200_000) or 200_000)
    repeat = max(1, int(getattr(args, "repeat", 3) or 3))
    args.batch_docs = int(getattr(args, "batch_docs", 5000) or 5000)
    args.max_in_flight = int(getattr(args, "max_in_flight", 2) or 2)
    records = make_bench_records(n)
    es = make_client(ElasticsearchOptions(hosts=[url]))
    run_id = uuid.uuid4().hex[:6]
    raw_best = sink_best = float("inf")
    prefixes = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for rnd in range(repeat):
                raw_prefix, sink_prefix = f"bench{run_id}r{rnd}", f"bench{run_id}s{rnd}"
                prefixes += [raw_prefix, sink_prefix]
                for p in (raw_prefix, sink_prefix):
                    install(es, p)
                bodies = _raw_bodies(records, raw_prefix, args.batch_docs)
                # Alternate which goes first: the second one shares the node with the
                # first one's background merges.
                if rnd % 2 == 0:
                    raw_best = min(raw_best, _raw_round(url, bodies, args.max_in_flight))
                sink_best = min(sink_best, _sink_round(url, records, sink_prefix, args, tmp))
                if rnd % 2 == 1:
                    raw_best = min(raw_best, _raw_round(url, bodies, args.max_in_flight))
                for p in (raw_prefix, sink_prefix):  # keep the node's disk and heap small
                    requests.delete(f"{url}/{p}-*", timeout=120)
    finally:
        for p in prefixes:
            for kind, name in (("_index_template", "falcon"), ("_index_template", "panos"),
                               ("_component_template", "ecs-mappings"),
                               ("_component_template", "settings")):  # fmt: skip
                requests.delete(f"{url}/{kind}/{p}-{name}", timeout=30)
        es.close()
    raw_rate, sink_rate = n / raw_best, n / sink_best
    return {
        "bench": "es",
        "documents": n,
        "batch_docs": args.batch_docs,
        "max_in_flight": args.max_in_flight,
        "raw_bulk_docs_per_s": round(raw_rate, 1),
        "sink_docs_per_s": round(sink_rate, 1),
        "ratio": round(sink_rate / raw_rate, 3),
        "target_ratio": 0.8,
    }


if __name__ == "__main__":
    import sys

    import orjson

    parser = argparse.ArgumentParser(prog="python -m shippers.bench_es")
    add_es_args(parser)
    print(orjson.dumps(run_es_bench(parser.parse_args(sys.argv[1:]))).decode())
