"""The cold tier: DuckDB over an archive in the fixed layout (local directory)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shippers.hunt import ColdArchive, Indicator, Query
from shippers.hunt.cold import search_cold
from shippers.hunt.match import Matcher
from tests.unit.test_hunt_support import SHARED_IP, demo_records, write_layout

RECORDS = demo_records()

INDICATORS = [
    Indicator("ip", SHARED_IP),
    Indicator("ip", "10.20.30.42"),
    Indicator("ip", "192.0.2.10"),  # a NAT address: only PAN-OS knows it
    Indicator("cidr", "203.0.113.0/24"),
    Indicator("cidr", "10.20.40.0/24"),
    Indicator("domain", "badcdn.example"),
    Indicator("domain", "TELEMETRY.badcdn.example"),
    Indicator("hash", "DE96A6E69944335375DC1AC238336066889D9FFC7D73628EF4FE1B1B160AB32C"),
    Indicator("hash", "7353f60b1739074eb17c5f4dddefe239"),
    Indicator("user", "JDOE"),
    Indicator("user", "mlee"),
    Indicator("host", "wkstn-0142"),
    Indicator("url", "http://telemetry.badcdn.example/"),
    Indicator("ip", "192.0.2.99"),  # in nothing
]


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    write_layout(tmp_path, RECORDS)
    return tmp_path


def _expected(ind: Indicator, *, sources=("falcon", "panos"), since=None, until=None) -> set[str]:
    """Ids of the demo records the Python matcher says match — the reference for SQL."""
    m = Matcher([ind])
    out = set()
    for r in RECORDS:
        ts = datetime.fromisoformat(r.doc["@timestamp"].replace("Z", "+00:00"))
        if r.source_type not in sources or (since and ts < since) or (until and ts > until):
            continue
        if m.match(r.doc):
            out.add(r.doc_id)
    return out


@pytest.mark.parametrize("ind", INDICATORS, ids=lambda i: f"{i.kind}:{i.value[:20]}")
def test_sql_agrees_with_the_matcher(archive: Path, ind: Indicator) -> None:
    hits = search_cold(Query([ind]), ColdArchive(str(archive)))
    assert {h.id for h in hits} == _expected(ind)
    assert all(h.tiers == {"cold"} and ind in h.matched for h in hits)


def test_shared_ip_is_seen_by_both_sources(archive: Path) -> None:
    hits = search_cold(Query([Indicator("ip", SHARED_IP)]), ColdArchive(str(archive)))
    assert {h.source for h in hits} == {"falcon", "panos"}
    assert len(hits) == 3  # Falcon connect + PAN-OS THREAT url + PAN-OS TRAFFIC end
    assert all("_id" not in h.doc for h in hits)


def test_many_indicators_in_one_scan(archive: Path) -> None:
    hits = search_cold(Query(INDICATORS), ColdArchive(str(archive)))
    expected: set[str] = set().union(*(_expected(i) for i in INDICATORS))
    assert {h.id for h in hits} == expected
    by_id = {h.id: h for h in hits}
    for ind in INDICATORS:  # every hit knows every indicator it matched
        assert {i for i, h in by_id.items() if ind in h.matched} == _expected(ind)


def test_window_and_sources(archive: Path) -> None:
    since = datetime(2024, 5, 14, 9, 15, 4, 100000, tzinfo=UTC)
    until = datetime(2024, 5, 14, 9, 16, 0, tzinfo=UTC)
    ind = Indicator("ip", SHARED_IP)
    q = Query([ind], since=since, until=until)
    hits = search_cold(q, ColdArchive(str(archive)))
    assert {h.id for h in hits} == _expected(ind, since=since, until=until)
    assert [h.source for h in hits] == ["falcon"]
    only_panos = search_cold(Query([ind], sources=("panos",)), ColdArchive(str(archive)))
    assert {h.id for h in only_panos} == _expected(ind, sources=("panos",))


def test_partition_pruning_skips_files_outside_the_window(archive: Path) -> None:
    """A corrupt object in another day/hour is never opened when the window excludes it."""
    bad = archive / "normalized" / "source=falcon" / "dt=2023-01-01" / "hour=00" / "bad.ndjson.gz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"this is not gzip")
    late = archive / "normalized" / "source=panos" / "dt=2024-05-14" / "hour=23" / "bad.ndjson.gz"
    late.parent.mkdir(parents=True)
    late.write_bytes(b"neither is this")
    ind = Indicator("ip", SHARED_IP)
    arch = ColdArchive(str(archive))
    window = Query(
        [ind],
        since=datetime(2024, 5, 14, 9, tzinfo=UTC),
        until=datetime(2024, 5, 14, 10, tzinfo=UTC),
    )
    assert {h.id for h in search_cold(window, arch)} == _expected(ind)
    with pytest.raises(Exception):  # noqa: B017 - unpruned, DuckDB must trip over the bad files
        search_cold(Query([ind]), arch)


def test_duplicate_lines_in_the_archive_are_one_hit(archive: Path) -> None:
    """A replay that archived a document twice (another object) still yields one hit."""
    write_layout(archive, RECORDS, name="replay-0.ndjson.gz")
    hits = search_cold(Query([Indicator("ip", SHARED_IP)]), ColdArchive(str(archive)))
    assert len(hits) == len({h.id for h in hits}) == 3


def test_missing_or_empty_archive_is_no_hits(tmp_path: Path) -> None:
    q = Query([Indicator("ip", SHARED_IP)])
    assert search_cold(q, ColdArchive(str(tmp_path / "nope"))) == []
    (tmp_path / "normalized").mkdir()
    assert search_cold(q, ColdArchive(str(tmp_path))) == []
