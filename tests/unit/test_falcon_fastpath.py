"""The FDR fast path (per-layout plans, specialized code) builds exactly what the general
`normalize_fdr` builds, for every corpus FDR record and for variants of them with a key
missing or emptied (which change the layout and the branches taken)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from shippers.normalizers import falcon, falcon_plan
from shippers.normalizers.falcon import FalconNormalizer, normalize_fdr

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "elastic" / "crowdstrike-fdr"


def _records() -> list[dict[str, Any]]:
    out = []
    for f in sorted(CORPUS.glob("*.log")) if CORPUS.exists() else []:
        for line in f.read_bytes().splitlines():
            if line.strip():
                obj = orjson.loads(line)
                if all(type(v) is str for v in obj.values()):  # the fast path's domain
                    out.append(obj)
    return out


RECORDS = _records()


def _comparable(doc: dict[str, Any]) -> bytes:
    """Serialized document, key order included; a receive-time @timestamp is masked."""
    if "created" not in doc["event"]:
        doc = {**doc, "@timestamp": "now"}
    return orjson.dumps(doc)


def _variants(obj: dict[str, Any]) -> list[dict[str, Any]]:
    out = [obj]
    for k in obj:
        out.append({kk: v for kk, v in obj.items() if kk != k})
        out.append({**obj, k: ""})
    return out


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    if not RECORDS:
        pytest.skip(f"corpus not found at {CORPUS}")
    return RECORDS


def _line(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def test_generic_fast_path_equals_general_path(records) -> None:
    checked = 0
    for rec in records:
        for obj in _variants(rec):
            line = _line(obj)
            want, want_id = normalize_fdr(dict(obj), line)
            name = obj.get("event_simpleName") or ""
            plan = falcon_plan.Plan(name, tuple(obj))
            got, got_id = falcon_plan._mapped(dict(obj), line, name, plan)
            assert _comparable(got) == _comparable(want), line
            assert got_id == want_id
            checked += 1
    assert checked > 5000


def test_specialized_fast_path_equals_general_path(records) -> None:
    for rec in records:
        for obj in (rec, {k: ("" if "Id" in k else v) for k, v in rec.items()}):
            line = _line(obj)
            want, want_id = normalize_fdr(dict(obj), line)
            name = obj.get("event_simpleName") or ""
            plan = falcon_plan.Plan(name, tuple(obj))
            fn = falcon_plan.specialize(plan)
            assert fn is not falcon_plan._mapped, "the source is available, so it specializes"
            got, got_id = fn(dict(obj), line, name, plan)
            assert _comparable(got) == _comparable(want), line
            assert got_id == want_id


@pytest.fixture
def python_path(monkeypatch) -> None:
    """The Python fast path even where the compiled mapping is built (it would skip plans)."""
    monkeypatch.setattr(falcon, "_native", None)


def test_repeated_layouts_switch_to_specialized_code_without_changing_output(
    records, python_path
) -> None:
    norm = FalconNormalizer()
    rec = records[0]
    line = _line(rec)
    first, first_id = norm.normalize(line)
    for _ in range(falcon_plan._SPECIALIZE_AFTER + 2):
        doc, doc_id = norm.normalize(line)
        assert _comparable(doc) == _comparable(first) and doc_id == first_id
    key = (rec.get("event_simpleName") or "", tuple(rec))
    assert falcon_plan._PLANS[key].run is not falcon_plan._mapped


def test_documents_share_no_mutable_objects(records, python_path) -> None:
    """Sinks add fields in place: nothing in one document may alias another's or a cache's."""
    norm = FalconNormalizer()
    for rec in records:
        line = _line(rec)
        for _ in range(falcon_plan._SPECIALIZE_AFTER + 1):
            a, _ = norm.normalize(line)
        b, _ = norm.normalize(line)
        ids_a = _container_ids(a)
        assert ids_a.isdisjoint(_container_ids(b)), line
        _scribble(a)
        c, _ = norm.normalize(line)
        assert b"scribbled" not in orjson.dumps(c)


def _container_ids(x: Any) -> set[int]:
    out: set[int] = set()
    if isinstance(x, dict):
        out.add(id(x))
        for v in x.values():
            out |= _container_ids(v)
    elif isinstance(x, list):
        out.add(id(x))
        for v in x:
            out |= _container_ids(v)
    return out


def _scribble(x: Any) -> None:
    if isinstance(x, dict):
        for v in list(x.values()):
            _scribble(v)
        x["scribbled"] = 1
    elif isinstance(x, list):
        for v in x:
            _scribble(v)
        x.append("scribbled")


@pytest.mark.parametrize("native", [True, False])
def test_out_of_range_numbers_stay_text_and_never_crash(native, monkeypatch) -> None:
    """A count beyond int64 stays vendor text (Elasticsearch's long cannot hold it); a time
    of hundreds of digits (float() gives inf) is no time, not an exception."""
    if not native:
        monkeypatch.setattr(falcon, "_native", None)
    norm = FalconNormalizer()
    line = orjson.dumps(
        {
            "event_simpleName": "ProcessRollup2",
            "timestamp": "1712345678123",
            "aid": "a1",
            "HugeCount": "9" * 25,
            "SmallCount": "12",
            "ProcessStartTime": "9" * 400,
            "CommandLine": "cmd.exe /c x",
            "event_platform": "Win",
        }
    )
    for _ in range(falcon_plan._SPECIALIZE_AFTER + 2):  # generic and specialized code alike
        doc, _ = norm.normalize(line)
        assert doc["crowdstrike"]["HugeCount"] == "9" * 25
        assert doc["crowdstrike"]["SmallCount"] == 12
        assert "start" not in doc["process"]
        orjson.dumps(doc)  # serializable: no integer beyond 64 bits
