"""Hunt and IoC sweep over both tiers: Elasticsearch (hot) and the archive (cold).

The same demo records are placed only in Elasticsearch, only in the archive, or split
between them with an overlap; the hunt must return the same documents every time, each
once (deduplicated by `_id`), tagged with where it lives. Documents reach Elasticsearch
through the real sink and the archive through the real archive sink.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shippers.cli import main
from shippers.hunt import ColdArchive, HotStore, Indicator, Query, run_hunt
from shippers.hunt.match import Matcher
from shippers.plugin import Context
from shippers.record import Record
from shippers.sinks.archive import ArchiveOptions, ArchiveSink
from shippers.sinks.dead_letter import DeadLetterSink
from tests.unit.test_hunt_support import SHARED_IP, demo_records

RECORDS = demo_records()
SHARED = Indicator("ip", SHARED_IP)
EXPECTED = {r.doc_id: r.source_type for r in RECORDS if Matcher([SHARED]).match(r.doc)}


def to_archive(root: Path, records: list[Record]) -> None:
    sink = ArchiveSink(
        ArchiveOptions(url=str(root)), Context(dead_letter=DeadLetterSink(root / "dl"))
    )
    sink.write(records)
    sink.close()


def to_es(es_url: str, prefix: str, tmp_path: Path, records: list[Record]) -> None:
    from tests.integration.elasticsearch_support import make_sink, refresh, tracked_ack

    sut = make_sink(es_url, prefix, tmp_path)
    ack, state = tracked_ack(len(records))
    for r in records:
        r.ack = ack
    ack.seal()
    sut.sink.write(records)
    sut.close()
    assert state == {"settled": True, "failed": False}, sut.letters()
    refresh(es_url, prefix)


def _copies(records: list[Record]) -> list[Record]:
    """Fresh Record objects (acks are per delivery), same documents and ids."""
    return [
        Record(dict(r.doc), r.doc_id, r.provenance, None, r.source_type, r.raw) for r in records
    ]


def test_archive_only_baseline(tmp_path: Path) -> None:
    to_archive(tmp_path / "archive", _copies(RECORDS))
    t = run_hunt(Query([SHARED]), archive=ColdArchive(str(tmp_path / "archive")))
    assert not t.errors
    assert {h.id: h.source for h in t.hits} == EXPECTED
    assert set(EXPECTED.values()) == {"falcon", "panos"}
    assert t.counts()["tier"] == {"cold": len(EXPECTED)}


@pytest.mark.elasticsearch
@pytest.mark.parametrize("placement", ["hot", "cold", "split"])
def test_same_hits_whatever_the_tier(
    placement: str, es_url: str, es_prefix: str, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    hot_ids: set[str] = set()
    cold_ids: set[str] = set()
    shared = [r for r in RECORDS if r.doc_id in EXPECTED]
    if placement == "hot":
        hot_ids = {r.doc_id for r in RECORDS}
    elif placement == "cold":
        cold_ids = {r.doc_id for r in RECORDS}
    else:
        # Alternate records between the tiers, and put the first shared-IP document in
        # both (what a normal run does until the hot retention drops it).
        hot_ids = {r.doc_id for i, r in enumerate(RECORDS) if i % 2 == 0}
        cold_ids = {r.doc_id for i, r in enumerate(RECORDS) if i % 2 == 1}
        hot_ids.add(shared[0].doc_id)
        cold_ids.add(shared[0].doc_id)
        assert {r.doc_id for r in shared} & hot_ids - cold_ids  # each tier alone is partial
        assert {r.doc_id for r in shared} & cold_ids - hot_ids
    if hot_ids:
        to_es(es_url, es_prefix, tmp_path, _copies([r for r in RECORDS if r.doc_id in hot_ids]))
    if cold_ids:
        to_archive(archive, _copies([r for r in RECORDS if r.doc_id in cold_ids]))

    t = run_hunt(
        Query([SHARED]),
        archive=ColdArchive(str(archive)),
        hot=HotStore(es_url, index_prefix=es_prefix),
    )
    assert not t.errors
    assert {h.id: h.source for h in t.hits} == EXPECTED  # same hits, each exactly once
    assert len(t.hits) == len(EXPECTED)
    for h in t.hits:
        want = {t for t, ids in (("hot", hot_ids), ("cold", cold_ids)) if h.id in ids}
        assert h.tiers == want, h.id
    assert sum(t.counts()["source"].values()) == len(EXPECTED)
    if placement == "split":
        assert t.counts()["tier"]["both"] == 1


STIX = {
    "type": "bundle",
    "id": "bundle--0f5d1d3c-1111-4c1e-9a55-7b6f2c9a0001",
    "objects": [
        {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{n}", "name": name,
         "pattern": pattern, "pattern_type": "stix", "valid_from": "2024-05-15T00:00:00Z"}
        for n, (name, pattern) in enumerate([
            ("c2 address", f"[ipv4-addr:value = '{SHARED_IP}']"),
            ("c2 domain", "[domain-name:value = 'badcdn.example']"),
            ("dropper", "[file:hashes.'SHA-256' = "
                        "'de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c']"),
            ("unrelated", "[ipv4-addr:value = '192.0.2.250']"),
            ("complex", "[ipv4-addr:value = '1.2.3.4' AND network-traffic:dst_port = 22]"),
        ])
    ],
}  # fmt: skip
PLAIN = f"# indicators learned today\n{SHARED_IP}\n10.20.40.0/24\nhxxp://nothing-here[.]example/x\n"


def _sweep(capsys, path: Path, *tier_args: str) -> tuple[int, dict]:
    code = main(["ioc-sweep", str(path), "--format", "json", *tier_args])
    return code, json.loads(capsys.readouterr().out)


def _check_stix(report: dict) -> dict[str, dict]:
    by = {r["indicator"]: r for r in report["indicators"]}
    assert by[SHARED_IP]["sources"] == {"falcon": 1, "panos": 2}
    assert by[SHARED_IP]["first_seen"] == "2024-05-14T09:15:04.000Z"
    assert by[SHARED_IP]["last_seen"] == "2024-05-14T09:16:10.000Z"
    assert by[SHARED_IP]["hosts"] == ["PA-3220-HQ", "WKSTN-0142"]
    assert by[SHARED_IP]["users"] == ["jdoe"]
    assert by["badcdn.example"]["sources"] == {"falcon": 1, "panos": 1}
    assert by["de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c"]["sources"] == {
        "falcon": 1
    }
    assert by["192.0.2.250"]["status"] == "clean" and by["192.0.2.250"]["hits"] == 0
    assert report["summary"] == {"indicators": 4, "seen": 3, "clean": 1, "skipped": 1}
    return by


def test_sweep_archive_only(tmp_path: Path, capsys) -> None:
    to_archive(tmp_path / "archive", _copies(RECORDS))
    (tmp_path / "b.json").write_text(json.dumps(STIX))
    code, report = _sweep(
        capsys, tmp_path / "b.json", "--archive", str(tmp_path / "archive"), "--es", "none"
    )
    assert code == 1
    by = _check_stix(report)
    assert by[SHARED_IP]["tiers"] == {"cold": 3}

    (tmp_path / "clean.txt").write_text("192.0.2.250\nnothing.example\n")
    code, report = _sweep(
        capsys, tmp_path / "clean.txt", "--archive", str(tmp_path / "archive"), "--es", "none"
    )
    assert code == 0 and report["summary"]["seen"] == 0


@pytest.mark.elasticsearch
def test_sweep_stix_and_plain_over_both_tiers(
    es_url: str, es_prefix: str, tmp_path: Path, capsys
) -> None:
    # Falcon only in Elasticsearch, PAN-OS only in the archive, the shared Falcon
    # connection in both: every indicator's counts must still be exact.
    falcon = [r for r in RECORDS if r.source_type == "falcon"]
    panos = [r for r in RECORDS if r.source_type == "panos"]
    both = [r for r in falcon if r.doc_id in EXPECTED]
    to_es(es_url, es_prefix, tmp_path, _copies(falcon))
    to_archive(tmp_path / "archive", _copies(panos + both))
    tiers = ("--archive", str(tmp_path / "archive"), "--es", es_url, "--es-index-prefix", es_prefix)

    (tmp_path / "b.json").write_text(json.dumps(STIX))
    code, report = _sweep(capsys, tmp_path / "b.json", *tiers)
    assert code == 1
    by = _check_stix(report)
    assert by[SHARED_IP]["tiers"] == {"both": 1, "cold": 2}
    assert by["badcdn.example"]["tiers"] == {"hot": 1, "cold": 1}
    assert report["skipped"][0]["reason"].startswith("complex")

    (tmp_path / "list.txt").write_text(PLAIN)
    code, report = _sweep(capsys, tmp_path / "list.txt", *tiers)
    assert code == 1
    by = {r["indicator"]: r for r in report["indicators"]}
    assert by[SHARED_IP]["sources"] == {"falcon": 1, "panos": 2}
    # 10.20.40.11 → 10.20.0.53: one Falcon connection (hot) and the firewall's view (cold)
    assert by["10.20.40.0/24"]["sources"] == {"falcon": 1, "panos": 1}
    assert by["10.20.40.0/24"]["hosts"] == ["PA-3220-HQ", "SRV-FILE-01"]
    assert by["10.20.40.0/24"]["tiers"] == {"hot": 1, "cold": 1}
    assert by["http://nothing-here.example/x"]["status"] == "clean"
