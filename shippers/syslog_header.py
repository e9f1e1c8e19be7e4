"""Syslog header parsing: none, RFC 3164 or RFC 5424, optionally RFC 6587 octet-counted.

Shared by the PAN-OS normalizer (which needs the CSV payload behind the header) and the
syslog receiver (which wants the header facts). Parsing is lenient on purpose: relays
rewrite headers in many ways (no PRI, no hostname, a Strata ``- panwlogs -`` prefix), and a
header we cannot read must never cost us the payload. The payload is what follows the
header; for PAN-OS it starts at the first space-separated token that contains a comma.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

__all__ = ["HEADER_RE", "SyslogHeader", "header_from_match", "parse_syslog"]

# One precompiled pattern for the whole header. `HEADER_RE.match(line).end()` is where the
# payload starts (it always matches, possibly empty). The trailing `tokens` group takes up
# to four space-separated tokens without a comma: RFC 3164 hostname and tag, a Strata
# `- panwlogs -`; the PAN-OS CSV record is the first token that contains a comma.
HEADER_RE = re.compile(
    r"(?:(?P<octets>\d{1,10}) (?=<))?"  # RFC 6587 octet count, only before a PRI
    r"(?:<(?P<pri>\d{1,3})>)?"
    r"(?:"
    # RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID [SP SD]
    r"(?P<ver>[1-9]\d?) (?P<ts5424>-|\d{4}-\d\d-\d\dT\S+) (?P<host5424>\S+) (?P<app>\S+)"
    r" (?P<procid>\S+) (?P<msgid>\S+)(?: (?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+))?(?: |$)"
    r"|"
    # RFC 3164: Mmm dd hh:mm:ss (some relays put an ISO timestamp there instead)
    r"(?P<ts3164>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"
    r"|\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d)?) "
    r")?"
    r"\ufeff?"  # RFC 5424 allows a BOM before a UTF-8 MSG
    r"(?P<tokens>(?:[^ ,]+ ){0,4})"
)


@dataclass(slots=True)
class SyslogHeader:
    """What the header said, and the message (payload) behind it."""

    payload: str
    format: str = "none"  # "none" | "rfc3164" | "rfc5424"
    octet_count: int | None = None
    priority: int | None = None
    version: str | None = None
    timestamp: str | None = None  # as written; see `timestamp_utc`
    hostname: str | None = None
    appname: str | None = None
    procid: str | None = None
    msgid: str | None = None
    structured_data: str | None = None

    @property
    def facility(self) -> int | None:
        return None if self.priority is None else self.priority >> 3

    @property
    def severity(self) -> int | None:
        return None if self.priority is None else self.priority & 7

    def timestamp_utc(self, tz: tzinfo = UTC, now: datetime | None = None) -> datetime | None:
        """The header time as an aware UTC datetime, or None when absent or unreadable.

        RFC 3164 times carry neither year nor zone: `tz` supplies the zone and the year is
        the one that puts the time closest to `now` (a December line read in January
        belongs to the previous year).
        """
        ts = self.timestamp
        if not ts or ts == "-":
            return None
        try:
            if ts[0].isdigit():
                dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
                if dt.tzinfo is None:
                    dt = dt.replace(tzinfo=tz)
                return dt.astimezone(UTC)
            now = now or datetime.now(UTC)
            parsed = datetime.strptime(f"{now.year} {ts}", "%Y %b %d %H:%M:%S")
        except ValueError:
            return None
        dt = parsed.replace(tzinfo=tz).astimezone(UTC)
        if dt - now > timedelta(days=31):
            dt = parsed.replace(year=now.year - 1, tzinfo=tz).astimezone(UTC)
        return dt


def _tokens(tokens: str, hdr: SyslogHeader) -> None:
    """Facts from the comma-free tokens before the CSV (hostname, tag, `panwlogs`)."""
    for token in tokens.split():
        if token == "panwlogs":
            hdr.appname = token
        elif token.endswith(":") and hdr.appname is None:
            hdr.appname = token.rstrip(":").split("[", 1)[0]
        elif hdr.hostname is None and token != "-" and not token.endswith(":"):
            hdr.hostname = token


def parse_syslog(line: str) -> SyslogHeader:
    """Split `line` (no trailing newline) into header facts and the payload.

    Never raises: a line without a recognisable header is all payload (`format="none"`).
    """
    m = HEADER_RE.match(line)
    assert m is not None  # every group is optional: the pattern always matches
    if not m.end():
        return SyslogHeader(payload=line)
    return header_from_match(line, m)


def header_from_match(line: str, m: re.Match[str]) -> SyslogHeader:
    """The SyslogHeader for a non-empty `HEADER_RE` match on `line` (callers that matched
    already, to skip building a header object for header-less lines)."""
    hdr = SyslogHeader(payload=line[m.end() :])
    g = m.group
    if g("octets"):
        hdr.octet_count = int(g("octets"))
    if g("pri"):
        pri = int(g("pri"))
        hdr.priority = pri if pri <= 191 else None
    if g("ver"):
        hdr.format = "rfc5424"
        hdr.version = g("ver")
        hdr.timestamp = g("ts5424")
        hdr.hostname = None if g("host5424") == "-" else g("host5424")
        hdr.appname = None if g("app") == "-" else g("app")
        hdr.procid = None if g("procid") == "-" else g("procid")
        hdr.msgid = None if g("msgid") == "-" else g("msgid")
        sd = g("sd")
        hdr.structured_data = None if sd in (None, "-") else sd
        if "panwlogs" in (hdr.appname, hdr.procid, hdr.msgid):
            hdr.appname = "panwlogs"
    elif g("ts3164"):
        hdr.format = "rfc3164"
        hdr.timestamp = g("ts3164")
    elif hdr.priority is not None:
        # PRI with nothing else recognisable still counts as a (broken) 3164 header.
        hdr.format = "rfc3164"
    tokens = g("tokens")
    if tokens:
        _tokens(tokens, hdr)
    return hdr
