"""The compiled FDR mapping (`shippers._fdr_native`) builds exactly what the Python mapping
builds — same bytes once serialized, key order included, same document id — or declines.

Checked over every corpus FDR record, variants of each with a key removed or emptied, and
records seeded with adversarial values (escapes, odd numbers and times, IP forms Python's
ipaddress and a naive parser disagree on, Unicode). Lines it must not accept (malformed
JSON, non-string values) must be declined, so the Python path reports them.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from shippers.normalizers import falcon, falcon_native
from shippers.normalizers.falcon import FalconNormalizer, normalize_fdr

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "elastic" / "crowdstrike-fdr"

# Records the compiled mapping leaves to Python by design (see falcon_native.py).
_PYTHON_ONLY_KEYS = ("RegObjectName", "DetectName", "SeverityName")


@pytest.fixture(scope="module")
def native() -> Any:
    fn = falcon_native.load_native()
    if fn is None:
        if os.environ.get("CI"):
            pytest.fail("shippers._fdr_native was not built: CI installs a Rust toolchain")
        pytest.skip(
            "shippers._fdr_native is not built (or SHIPPERS_FDR_NATIVE=0): install a Rust "
            "toolchain (cargo) and re-run `pip install -e '.[test]'` to build it"
        )
    return fn


def _corpus_lines() -> list[bytes]:
    out: list[bytes] = []
    for f in sorted(CORPUS.glob("*.log")) if CORPUS.exists() else []:
        out.extend(ln for ln in f.read_bytes().splitlines() if ln.strip())
    return out


LINES = _corpus_lines()


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    recs = [orjson.loads(ln) for ln in LINES]
    recs = [r for r in recs if all(type(v) is str for v in r.values())]
    if not recs:
        pytest.skip(f"corpus not found at {CORPUS}")
    return recs


def _python(line: bytes) -> tuple[bytes, str] | None:
    """The reference: the general Python mapping, serialized; None when it has no document."""
    obj = orjson.loads(line)
    if not isinstance(obj, dict) or not all(type(v) is str for v in obj.values()):
        return None
    doc, doc_id = normalize_fdr(obj, line)
    return orjson.dumps(doc), doc_id


def _same(native: Any, line: bytes) -> bool:
    """Asserts native == Python for `line` when native accepts it; True when it accepted."""
    got = native(line)
    if got is None:
        return False
    want = _python(line)
    assert want is not None, f"native accepted a line Python does not map: {line!r}"
    assert orjson.dumps(got[0]) == want[0], line
    assert got[1] == want[1], line
    return True


def test_corpus_records_and_their_variants_match_python(native, records) -> None:
    accepted = declined = 0
    for rec in records:
        variants = [rec]
        for k in rec:
            variants.append({kk: v for kk, v in rec.items() if kk != k})
            variants.append({**rec, k: ""})
        for obj in variants:
            if _same(native, orjson.dumps(obj)):
                accepted += 1
            else:
                declined += 1
    assert accepted > 5000
    assert accepted > 5 * declined


def test_native_declines_only_what_it_leaves_to_python_by_design(native, records) -> None:
    for rec in records:
        line = orjson.dumps(rec)
        if native(line) is None:
            doc, _ = normalize_fdr(dict(rec), line)
            by_design = any(k in rec for k in _PYTHON_ONLY_KEYS) or "created" not in doc["event"]
            assert by_design, f"declined a plain record: {line!r}"


# Values the two implementations could plausibly disagree on, per kind of field.
_ODD: dict[str, list[str]] = {
    "count": [" 12", "+5", "1_000", "٣", "-0", "007", "abc", "9" * 25, "-9223372036854775808",
              "9223372036854775808", "1.5", ""],
    "time": ["1712345678", "1712345678.5", "1712345678.0005", "1712345678.0015",
             "1712345678123", "133579999999999999", "2024-04-05T10:00:00Z",
             "2024-04-05T10:00:00", "9999999999999", "0", "00017", "1e5", " 1712345678",
             "1712345678.", "1712345678.123456789", "99999999999", "100000000000", "-5"],
    "ip": ["::1", "fe80::1%eth0", "01.2.3.4", "1.2.3.4 5.6.7.8", "1.2.3.4\x0b5.6.7.8",
           "1.2.3.4\t10.0.0.1", " 10.0.0.1 ", "::ffff:1.2.3.4", "1.2.3", "ｘ", "300.1.1.1"],
    "port": ["443", "65536", "-1", "99999999999999999999", "0x50", " 80", ""],
    "mac": ["aa-bb-cc-dd-ee-ff", "ß-ﬁ", "ǅ"],
    "path": ["C:\\dir\\", "/", "x", "\\Device\\HarddiskVolume2\\a.tar.gz", "/usr/bin/",
             "\\", "é\\ü.txt", "no_separator.exe", "/tmp/.hidden"],
    "text": ['he said "hi"', "tab\there", "line\nbreak", "emoji 😀", "\u2028", "nul\x01",
             "back\\slash", "a@b@c", "@b", "a@", "ǅ", "\u00a0x , y,,z ", "  "],
    "hash": ["0" * 32, "0" * 64, "00", "0", "abc0", "ＡＢ"],
}


def _kind(key: str) -> str:
    if "Count" in key:
        return "count"
    if key in falcon._TIME_KEYS or "Time" in key:
        return "time"
    if "IP" in key or key == "aip":
        return "ip"
    if "Port" in key:
        return "port"
    if key in ("MAC", "PhysicalAddress"):
        return "mac"
    if "FileName" in key or "Path" in key or "Image" in key:
        return "path"
    if "Hash" in key:
        return "hash"
    return "text"


def _serializations(obj: dict[str, Any]) -> list[bytes]:
    """The same record as orjson writes it, with \\u escapes, and with JSON whitespace."""
    return [
        orjson.dumps(obj),
        json.dumps(obj, ensure_ascii=True).encode(),
        json.dumps(obj, ensure_ascii=False, indent=1).encode(),
        b"  " + json.dumps(obj, separators=(" ,", " : ")).encode() + b"\t",
    ]


def test_adversarial_values_match_python(native, records) -> None:
    rng = random.Random(20261127)
    accepted = 0
    for _ in range(12):
        for rec in records:
            obj = dict(rec)
            for k in rng.sample(list(obj), k=min(len(obj), rng.randint(1, 6))):
                if k != "event_simpleName":
                    obj[k] = rng.choice(_ODD[_kind(k)])
            for extra in rng.sample(["Tags", "MAC", "LocalPort", "RemoteAddressIP4", "UID",
                                     "UserPrincipal", "ProcessEndTime", "SomeCount"], k=2):
                obj.setdefault(extra, rng.choice(_ODD[_kind(extra)] + _ODD["text"]))
            for line in _serializations(obj):
                accepted += _same(native, line)
    assert accepted > 1000


def test_event_names_and_layouts_outside_the_tables_match_python(native) -> None:
    base = {"timestamp": "1712345678123", "aid": "a1", "cid": "c1"}
    for name in ("", "BrandNewEvent", "SomethingWritten", "DriverLoad", "DnsRequest",
                 "SmbServerShareOpenedEtw", "ProcessRollup2", "ClassifiedModuleLoad"):
        for extra in ({}, {"DomainName": "x.example"}, {"ImageFileName": "\\a\\b.dll"},
                      {"RequestType": "999"}, {"event_platform": "Plan9"}):
            obj = {"event_simpleName": name, **base, **extra} if name else {**base, **extra}
            assert _same(native, orjson.dumps(obj))


@pytest.mark.parametrize(
    "line",
    [
        b'{"event_simpleName": "A", "timestamp": "1712345678123"',  # truncated
        b'{"event_simpleName":"A","timestamp":"1712345678123"} x',  # trailing bytes
        b'{"event_simpleName":"A","timestamp":1712345678123}',  # a number
        b'{"event_simpleName":"A","timestamp":"1712345678123","x":null}',
        b'{"event_simpleName":"A","timestamp":"1712345678123","x":{"y":"z"}}',
        b'{"event_simpleName":"A","timestamp":"1712345678123","x":["y"]}',
        b'{"event_simpleName":"A","timestamp":"1712345678123","x":"\\ud800"}',  # lone surrogate
        b'{"event_simpleName":"A","timestamp":"1712345678123","x":"a\x01b"}',  # raw control
        b'{"event_simpleName":"A","timestamp":"1712345678123","x":"\\q"}',  # bad escape
        b'{"event_simpleName":"A","timestamp":"1712345678123","x":"\xff\xfe"}',  # not UTF-8
        b'["event_simpleName","A"]',
        b'{"metadata":{"eventType":"X"},"event":{}}',  # an event stream event
        b'{"unrelated":"object"}',
        b"",
        b"\x00\x01\x02 garbage",
    ],
)
def test_lines_python_rejects_or_routes_elsewhere_are_declined(native, line: bytes) -> None:
    assert native(line) is None


def test_duplicate_keys_are_declined_or_match_python(native) -> None:
    line = b'{"event_simpleName":"A","timestamp":"1712345678123","aid":"x","aid":"y"}'
    _same(native, line)


def test_native_documents_share_no_mutable_objects(native, records) -> None:
    for rec in records[:200]:
        line = orjson.dumps(rec)
        a, b = native(line), native(line)
        if a is None:
            continue
        assert _containers(a[0]).isdisjoint(_containers(b[0])), line


def _containers(x: Any) -> set[int]:
    out: set[int] = set()
    if isinstance(x, dict):
        out.add(id(x))
        for v in x.values():
            out |= _containers(v)
    elif isinstance(x, list):
        out.add(id(x))
        for v in x:
            out |= _containers(v)
    return out


def test_normalizer_uses_native_and_keeps_original_on_request(native, records) -> None:
    from shippers.plugin import NormalizerOptions

    line = orjson.dumps(records[0])
    norm = FalconNormalizer(NormalizerOptions(keep_original=True))
    doc, _ = norm.normalize(line)
    assert doc["event"]["original"] == line.decode()
    assert falcon._native is not None


def test_native_can_be_switched_off(monkeypatch) -> None:
    monkeypatch.setenv(falcon_native.NATIVE_ENV, "0")
    assert falcon_native.load_native() is None
