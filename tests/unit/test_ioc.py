"""Indicator files: type detection, plain lists, CSV with a type column, STIX 2.1 bundles."""

from __future__ import annotations

import json

import pytest

from shippers.hunt.query import Indicator
from shippers.ioc import detect, load_iocs, parse_csv, parse_plain, parse_stix, refang


@pytest.mark.parametrize(
    ("text", "kind", "value", "typ"),
    [
        ("203.0.113.50", "ip", "203.0.113.50", "ipv4"),
        ("2001:DB8::1", "ip", "2001:db8::1", "ipv6"),
        ("10.0.0.0/8", "cidr", "10.0.0.0/8", "cidr"),
        ("10.1.2.3/8", "cidr", "10.0.0.0/8", "cidr"),
        ("198.51.100.7/32", "ip", "198.51.100.7", "ipv4"),
        ("2001:db8::/32", "cidr", "2001:db8::/32", "cidr"),
        ("7353F60B1739074EB17C5F4DDDEFE239", "hash", "7353f60b1739074eb17c5f4dddefe239", "md5"),
        ("da39a3ee5e6b4b0d3255bfef95601890afd80709", "hash",
         "da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1"),
        ("de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c", "hash",
         "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c", "sha256"),
        ("https://evil.example/a?b=1", "url", "https://evil.example/a?b=1", "url"),
        ("evil.example/payload.bin", "url", "evil.example/payload.bin", "url"),
        ("Telemetry.BadCDN.example.", "domain", "telemetry.badcdn.example", "domain"),
        ("hxxps://evil[.]example/x", "url", "https://evil.example/x", "url"),
        ("203[.]0[.]113[.]50", "ip", "203.0.113.50", "ipv4"),
        ("xn--bcher-kva.example", "domain", "xn--bcher-kva.example", "domain"),
    ],
)  # fmt: skip
def test_detect(text: str, kind: str, value: str, typ: str) -> None:
    entry = detect(text)
    assert entry is not None, text
    assert entry.indicator == Indicator(kind, value)
    assert entry.type == typ


@pytest.mark.parametrize("text", ["", "hello", "12345", "not a domain", "abc123", "-bad-.example"])
def test_detect_rejects(text: str) -> None:
    assert detect(text) is None


def test_refang_leaves_plain_text() -> None:
    assert refang(" evil.example ") == "evil.example"


def test_plain_list_comments_blank_lines_and_skips() -> None:
    text = "# feed 2024-05\n\n203.0.113.50   # C2\nbadcdn.example\n???\n" + "a" * 64 + "\n"
    iocs = parse_plain(text, "feed.txt")
    assert [e.indicator for e in iocs.entries] == [
        Indicator("ip", "203.0.113.50"),
        Indicator("domain", "badcdn.example"),
        Indicator("hash", "a" * 64),
    ]
    assert iocs.entries[0].ref == "feed.txt:3"
    assert len(iocs.skipped) == 1 and iocs.skipped[0][0] == "???"
    assert "feed.txt:5" in iocs.skipped[0][1]


def test_csv_with_type_column() -> None:
    text = (
        "type,indicator,comment\n"
        "ipv4,203.0.113.50,c2\n"
        "domain,BadCDN.example,\n"
        "sha256," + "b" * 64 + ",dropper\n"
        "username,jdoe,\n"
        "md5,nothex,\n"
        "mutex,Global\\xyz,\n"
        "cidr,10.0.0.0/8,\n"
    )
    iocs = parse_csv(text, "x.csv")
    assert [(e.indicator.kind, e.indicator.value, e.type) for e in iocs.entries] == [
        ("ip", "203.0.113.50", "ipv4"),
        ("domain", "BadCDN.example", "domain"),
        ("hash", "b" * 64, "sha256"),
        ("user", "jdoe", "user"),
        ("cidr", "10.0.0.0/8", "cidr"),
    ]
    reasons = [r for _, r in iocs.skipped]
    assert len(reasons) == 2
    assert "x.csv:6" in reasons[0] and "hash" in reasons[0]
    assert "unknown type 'mutex'" in reasons[1]


def test_csv_without_type_column_is_an_error() -> None:
    with pytest.raises(ValueError, match="type"):
        parse_csv("indicator\n1.2.3.4\n")


def _bundle(*patterns: str, pattern_type: str = "stix") -> dict:
    return {
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": [
            {"type": "identity", "id": "identity--1", "name": "CTI team"},
            *(
                {
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": f"indicator--{i:08d}-0000-4000-8000-000000000000",
                    "name": f"ind-{i}",
                    "pattern": p,
                    "pattern_type": pattern_type,
                    "valid_from": "2024-05-01T00:00:00Z",
                }
                for i, p in enumerate(patterns)
            ),
        ],
    }


def test_stix_simple_equalities_and_or() -> None:
    iocs = parse_stix(
        _bundle(
            "[ipv4-addr:value = '203.0.113.50']",
            "[domain-name:value = 'badcdn.example' OR url:value = 'http://x.example/a']",
            "[file:hashes.'SHA-256' = '"
            + "C" * 64
            + "'] OR [file:hashes.MD5 = '"
            + "d" * 32
            + "']",
            "[ipv6-addr:value = '2001:db8::/48']",
            "[user-account:account_login = 'jdoe']",
            "[ipv4-addr:value = '198.51.100.0/24']",
        )
    )
    assert [(e.indicator.kind, e.indicator.value, e.type) for e in iocs.entries] == [
        ("ip", "203.0.113.50", "ipv4"),
        ("domain", "badcdn.example", "domain"),
        ("url", "http://x.example/a", "url"),
        ("hash", "c" * 64, "sha256"),
        ("hash", "d" * 32, "md5"),
        ("cidr", "2001:db8::/48", "cidr"),
        ("user", "jdoe", "user"),
        ("cidr", "198.51.100.0/24", "cidr"),
    ]
    assert iocs.entries[0].ref == "ind-0"
    assert not iocs.skipped


def test_stix_unsupported_patterns_are_skipped_with_reason() -> None:
    iocs = parse_stix(
        _bundle(
            "[ipv4-addr:value = '1.2.3.4' AND network-traffic:dst_port = 443]",
            "[domain-name:value MATCHES '^evil']",
            "[process:name = 'x.exe']",
            "[file:hashes.'SHA-512' = 'ab']",
        )
    )
    assert not iocs.entries
    reasons = " | ".join(r for _, r in iocs.skipped)
    assert len(iocs.skipped) == 4
    assert "only [x = 'v'] patterns" in reasons
    assert "not a simple equality" in reasons
    assert "unsupported object path process:name" in reasons
    assert "unsupported hash sha512" in reasons


def test_stix_other_pattern_type_skipped() -> None:
    iocs = parse_stix(_bundle("alert tcp any any -> any any", pattern_type="snort"))
    assert not iocs.entries and "pattern_type snort" in iocs.skipped[0][1]


def test_load_iocs_detects_format(tmp_path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(_bundle("[ipv4-addr:value = '1.2.3.4']")))
    (tmp_path / "b.txt").write_text("1.2.3.4\n")
    (tmp_path / "c.feed").write_text("value,type\n1.2.3.4,ip\n")
    for name in ("a.json", "b.txt", "c.feed"):
        iocs = load_iocs(tmp_path / name)
        assert iocs.indicators() == [Indicator("ip", "1.2.3.4")], name


def test_indicators_are_distinct_in_input_order() -> None:
    iocs = parse_plain("1.2.3.4\nevil.example\n1.2.3.4\n")
    assert iocs.indicators() == [Indicator("ip", "1.2.3.4"), Indicator("domain", "evil.example")]
    assert len(iocs.entries) == 3
