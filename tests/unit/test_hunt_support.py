"""Shared helpers for the hunt tests: the bundled demo logs as Records, the archive layout.

The layout writer is deliberately independent of `shippers/sinks/archive.py`: it encodes
the fixed contract (`normalized/source=…/dt=…/hour=…/*.ndjson.gz`, `_id` in each line)
so the hunt tests pin the layout, not one implementation of it.
"""

from __future__ import annotations

import gzip
from collections import defaultdict
from importlib import resources
from pathlib import Path

import orjson

from shippers.archive_layout import partition_of
from shippers.normalizers import get_normalizer
from shippers.pipeline import normalize_one
from shippers.record import ID_FIELD, Provenance, Record

SHARED_IP = "203.0.113.50"  # in the Falcon NetworkConnectIP4 and the PAN-OS TRAFFIC/THREAT


def demo_path(name: str) -> Path:
    return Path(str(resources.files("shippers") / "data" / "demo" / name))


def demo_records() -> list[Record]:
    """Every line of the bundled demo files, normalized with the real normalizers."""
    out: list[Record] = []
    for name, fmt in (("falcon-fdr-data.log", "falcon"), ("panos-syslog.log", "panos")):
        normalizer = get_normalizer(fmt)
        offset = 0
        for line in demo_path(name).read_bytes().splitlines(keepends=True):
            rec = normalize_one(normalizer, line.rstrip(b"\n"), Provenance("test", name, offset))
            offset += len(line)
            assert isinstance(rec, Record), rec
            out.append(rec)
    return out


def write_layout(root: Path, records: list[Record], name: str = "part-0.ndjson.gz") -> list[Path]:
    """Write records into the normalized archive layout under `root`; returns the files."""
    groups: dict[tuple[str, str, str], list[bytes]] = defaultdict(list)
    for r in records:
        dt, hour = partition_of(r.doc)
        groups[(r.source_type, dt, hour)].append(orjson.dumps({ID_FIELD: r.doc_id, **r.doc}))
    files = []
    for (source, dt, hour), lines in groups.items():
        p = root / "normalized" / f"source={source}" / f"dt={dt}" / f"hour={hour}" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
        files.append(p)
    return files


def test_demo_records_cover_both_sources_and_the_shared_address() -> None:
    recs = demo_records()
    by_source = {r.source_type for r in recs if SHARED_IP in r.doc.get("related", {}).get("ip", [])}
    assert by_source == {"falcon", "panos"}
    assert len({r.doc_id for r in recs}) == len(recs)  # ids are unique: dedup is meaningful
