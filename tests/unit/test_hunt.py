"""Hunt building blocks: time parsing, the matcher every tier defers to, the merge."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from shippers.hunt.match import Matcher, domain_suffixes, strip_scheme
from shippers.hunt.merge import Hit, merge
from shippers.hunt.query import Indicator, Query, parse_time
from shippers.hunt.render import render_timeline

NOW = datetime(2024, 5, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-14", datetime(2024, 5, 14, tzinfo=UTC)),
        ("2024-05-14T09:15:00Z", datetime(2024, 5, 14, 9, 15, tzinfo=UTC)),
        ("2024-05-14T11:15:00+02:00", datetime(2024, 5, 14, 9, 15, tzinfo=UTC)),
        ("2024-05-14 09:15", datetime(2024, 5, 14, 9, 15, tzinfo=UTC)),
        ("7d", datetime(2024, 5, 13, 12, 0, tzinfo=UTC)),
        ("36h", datetime(2024, 5, 19, 0, 0, tzinfo=UTC)),
        ("30m", datetime(2024, 5, 20, 11, 30, tzinfo=UTC)),
        ("now", NOW),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW) == expected


def test_parse_time_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("last tuesday")


def test_query_validates_sources_and_window() -> None:
    with pytest.raises(ValueError, match="unknown source"):
        Query([Indicator("ip", "1.2.3.4")], sources=("falcon", "syslog"))
    with pytest.raises(ValueError, match="after"):
        Query([Indicator("ip", "1.2.3.4")], since=NOW, until=datetime(2024, 1, 1, tzinfo=UTC))


def test_helpers() -> None:
    assert domain_suffixes("a.b.evil.example") == [
        "a.b.evil.example",
        "b.evil.example",
        "evil.example",
    ]
    assert domain_suffixes("localhost") == ["localhost"]
    assert strip_scheme("HTTPS://Evil.example/X") == "evil.example/x"
    assert strip_scheme("evil.example/a://b") == "evil.example/a://b"


DOC = {
    "@timestamp": "2024-05-14T09:15:04.120Z",
    "source": {"ip": "10.20.30.42", "user": {"name": "JDoe"}},
    "destination": {"ip": "203.0.113.50", "port": 443},
    "dns": {"question": {"name": "Telemetry.BadCDN.example"}},
    "url": {"original": "telemetry.badcdn.example/beacon?id=1"},
    "process": {"hash": {"sha256": "AB" * 32}},
    "host": {"name": "WKSTN-0142"},
    "related": {"ip": ["10.20.30.42", "203.0.113.50"], "user": ["jdoe"]},
}


@pytest.mark.parametrize(
    ("indicator", "hit"),
    [
        (Indicator("ip", "203.0.113.50"), True),
        (Indicator("ip", "203.0.113.5"), False),
        (Indicator("cidr", "203.0.113.0/24"), True),
        (Indicator("cidr", "203.0.114.0/24"), False),
        (Indicator("cidr", "2001:db8::/32"), False),
        (Indicator("domain", "badcdn.example"), True),
        (Indicator("domain", "BADCDN.example."), True),
        (Indicator("domain", "cdn.example"), False),  # a suffix, but not a parent domain
        (Indicator("domain", "example"), False),  # a bare TLD is never a parent match
        (Indicator("hash", "ab" * 32), True),
        (Indicator("user", "jdoe"), True),
        (Indicator("user", "jdo"), False),
        (Indicator("host", "wkstn-0142"), True),
        (Indicator("url", "http://telemetry.badcdn.example/beacon?id=1"), True),
        (Indicator("url", "http://telemetry.badcdn.example/beacon"), False),
    ],
)
def test_matcher(indicator: Indicator, hit: bool) -> None:
    assert (indicator in Matcher([indicator]).match(DOC)) is hit


def test_matcher_reports_every_matching_indicator() -> None:
    inds = [Indicator("ip", "203.0.113.50"), Indicator("user", "jdoe"), Indicator("ip", "1.1.1.1")]
    assert Matcher(inds).match(DOC) == {inds[0], inds[1]}


def _hit(i: str, ts: str, source: str, tier: str) -> Hit:
    return Hit(i, ts, source, {"@timestamp": ts}, {tier}, {Indicator("ip", "203.0.113.50")})


def test_merge_dedups_by_id_and_tags_tiers() -> None:
    hot = [_hit("a", "2024-05-14T09:15:04.000Z", "panos", "hot"),
           _hit("b", "2024-05-14T09:15:04.120Z", "falcon", "hot")]  # fmt: skip
    cold = [_hit("b", "2024-05-14T09:15:04.120Z", "falcon", "cold"),
            _hit("c", "2024-05-14T09:16:10Z", "panos", "cold")]  # fmt: skip
    t = merge(hot, cold)
    assert [(h.id, h.tier) for h in t.hits] == [("a", "hot"), ("b", "both"), ("c", "cold")]
    assert t.counts() == {
        "source": {"panos": 2, "falcon": 1},
        "tier": {"hot": 1, "both": 1, "cold": 1},
    }


def test_merge_orders_by_instant_not_spelling() -> None:
    t = merge([_hit("late", "2024-05-14T09:00:00.500Z", "falcon", "hot"),
               _hit("early", "2024-05-14T09:00:00+00:00", "panos", "hot")])  # fmt: skip
    assert [h.id for h in t.hits] == ["early", "late"]


def test_render_table_and_summary() -> None:
    t = merge(
        [Hit("x", DOC["@timestamp"], "falcon", DOC, {"cold"}, {Indicator("ip", "203.0.113.50")})]
    )
    out = io.StringIO()
    render_timeline(t, "table", out)
    text = out.getvalue()
    assert "WKSTN-0142" in text and "10.20.30.42 → 203.0.113.50:443" in text
    assert text.splitlines()[-1] == "1 hit · sources: falcon 1 · tiers: cold 1"
