"""The compiled FDR mapping (`shippers._fdr_native`) builds exactly what the Python mapping
builds — same bytes once serialized, key order included, same document id — or declines.

Checked over every corpus FDR record, variants of each with a key removed or emptied, and
records seeded with adversarial values (escapes, odd numbers and times, IP forms Python's
ipaddress and a naive parser disagree on, Unicode), registry records, and records with
non-string JSON values in keys the mapping does not read (which it accepts). Lines it must
not accept (malformed JSON, non-string values in keys the mapping reads) must be declined
— or, for an invalid nested value orjson rejects, raise — so the Python path reports them.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from shippers.errors import ParseError
from shippers.normalizers import falcon, falcon_native
from shippers.normalizers.falcon import FalconNormalizer, normalize_fdr

from .test_falcon_fastpath import _container_ids

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "elastic" / "crowdstrike-fdr"

# Records the compiled mapping leaves to Python by design (see falcon_native.py): detection
# records, and records with a non-string value in a key the mapping reads (falcon._MAPPED;
# "metadata" routes event-stream events).
_PYTHON_ONLY_KEYS = ("DetectName", "SeverityName")


def _nonstring_in_mapped_key(obj: dict[str, Any]) -> bool:
    return any(
        type(v) is not str and (k in falcon._MAPPED or k == "metadata") for k, v in obj.items()
    )


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
    # Every FDR record, including those with non-string values (numbers, nested objects).
    recs = [orjson.loads(ln) for ln in LINES]
    recs = [r for r in recs if isinstance(r, dict)]
    if not recs:
        pytest.skip(f"corpus not found at {CORPUS}")
    return recs


def _python(line: bytes) -> tuple[bytes, str] | None:
    """The reference: the general Python mapping, serialized; None when it has no FDR
    document (not an FDR record, or routed to the event-stream mapping as
    FalconNormalizer.normalize does)."""
    obj = orjson.loads(line)
    if not isinstance(obj, dict):
        return None
    md = obj.get("metadata")
    if isinstance(md, dict) and isinstance(obj.get("event"), dict) and "eventType" in md:
        return None
    if "event_simpleName" not in obj and not any(k in obj for k in falcon._FDR_MARKERS):
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
            by_design = (
                any(k in rec for k in _PYTHON_ONLY_KEYS)
                or "created" not in doc["event"]
                or _nonstring_in_mapped_key(rec)
            )
            assert by_design, f"declined a record it should map: {line!r}"


# Values the two implementations could plausibly disagree on, per kind of field.
_ODD: dict[str, list[str]] = {
    "count": [
        " 12",
        "+5",
        "1_000",
        "٣",
        "-0",
        "007",
        "abc",
        "9" * 25,
        "-9223372036854775808",
        "9223372036854775808",
        "1.5",
        "",
    ],
    "time": [
        "1712345678",
        "1712345678.5",
        "1712345678.0005",
        "1712345678.0015",
        "1712345678123",
        "133579999999999999",
        "2024-04-05T10:00:00Z",
        "2024-04-05T10:00:00",
        "9999999999999",
        "0",
        "00017",
        "1e5",
        " 1712345678",
        "1712345678.",
        "1712345678.123456789",
        "99999999999",
        "100000000000",
        "-5",
    ],
    "ip": [
        "::1",
        "fe80::1%eth0",
        "01.2.3.4",
        "1.2.3.4 5.6.7.8",
        "1.2.3.4\x0b5.6.7.8",
        "1.2.3.4\t10.0.0.1",
        " 10.0.0.1 ",
        "::ffff:1.2.3.4",
        "1.2.3",
        "ｘ",
        "300.1.1.1",
    ],
    "port": ["443", "65536", "-1", "99999999999999999999", "0x50", " 80", ""],
    "mac": ["aa-bb-cc-dd-ee-ff", "ß-ﬁ", "ǅ"],
    "path": [
        "C:\\dir\\",
        "/",
        "x",
        "\\Device\\HarddiskVolume2\\a.tar.gz",
        "/usr/bin/",
        "\\",
        "é\\ü.txt",
        "no_separator.exe",
        "/tmp/.hidden",
    ],
    "text": [
        'he said "hi"',
        "tab\there",
        "line\nbreak",
        "emoji 😀",
        "\u2028",
        "nul\x01",
        "back\\slash",
        "a@b@c",
        "@b",
        "a@",
        "ǅ",
        "\u00a0x , y,,z ",
        "  ",
    ],
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
            for extra in rng.sample(
                [
                    "Tags",
                    "MAC",
                    "LocalPort",
                    "RemoteAddressIP4",
                    "UID",
                    "UserPrincipal",
                    "ProcessEndTime",
                    "SomeCount",
                ],
                k=2,
            ):
                obj.setdefault(extra, rng.choice(_ODD[_kind(extra)] + _ODD["text"]))
            for line in _serializations(obj):
                accepted += _same(native, line)
    assert accepted > 1000


def test_event_names_and_layouts_outside_the_tables_match_python(native) -> None:
    base = {"timestamp": "1712345678123", "aid": "a1", "cid": "c1"}
    for name in (
        "",
        "BrandNewEvent",
        "SomethingWritten",
        "DriverLoad",
        "DnsRequest",
        "SmbServerShareOpenedEtw",
        "ProcessRollup2",
        "ClassifiedModuleLoad",
    ):
        for extra in (
            {},
            {"DomainName": "x.example"},
            {"ImageFileName": "\\a\\b.dll"},
            {"RequestType": "999"},
            {"event_platform": "Plan9"},
        ):
            obj = {"event_simpleName": name, **base, **extra} if name else {**base, **extra}
            assert _same(native, orjson.dumps(obj))


@pytest.mark.parametrize(
    "line",
    [
        b'{"event_simpleName": "A", "timestamp": "1712345678123"',  # truncated
        b'{"event_simpleName":"A","timestamp":"1712345678123"} x',  # trailing bytes
        b'{"event_simpleName":"A","timestamp":1712345678123}',  # a number
        # Non-string values in keys the mapping reads (in others they are accepted).
        b'{"event_simpleName":"A","timestamp":"1712345678123","aid":null}',
        b'{"event_simpleName":"A","timestamp":"1712345678123","CommandLine":{"y":"z"}}',
        b'{"event_simpleName":"A","timestamp":"1712345678123","Tags":["y"]}',
        b'{"event_simpleName":7,"timestamp":"1712345678123"}',
        b'{"event_simpleName":"A","timestamp":"1712345678123","RegObjectName":["k"]}',
        # An FDR-looking record that FalconNormalizer routes to the event-stream mapping.
        b'{"event_simpleName":"A","timestamp":"1712345678123","metadata":{"eventType":"X"},'
        b'"event":{}}',
        # Nesting too deep to be sure orjson reads the value as it reads the line.
        b'{"event_simpleName":"A","timestamp":"1712345678123","x":'
        + b"[" * 1024
        + b"]" * 1024
        + b"}",
        b'{"event_simpleName":"A","timestamp":"1712345678123","x":[1,2}',  # unbalanced
        b'{"event_simpleName":"A","timestamp":"1712345678123","x":}',  # no value
        b'{"event_simpleName":"A","timestamp":"1712345678123","x":1 2}',
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
        assert _container_ids(a[0]).isdisjoint(_container_ids(b[0])), line


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


# --- registry records ---------------------------------------------------------------------------

_REG_BASE = {"timestamp": "1712345678123", "aid": "a1", "cid": "c1", "event_platform": "Win"}
_REG_FIELDS: list[dict[str, str]] = [
    {"RegObjectName": "\\REGISTRY\\MACHINE\\SOFTWARE\\Microsoft\\Windows\\Run"},
    {"RegObjectName": "\\REGISTRY\\MACHINE\\SOFTWARE\\Run", "RegValueName": "Updater"},
    {
        "RegObjectName": "\\REGISTRY\\USER\\S-1\\Run",
        "RegValueName": "Updater",
        "RegStringValue": "C:\\Users\\x\\upd.exe",
        "RegType": "1",
        "RegOperationType": "1",
    },
    {
        "RegObjectName": "HKLM\\Sóftware",
        "RegValueName": "vålue",
        "RegStringValue": "dätä",
        "RegType": "11",
        "RegOperationType": "7",
    },
    # Unknown RegType / RegOperationType: no data.type, no action override.
    {
        "RegObjectName": "k",
        "RegValueName": "v",
        "RegStringValue": "d",
        "RegType": "99",
        "RegOperationType": "99",
    },
    {"RegObjectName": "k", "RegStringValue": "d", "RegType": "4"},
    {"RegObjectName": "k", "RegOperationType": "2"},
    {"RegObjectName": "k", "RegType": "1", "RegOperationType": "3"},  # a type without data
    # Empty values: an empty RegObjectName means no registry.* at all.
    {"RegObjectName": "", "RegValueName": "v", "RegStringValue": "d", "RegOperationType": "1"},
    {
        "RegObjectName": "k",
        "RegValueName": "",
        "RegStringValue": "",
        "RegType": "",
        "RegOperationType": "",
    },
    {
        "RegObjectName": "k\\",
        "RegValueName": "\\v",
        "RegStringValue": " ",
        "RegType": " 1",
        "RegOperationType": "01",
    },
]


@pytest.mark.parametrize(
    "name",
    [
        "AsepKeyUpdate",
        "RegSystemConfigValueUpdate",
        "SuspiciousRegAsepUpdate",
        "RegGenericValueUpdate",
        "SomethingWritten",
        "DriverLoad",
        "",
    ],
)
def test_registry_records_match_python(native, name: str) -> None:
    for reg in _REG_FIELDS:
        obj = {"event_simpleName": name, **_REG_BASE, **reg} if name else {**_REG_BASE, **reg}
        for line in _serializations(obj):
            assert _same(native, line), line


def test_registry_fields_are_mapped(native) -> None:
    obj = {"event_simpleName": "AsepKeyUpdate", **_REG_BASE, **_REG_FIELDS[2]}
    doc, _ = native(orjson.dumps(obj))
    assert doc["registry"] == {
        "key": "\\REGISTRY\\USER\\S-1\\Run",
        "path": "\\REGISTRY\\USER\\S-1\\Run\\Updater",
        "value": "Updater",
        "data": {"strings": ["C:\\Users\\x\\upd.exe"], "type": "REG_SZ"},
    }
    assert doc["event"]["action"] == "modification"
    assert doc["crowdstrike"]["RegType"] == "1"


def test_every_registry_type_and_operation_matches_python(native) -> None:
    from shippers.normalizers.falcon_events import REG_OPERATION_ACTION, REG_VALUE_TYPES

    for rtype in [*REG_VALUE_TYPES, "", "12"]:
        for op in [*REG_OPERATION_ACTION, "", "8"]:
            obj = {
                "event_simpleName": "RegGenericValueUpdate",
                **_REG_BASE,
                "RegObjectName": "k",
                "RegValueName": "v",
                "RegStringValue": "d",
                "RegType": rtype,
                "RegOperationType": op,
            }
            assert _same(native, orjson.dumps(obj))


# --- non-string values --------------------------------------------------------------------------

# Raw JSON values, as they may appear in a line (not only as orjson writes them).
_NONSTRING: list[bytes] = [
    b"0",
    b"1",
    b"-7",
    b"3.25",
    b"1e16",
    b"1E+2",
    b"1.0e-5",
    b"-0.0",
    b"-0",
    b"0.1",
    b"true",
    b"false",
    b"null",
    b"9223372036854775807",
    b"9223372036854775808",
    b"18446744073709551615",
    b"-9223372036854775809",
    b"123456789012345678901234567890",
    b"{}",
    b"[]",
    b"[[[[{}]]]]",
    b'{"":""}',
    b'["", ""]',
    b'{"a":null}',
    b'{"a":null,"b":{"c":null,"d":[null,1,"x"]}}',
    b"[null]",
    b'[1,2.5,true,null,"s",{"k":[]}]',
    b'{"q":"a\\"b\\\\c\\u00e9\\ud83d\\ude00 }] {[","n":{"m":"\\/"}}',
    b'["\\"]", "[\\\\"]',
    b" [ 1 ,\n 2 ] ",
    b'{ "a" : { } }',
    b'{"SomeCount":"12","x":{"YCount":3,"Z":4}}',
    b'{"dup":1,"dup":2}',
    b'[{"Tactic":"Execution","Technique":"T1059","Count":2}]',
]
# Keys the mapping never reads (any JSON type is a vendor field there).
_VENDOR_KEYS = ["Attacks", "SomeCount", "info", "PatternDispositionFlags", "kéy", "EventType"]


def _line_with(key: str, raw: bytes, where: str) -> bytes:
    k = orjson.dumps(key)
    head = b'{"event_simpleName":"ProcessRollup2","timestamp":"1712345678123","aid":"a1"'
    tail = b',"CommandLine":"C:\\\\x.exe /c","XCount":"5","Empty":""}'
    if where == "first":
        return b"{" + k + b":" + raw + b"," + head[1:] + tail
    if where == "last":
        return head + tail[:-1] + b"," + k + b":" + raw + b"}"
    return head + b"," + k + b":" + raw + tail


def test_non_string_vendor_values_match_python(native) -> None:
    for raw in _NONSTRING:
        for key in _VENDOR_KEYS:
            for where in ("first", "middle", "last"):
                line = _line_with(key, raw, where)
                assert _same(native, line), line


def test_non_string_vendor_values_are_placed_like_python(native) -> None:
    line = (
        b'{"event_simpleName":"A","timestamp":"1712345678123","SomeCount":5,"Big":1e16,'
        b'"Neg":-0.0,"T":true,"N":null,"Nest":{"a":null,"b":[1,null]},"ACount":"7"}'
    )
    cs = native(line)[0]["crowdstrike"]
    assert cs == {
        "event_simpleName": "A",
        "SomeCount": 5,
        "Big": "1e+16",
        "Neg": "-0.0",
        "T": "true",
        "Nest": {"b": ["1"]},
        "ACount": 7,
    }
    assert list(cs) == ["event_simpleName", "SomeCount", "Big", "Neg", "T", "Nest", "ACount"]


def test_fdr_marker_with_a_non_string_value_matches_python(native) -> None:
    # EventType marks an FDR record whatever its type (Python tests presence).
    assert _same(native, b'{"EventType":5,"timestamp":"1712345678123","x":"y"}')
    assert _same(native, b'{"ExternalApiType":{"a":1},"_time":"1712345678.5"}')


@pytest.mark.parametrize("key", sorted(falcon._MAPPED))
def test_non_string_values_in_mapped_keys_are_declined(native, key: str) -> None:
    for raw in (b"1", b"null", b"true", b"1.5", b"{}", b"[]", b'{"a":"b"}', b'["1.2.3.4"]'):
        obj = {"event_simpleName": "ProcessRollup2", "timestamp": "1712345678123", "aid": "a1"}
        obj[key] = "__raw__"
        line = orjson.dumps(obj).replace(b'"__raw__"', raw)
        assert native(line) is None, line


@pytest.mark.parametrize(
    "raw",
    [
        b"tru",
        b"nul",
        b"01",
        b"1.",
        b"-",
        b"+1",
        b"NaN",
        b"Infinity",
        b"1e400",
        b"[1,]",
        b'{"a"}',
        b'{"a":1,}',
        b"[1 2]",
        b'["\\ud800"]',
        b'["\x01"]',
        b'{"a":tru}',
        b"[1]]",
    ],
)
def test_invalid_non_string_values_never_become_documents(native, raw: bytes) -> None:
    line = _line_with("Attacks", raw, "middle")
    try:
        got = native(line)
    except Exception:  # orjson rejected the value: the caller takes the Python path
        got = None
    assert got is None, line
    with pytest.raises(ParseError):
        FalconNormalizer().normalize(line)


def test_random_non_string_vendor_values_match_python(native, records) -> None:
    rng = random.Random(20261128)
    accepted = 0
    for _ in range(4):
        for rec in records:
            obj = dict(rec)
            vendor = [k for k in obj if k not in falcon._MAPPED] + ["SomeCount", "Extra"]
            for k in rng.sample(vendor, k=min(len(vendor), rng.randint(1, 4))):
                obj[k] = "__raw__" + k
            line = orjson.dumps(obj)
            for k in obj:
                if obj[k] == "__raw__" + k:
                    line = line.replace(orjson.dumps("__raw__" + k), rng.choice(_NONSTRING))
            accepted += _same(native, line)
    assert accepted > 300


def test_normalizer_with_and_without_native_agree(native, monkeypatch) -> None:
    lines = LINES + [_line_with("Attacks", raw, "middle") for raw in _NONSTRING]
    with_native = [FalconNormalizer().normalize(ln) for ln in lines]
    monkeypatch.setattr(falcon, "_native", None)
    for ln, (doc, doc_id) in zip(lines, with_native, strict=True):
        want, want_id = FalconNormalizer().normalize(ln)
        if "created" not in want["event"]:
            continue  # receive-time @timestamp
        assert orjson.dumps(doc) == orjson.dumps(want), ln
        assert doc_id == want_id


class _FakePanic(BaseException):
    """Stands in for pyo3's PanicException, which derives from BaseException."""


def test_a_failing_compiled_mapping_falls_back_to_python_and_says_so(monkeypatch, caplog) -> None:
    line = orjson.dumps(
        {"event_simpleName": "ProcessRollup2", "timestamp": "1712345678123", "aid": "a1"}
    )
    monkeypatch.setattr(falcon, "_native", None)
    want, want_id = FalconNormalizer().normalize(line)

    def broken(_line: bytes) -> None:
        raise _FakePanic("index out of bounds")

    monkeypatch.setattr(falcon, "_native", broken)
    monkeypatch.setattr(falcon, "_native_failures", [0])
    with caplog.at_level("WARNING", logger="shippers.normalizers.falcon"):
        got, got_id = FalconNormalizer().normalize(line)
    assert orjson.dumps(got) == orjson.dumps(want) and got_id == want_id
    assert "compiled FDR mapping failed" in caplog.text and "index out of bounds" in caplog.text


def test_a_module_refusing_the_tables_leaves_the_python_mapping_in_charge(
    native, monkeypatch, caplog
) -> None:
    from shippers import _fdr_native  # type: ignore[attr-defined]

    def refuse(_tables: Any) -> None:
        raise ValueError("configure: missing key 'new_table'")

    monkeypatch.setattr(_fdr_native, "configure", refuse)
    with caplog.at_level("WARNING", logger="shippers.normalizers.falcon_native"):
        assert falcon_native.load_native() is None
    assert "missing key 'new_table'" in caplog.text
