"""End-of-soak checks: the ledger against Elasticsearch, the dead-letter file, the raw
archive and the Prometheus counters of every shipper lifetime.

Elasticsearch is read with composite aggregations over the ledger id fields (`event.id`
for FDR, `panw.panos.sequence_number` for PAN-OS) across all of the soak's indices, so a
document stored twice — even in two different daily indices — shows as a count of 2.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import requests

from shippers.archive_layout import parse_raw_key

from .workload import Workload

__all__ = ["DeadLetters", "Verdict", "es_id_counts", "read_dead_letters", "verify"]

_MARKER = re.compile(rb"soak-(?:bad-(?:fdr|panos)|poison)-\d+-\d+")


def es_id_counts(es_url: str, index: str, fld: str) -> tuple[Counter[str], int]:
    """(value → number of documents, documents in total) over `index` (a pattern)."""
    requests.post(f"{es_url}/{index}/_refresh", timeout=60)
    counts: Counter[str] = Counter()
    after: dict[str, Any] | None = None
    while True:
        comp: dict[str, Any] = {"size": 10000, "sources": [{"v": {"terms": {"field": fld}}}]}
        if after:
            comp["after"] = after
        r = requests.post(
            f"{es_url}/{index}/_search?allow_no_indices=true",
            json={"size": 0, "track_total_hits": True, "aggs": {"ids": {"composite": comp}}},
            timeout=120,
        )
        r.raise_for_status()
        body = r.json()
        agg = body.get("aggregations", {}).get("ids", {})
        for b in agg.get("buckets", []):
            counts[str(b["key"]["v"])] += int(b["doc_count"])
        after = agg.get("after_key")
        if not agg.get("buckets") or not after:
            total = int(body.get("hits", {}).get("total", {}).get("value", 0))
            return counts, total


def es_count(es_url: str, index: str) -> int:
    """Documents in `index` now (no refresh); -1 when Elasticsearch does not answer."""
    try:
        r = requests.get(f"{es_url}/{index}/_count?allow_no_indices=true", timeout=10)
        return int(r.json().get("count", 0)) if r.ok else -1
    except requests.RequestException:
        return -1


@dataclass
class DeadLetters:
    entries: list[dict[str, Any]]
    markers: dict[str, str]  # soak marker → reason of its (first) dead letter
    bomb_objects: dict[str, str]  # object key → reason
    given_up: list[dict[str, Any]]  # (SQS message body as dict or text, reason)


def read_dead_letters(path: Path) -> DeadLetters:
    entries: list[dict[str, Any]] = []
    if path.exists():
        entries = [orjson.loads(ln) for ln in path.read_bytes().splitlines() if ln.strip()]
    markers: dict[str, str] = {}
    bombs: dict[str, str] = {}
    given_up: list[dict[str, Any]] = []
    for e in entries:
        raw = (
            e["original"].encode()
            if "original" in e
            else base64.b64decode(e.get("original_b64", ""))
        )
        reason = str(e.get("reason", ""))
        for m in _MARKER.findall(raw):
            markers.setdefault(m.decode(), reason)
        detail = e.get("detail") or {}
        if e.get("stage") == "source" and "expansion limit" in reason and detail.get("key"):
            bombs.setdefault(detail["key"], reason)
        if e.get("stage") == "source" and "message_id" in detail:
            given_up.append({"original": raw.decode("utf-8", "replace"), "reason": reason})
    return DeadLetters(entries, markers, bombs, given_up)


def _given_up_keys(dl: DeadLetters) -> dict[str, str]:
    """Object keys named by SQS messages that were given up (their events are accounted)."""
    out: dict[str, str] = {}
    for g in dl.given_up:
        try:
            body = orjson.loads(g["original"])
        except orjson.JSONDecodeError:
            continue
        for f in body.get("files", []) if isinstance(body, dict) else []:
            out.setdefault(str(f.get("path")), g["reason"])
    return out


@dataclass
class Verdict:
    events: int = 0
    delivered: int = 0
    dead_lettered: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected_docs: int = 0
    lost_examples: list[str] = field(default_factory=list)
    duplicated_examples: list[str] = field(default_factory=list)
    poison_dead_lettered: bool = False
    archive: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)


def verify(
    wl: Workload,
    es_url: str,
    prefix: str,
    dl_path: Path,
    s3: Any,
    archive_bucket: str,
    lifetimes: list[dict[str, float]],
    dl_lines_total: int,
) -> Verdict:
    v = Verdict(events=wl.ledger.total)
    led = wl.ledger
    fdr_counts, fdr_total = es_id_counts(es_url, f"{prefix}-falcon-*", "event.id")
    pan_counts, pan_total = es_id_counts(es_url, f"{prefix}-panos-*", "panw.panos.sequence_number")
    dl = read_dead_letters(dl_path)
    given_up = _given_up_keys(dl)
    v.dead_letter_reasons = dict(
        Counter(str(e.get("reason", "")).split(":", 1)[0][:60] for e in dl.entries)
    )

    def outcome(n: int, covered: str | None, lid: str) -> None:
        if n == 1:
            v.delivered += 1
        elif n > 1:
            v.duplicated += 1
            if len(v.duplicated_examples) < 5:
                v.duplicated_examples.append(f"{lid} x{n}")
        elif covered is not None:
            v.dead_lettered += 1
        else:
            v.lost += 1
            if len(v.lost_examples) < 5:
                v.lost_examples.append(lid)

    for lid, key in led.fdr.items():
        covered = dl.bomb_objects.get(key) or given_up.get(key)
        outcome(fdr_counts.get(lid, 0), covered, lid)
    for marker in [*led.fdr_bad, *led.panos_bad]:
        outcome(0, dl.markers.get(marker), marker)
    for seq in led.panos:
        outcome(pan_counts.get(seq, 0), None, f"panos seq {seq}")
    known = set(led.fdr) | set(led.panos)
    v.unexpected_docs = sum(n for k, n in (fdr_counts | pan_counts).items() if k not in known)
    v.unexpected_docs += fdr_total - sum(fdr_counts.values())  # docs without a ledger field
    v.unexpected_docs += pan_total - sum(pan_counts.values())
    v.poison_dead_lettered = all(m in dl.markers for m in led.poison)
    v.archive = check_archive(wl, s3, archive_bucket)
    v.metrics = check_metrics(
        lifetimes, sum(fdr_counts.values()), sum(pan_counts.values()), dl, dl_lines_total
    )
    return v


def check_archive(wl: Workload, s3: Any, bucket: str) -> dict[str, Any]:
    """Every raw object (lookup, data, bomb) is in the raw archive, byte for byte."""
    found: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="fdr/raw/"):
        for o in page.get("Contents", []):
            parsed = parse_raw_key(o["Key"])
            if parsed is None:
                continue
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            found[parsed[1]] = hashlib.md5(body, usedforsecurity=False).hexdigest()
    missing = [k for k in wl.objects if k not in found]
    differ = [k for k, o in wl.objects.items() if k in found and found[k] != o.md5]
    return {
        "objects": len(wl.objects),
        "archived": len(found),
        "missing": len(missing),
        "differ": len(differ),
        "ok": not missing and not differ,
    }


def _sum(snap: dict[str, float], name: str, **labels: str) -> float:
    total = 0.0
    for key, val in snap.items():
        n, _, rest = key.partition("{")
        if n != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += val
    return total


def check_metrics(
    lifetimes: list[dict[str, float]],
    fdr_docs: int,
    panos_docs: int,
    dl: DeadLetters,
    dl_lines_total: int,
) -> dict[str, Any]:
    """Counters summed over the process lifetimes against Elasticsearch and the DL file.

    Each lifetime was scraped with the Elasticsearch path held and drained just before its
    SIGKILL (or at the end, quiescent), so every document Elasticsearch created was
    answered to — and counted by — exactly one lifetime: created = delivered − duplicate.
    """

    def total(name: str, **labels: str) -> float:
        return sum(_sum(s, name, **labels) for s in lifetimes)

    out: dict[str, Any] = {}
    for src, docs in (("falcon-fdr", fdr_docs), ("panos-syslog", panos_docs)):
        d = total("shippers_events_delivered_total", source=src, sink="elasticsearch")
        dup = total("shippers_events_duplicate_total", source=src, sink="elasticsearch")
        out[src] = {"delivered": int(d), "duplicate": int(dup), "created": int(d - dup),
                    "es_docs": docs, "ok": int(d - dup) == docs}  # fmt: skip
    dlc = total("shippers_events_dead_lettered_total")
    out["dead_lettered"] = {"counter": int(dlc), "file_lines": dl_lines_total,
                            "ok": int(dlc) == dl_lines_total}  # fmt: skip
    gu = total("shippers_sqs_messages_total", outcome="given_up")
    out["sqs_given_up"] = {"counter": int(gu), "dead_letters": len(dl.given_up),
                           "ok": int(gu) == len(dl.given_up)}  # fmt: skip
    out["bulk_items_retried_429"] = int(total("shippers_bulk_items_retried_total", status="429"))
    out["lifetimes"] = len(lifetimes)
    out["ok"] = all(
        out[k]["ok"] for k in ("falcon-fdr", "panos-syslog", "dead_lettered", "sqs_given_up")
    )
    return out
