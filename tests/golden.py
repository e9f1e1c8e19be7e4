"""Field-by-field comparison of our documents with Elastic's expected ECS output.

Used by the golden tests of both normalizers. A (document, field) pair is compared for
every *core* field present in Elastic's expected document; agreement is the share of
pairs that match. Lists of scalars compare as multisets (Elastic's ingest pipelines do not
promise an order for event.category / event.type / related.*), dates compare as instants
(`...999Z` equals `...999+00:00`), IPs compare as parsed addresses.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
CORPUS = SHARED / "corpus" / "elastic"

# Prefixes (dotted) of the fields whose agreement the golden tests measure.
CORE_PREFIXES = (
    "@timestamp",
    "event.",
    "source.ip",
    "source.port",
    "destination.ip",
    "destination.port",
    "network.transport",
    "process.",
    "file.",
    "dns.question.name",
    "user.",
    "host.",
    "observer.serial_number",
    "rule.name",
    "url.",
)
# Out of scope by the corpus README: enrichment and bookkeeping fields.
EXCLUDED_PARTS = (".geo.", ".as.")
EXCLUDED = {"event.original", "event.ingested", "tags", "ecs.version"}


def flatten(doc: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in doc.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from flatten(value, path)
        else:
            yield path, value


def is_core(path: str) -> bool:
    if path in EXCLUDED or any(p in f".{path}." for p in EXCLUDED_PARTS):
        return False
    return any(path == p.rstrip(".") or path.startswith(p) for p in CORE_PREFIXES)


def _norm_scalar(v: Any) -> Any:
    if isinstance(v, str):
        if len(v) >= 19 and v[4:5] == "-" and v[10:11] == "T":
            try:
                return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return v
        try:
            return str(ipaddress.ip_address(v))
        except ValueError:
            return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def normalize_value(v: Any) -> Any:
    if isinstance(v, list):
        return sorted((_norm_scalar(x) for x in v), key=repr)
    return _norm_scalar(v)


@dataclass
class Diff:
    doc_index: int
    field: str
    expected: Any
    actual: Any


def compare(
    actual: dict[str, Any], expected: dict[str, Any], index: int = 0
) -> tuple[int, list[Diff]]:
    """(number of core pairs compared, the pairs that differ) for one document."""
    flat_actual = dict(flatten(actual))
    pairs = 0
    diffs = []
    for path, exp in flatten(expected):
        if not is_core(path):
            continue
        pairs += 1
        act = flat_actual.get(path)
        if normalize_value(act) != normalize_value(exp):
            diffs.append(Diff(index, path, exp, act))
    return pairs, diffs


def load_expected(log_path: Path) -> list[dict[str, Any]]:
    p = log_path.with_name(log_path.name + "-expected.json")
    return json.loads(p.read_text())["expected"] if p.exists() else []


def load_allowed_differences(path: Path) -> dict[str, str]:
    """`field<TAB>reason` lines (comments with #): deliberate differences from Elastic."""
    allowed = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        field, _, reason = line.partition("\t")
        allowed[field.strip()] = reason.strip()
    return allowed


def agreement(results: Iterable[tuple[int, list[Diff]]]) -> tuple[int, int, list[Diff]]:
    total = 0
    all_diffs: list[Diff] = []
    for pairs, diffs in results:
        total += pairs
        all_diffs.extend(diffs)
    return total, total - len(all_diffs), all_diffs
