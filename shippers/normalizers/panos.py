"""PAN-OS syslog (CSV) → ECS, agreeing with Elastic's `panw.panos` ingest pipelines.

Per line: strip the syslog header (`shippers.syslog_header`), split the CSV
(`csvsplit`), pick the layout from the Type column (`panos_fields`), then apply a *plan*
compiled once per (layout, column count): which column feeds which ECS field through
which converter, and which columns go to `panw.panos.*` verbatim. Devices send lines of
a constant width, so plans are cached and the per-line work is a loop over precomputed
tuples plus a few type rules (outcome, event.type, users, URL/file, NAT clean-up).

Values that repeat across lines are parsed once and cached: syslog headers (same host and
second), timestamps, addresses, ports, action/subtype pairs, threat names. Every cache is
bounded, and a miss computes exactly what a hit returns, so caching never changes output.

PAN-OS timestamps carry no zone: the `tz` option (IANA name or ±HH:MM, default UTC) says
which zone the firewall writes in; every date we emit is UTC with a "Z".
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from operator import itemgetter
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ConfigError, ParseError
from ..plugin import Normalizer, NormalizerOptions
from ..record import content_id
from ..registry import register
from ..syslog_header import HEADER_RE, SyslogHeader, header_from_match
from .csvsplit import split_csv
from .panos_fields import (
    ECS_COLUMNS,
    ECS_OVERRIDES,
    LAYOUTS,
    TYPE_ALIASES,
    TYPE_PROFILES,
    VERSIONS,
)

__all__ = ["MAX_LINE_BYTES", "PanosNormalizer", "parse_tz"]

# A PAN-OS record is a few KB at most (THREAT with HTTP headers); anything far larger is
# not one, and parsing it would only stall the pipeline.
MAX_LINE_BYTES = 256 * 1024

# Columns fully represented by ECS fields or by the rules below: not copied to panw.panos.
_NOT_VENDOR = frozenset(
    {
        "receive_time",
        "serial_number",
        "generated_time",
        "high_resolution_timestamp",
        "source_user",
        "destination_user",
        "user",
        "severity",
        "private_ip",
        "private_ipv6",
        "public_ip",
        "public_ipv6",
        "ipv6_source_address",
    }
)

_UTC = UTC
_HEADER_MATCH = HEADER_RE.match
_USER_FIELDS = (
    ("source_user", "source.user.name", "source.user.domain"),
    ("destination_user", "destination.user.name", "destination.user.domain"),
)
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)

# event.severity from log.level (Elastic's numbering).
_SEVERITY = {"critical": 1, "high": 2, "medium": 3, "low": 4, "informational": 5}
_ALLOWED = frozenset({"alert", "allow", "continue"})
_DENIED = frozenset(
    {
        "deny",
        "drop",
        "reset-client",
        "reset-server",
        "reset-both",
        "block-url",
        "block-ip",
        "random-drop",
        "sinkhole",
        "block",
    }
)
# "reset both", "drop ICMP": PAN-OS docs spellings Elastic hyphenates.
_ACTION_FIX = {
    "reset both": "reset-both",
    "reset client": "reset-client",
    "reset server": "reset-server",
    "drop icmp": "drop-icmp",
    "drop ICMP": "drop-icmp",
}
# Subtype → (event.action, extra event.type) for flows, threats and tunnels.
_SUBTYPE_ACTION: dict[str, tuple[str, tuple[str, ...]]] = {
    "start": ("flow_started", ("start", "connection")),
    "end": ("flow_terminated", ("end", "connection")),
    "drop": ("flow_dropped", ("denied", "connection")),
    "deny": ("flow_denied", ("denied", "connection")),
    "data": ("data_match", ()),
    "file": ("file_match", ()),
    "flood": ("flood_detected", ()),
    "packet": ("packet_attack", ()),
    "scan": ("scan_detected", ()),
    "spyware": ("spyware_detected", ()),
    "url": ("url_filtering", ()),
    "virus": ("virus_detected", ()),
    "vulnerability": ("exploit_detected", ()),
    "wildfire": ("wildfire_verdict", ()),
    "wildfire-virus": ("wildfire_virus_detected", ()),
}
_CONFIG_COMMANDS = frozenset({"add", "clone", "commit", "delete", "edit", "move", "rename", "set"})
_DIRECTION = {
    "0": "inbound",
    "client-to-server": "inbound",
    "1": "outbound",
    "server-to-client": "outbound",
}
# Flags (S block position 28) bits → labels.*, as Elastic names them.
_FLAG_BITS = (
    ("pcap_included", 0x80000000),
    ("connect_to_destination_host", 0x40000000),
    ("file_submitted_to_WildFire", 0x20000000),
    ("enterprise_credential_submission", 0x10000000),
    ("source_flow_allow_list", 0x08000000),
    ("ipv6_session", 0x02000000),
    ("ssl_decrypted", 0x01000000),
    ("url_filter_denied", 0x00800000),
    ("nat_translated", 0x00400000),
    ("captive_portal", 0x00200000),
    ("non_standard_port_usage", 0x00100000),
    ("x_forwarded_for", 0x00080000),
    ("http_proxy", 0x00040000),
    ("client_server_policy_based_forwarding", 0x00020000),
    ("server_client_policy_based_forwarding", 0x00010000),
    ("container_page", 0x00008000),
    ("temporary_match", 0x00002000),
    ("symmetric_return", 0x00000800),
    ("decrypted_traffic", 0x00000400),
    ("payload_outer_tunnel", 0x00000100),
)
_THREAT_ID = re.compile(r"^(.*?)\(\s*(\d+)\s*\)$", re.S)
_TS_LOCAL = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d")
_TZ_OFFSET = re.compile(r"^([+-])(\d\d):?(\d\d)$")


def parse_tz(value: str) -> tzinfo:
    """`UTC`, `Z`, `±HH:MM` or an IANA zone name → tzinfo; ConfigError otherwise."""
    if value in ("UTC", "utc", "Z", "z", "GMT"):
        return _UTC
    m = _TZ_OFFSET.match(value)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        hours, minutes = int(m.group(2)), int(m.group(3))
        if hours > 23 or minutes > 59:
            raise ConfigError("normalize.tz", "offset out of range", value)
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            "normalize.tz", "expected an IANA time zone name or ±HH:MM", value
        ) from None


# ---- converters --------------------------------------------------------------------------
# Cached where values repeat within a stream (addresses, ports, application names): a hit
# in the C-level lru_cache is cheaper than running even a tiny Python function.


@functools.lru_cache(maxsize=8192)
def _ip(value: str) -> str | None:
    v = value.strip()
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        return None


@functools.lru_cache(maxsize=8192)
def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _str(value: str) -> str | None:
    v = value.strip()
    return v or None


@functools.lru_cache(maxsize=4096)
def _lower(value: str) -> str | None:
    v = value.strip()
    return v.lower() if v else None


def _ips(value: str) -> list[str] | None:
    ip = _ip(value)
    return [ip] if ip else None


@functools.lru_cache(maxsize=4096)
def _split_user(value: str) -> tuple[str, str | None]:
    """`DOMAIN\\user`, `DOMAIN\\\\user` or `user@domain` → (name, domain)."""
    if "\\" in value:
        domain, _, name = value.partition("\\")
        name = name.lstrip("\\")
        if domain and name:
            return name, domain
    elif "@" in value:
        name, _, domain = value.rpartition("@")
        if name and domain:
            return name, domain
    return value, None


@functools.lru_cache(maxsize=1024)
def _flag_labels(value: str) -> tuple[tuple[str, bool], ...]:
    try:
        bits = int(value, 16)
    except ValueError:
        return ()
    return tuple((name, True) for name, bit in _FLAG_BITS if bits & bit)


def _parse_url(original: str, e: dict[str, Any]) -> None:
    """Elastic's scheme-less URL split: domain[:port][/path[?query]] (PAN-OS omits the scheme)."""
    e["url.original"] = original
    host = original
    slash = original.find("/")
    if slash >= 0:
        host, after = original[:slash], original[slash:]
        path, sep, query = after.partition("?")
        e["url.path"] = path
        if sep:
            e["url.query"] = query
        dot = path.rfind(".")
        if dot >= 0 and "/" not in path[dot:]:
            e["url.extension"] = path[dot + 1 :]
    else:
        q = original.find("?")
        if q >= 0:
            host, e["url.query"] = original[:q], original[q + 1 :]
    if ":" in host:
        domain, _, port = host.partition(":")
        e["url.domain"] = domain
        if port.isdigit():
            e["url.port"] = int(port)
    elif host:
        e["url.domain"] = host
        e["destination.domain"] = host


# ---- plans --------------------------------------------------------------------------------

# Dotted keys → nested document. Lines of one device produce the same few key sequences
# ("shapes"), so each shape is compiled once into a function that builds the nested
# document as one literal from the values in order: far cheaper than walking each dotted
# key per line. Keys come from our own tables (never from input), and are written with
# repr(), so the generated source is always well-formed.
_SHAPES: dict[tuple[str, ...], Callable[[list[Any]], dict[str, Any]]] = {}
_MAX_SHAPES = 4096


def _compile_shape(keys: tuple[str, ...]) -> Callable[[list[Any]], dict[str, Any]]:
    tree: dict[str, Any] = {}
    for i, key in enumerate(keys):
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # a leaf and an object at one path: keep the leaf
                break
            node = child
        else:
            node[parts[-1]] = i

    def literal(node: dict[str, Any]) -> str:
        items = (
            f"{k!r}: v[{sub}]" if isinstance(sub, int) else f"{k!r}: {literal(sub)}"
            for k, sub in node.items()
        )
        return "{" + ", ".join(items) + "}"

    namespace: dict[str, Any] = {}
    exec(f"def nest(v):\n    return {literal(tree)}\n", namespace)
    return namespace["nest"]


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    keys = tuple(flat)
    build = _SHAPES.get(keys)
    if build is None:
        if len(_SHAPES) >= _MAX_SHAPES:
            _SHAPES.clear()
        build = _SHAPES[keys] = _compile_shape(keys)
    return build(list(flat.values()))


class _Columns(dict[str, str]):
    """The columns the rules read, by name; a column this line lacks reads as ""."""

    __slots__ = ()

    def __missing__(self, key: str) -> str:
        return ""


# Every column a rule below reads (the plan extracts just these, in one C call).
RULE_COLUMNS = frozenset(
    {
        "receive_time", "generated_time", "high_resolution_timestamp", "serial_number",
        "sequence_number", "subtype", "action", "severity", "source_user",
        "destination_user", "flags", "http_2_connection", "result", "status", "error",
        "direction", "threat_id", "file_digest", "url_filename", "private_ip",
        "private_ipv6", "public_ip", "public_ipv6", "ipv6_source_address", "user",
        "user_by_source", "normalize_user", "command", "tls_version", "fingerprint",
    }
)  # fmt: skip


def _getter(indexes: list[int]) -> Callable[[list[str]], tuple[str, ...]]:
    """itemgetter that always returns a tuple (a single index would return a bare value)."""
    if not indexes:
        return lambda f: ()
    if len(indexes) == 1:
        only = indexes[0]
        return lambda f: (f[only],)
    return itemgetter(*indexes)


class _Plan:
    """What to do with each column of one layout at one line width."""

    __slots__ = ("ecs", "fill", "layout", "rule_get", "rule_names", "vendor_get", "vendor_names")

    def __init__(self, layout: str, width: int, converters: dict[str, Callable[[str], Any]]):
        columns = LAYOUTS[layout]
        overrides = ECS_OVERRIDES.get(layout, {})
        self.layout = layout
        seen: set[str] = set()
        rule_idx: list[int] = []
        rule_names: list[str] = []
        ecs = []
        vendor_idx: list[int] = []
        vendor_names: list[str] = []
        for i in range(width):
            name = columns[i] if i < len(columns) else f"extra_{i}"
            if name is None:
                continue
            if name in RULE_COLUMNS and name not in seen:
                seen.add(name)
                rule_idx.append(i)
                rule_names.append(name)
            target = overrides[name] if name in overrides else ECS_COLUMNS.get(name)
            if target is not None:
                field, conv = target
                ecs.append((i, None if conv == "str" else converters[conv], field, name))
            elif name not in _NOT_VENDOR:
                vendor_idx.append(i)
                vendor_names.append(name)
        self.ecs = tuple(ecs)
        self.fill = _compile_fill(self.ecs)
        self.vendor_names = tuple(vendor_names)
        self.vendor_get = _getter(vendor_idx)
        self.rule_names = tuple(rule_names)
        self.rule_get = _getter(rule_idx)


def _compile_fill(
    ecs: tuple[tuple[int, Callable[[str], Any] | None, str, str], ...],
) -> Callable[[list[str], dict[str, Any], dict[str, Any]], None]:
    """One straight-line function for a plan's column → ECS field mapping.

    Equivalent to looping over `ecs` (empty column: skip; converter rejects the value: keep
    the raw text in panw.panos.<column>; first non-empty column wins a shared field), but
    without per-column tuple unpacking and dispatch, which dominated the per-line cost.
    Only positions, our own field/column names (via repr) and converter references from
    the plan reach the generated source.
    """
    lines = ["def fill(f, e, vendor):"]
    env: dict[str, Any] = {}
    targets_seen: set[str] = set()
    for n, (i, conv, field, name) in enumerate(ecs):
        guard = f" and {field!r} not in e" if field in targets_seen else ""
        targets_seen.add(field)
        lines.append(f"    raw = f[{i}]")
        lines.append(f"    if raw{guard}:")
        if conv is None:
            lines.append("        value = raw.strip()")
            lines.append(f"        if value: e[{field!r}] = value")
        else:
            env[f"c{n}"] = conv
            lines.append(f"        value = c{n}(raw)")
            lines.append(f"        if value is not None: e[{field!r}] = value")
            lines.append(f"        elif not raw.isspace(): vendor[{name!r}] = raw")
    lines.append("    return None")
    exec("\n".join(lines) + "\n", env)
    return env["fill"]


_MIN_WIDTH = {layout: min(v.values()) for layout, v in VERSIONS.items()}
_SECOND = itemgetter(1)
_MAX_PLANS = 1024
_MAX_HEADERS = 4096


class _HeaderFacts(NamedTuple):
    """What a document takes from its syslog header."""

    hostname: str | None  # observer.hostname when the record names no device
    syslog: dict[str, Any]  # log.syslog.* fields


def _header_facts(hdr: SyslogHeader) -> _HeaderFacts:
    syslog: dict[str, Any] = {}
    if hdr.format != "none":
        if hdr.hostname:
            syslog["log.syslog.hostname"] = hdr.hostname
        if hdr.appname:
            syslog["log.syslog.appname"] = hdr.appname
        if hdr.priority is not None:
            syslog["log.syslog.priority"] = hdr.priority
            syslog["log.syslog.facility.code"] = hdr.priority >> 3
            syslog["log.syslog.severity.code"] = hdr.priority & 7
        if hdr.version:
            syslog["log.syslog.version"] = hdr.version
    return _HeaderFacts(hdr.hostname, syslog)


@register("normalizer", "panos")
class PanosNormalizer(Normalizer):
    """PAN-OS syslog CSV line → (ECS document, deterministic id)."""

    Options = NormalizerOptions
    name = "panos"
    source_type = "panos"

    def __init__(self, options: NormalizerOptions | None = None):
        super().__init__(options)
        opts: NormalizerOptions = self.options
        self._tz_name = opts.tz
        self._tz = parse_tz(opts.tz)
        self._offset = self._tz.utcoffset(None) if isinstance(self._tz, timezone) else None
        self._keep_original = opts.keep_original
        self._plans: dict[tuple[str, int], _Plan] = {}
        self._by_type: dict[tuple[str, int], _Plan] = {}  # (Type column, width) → plan
        self._constants = {
            "event.module": "panw",
            "event.dataset": "panw.panos",
            "event.timezone": self._tz_name,
            "observer.vendor": "Palo Alto Networks",
            "observer.product": "PAN-OS",
            "observer.type": "firewall",
        }
        # Per-instance caches: the result depends on this instance's time zone.
        self._local_time = functools.lru_cache(maxsize=4096)(self._local_time_uncached)
        self._hires = functools.lru_cache(maxsize=4096)(self._hires_uncached)
        # Syslog header text → what the document takes from it. Relays put the same
        # header (priority, host, tag, a timestamp to the second) in front of many lines.
        self._headers: dict[str, _HeaderFacts] = {}
        self._converters: dict[str, Callable[[str], Any]] = {
            "str": _str,
            "lower": _lower,
            "ip": _ip,
            "ips": _ips,
            "int": _int,
            "time": self._local_time,
            "dur": _duration,
        }

    # -- time ----------------------------------------------------------------------------

    def _local_time_uncached(self, value: str) -> str | None:
        """PAN-OS `YYYY/MM/DD HH:MM:SS` (device local time) or ISO-8601 → UTC ISO string."""
        value = value.strip()
        try:
            if _TS_LOCAL.fullmatch(value):
                dt = datetime(
                    int(value[0:4]),
                    int(value[5:7]),
                    int(value[8:10]),
                    int(value[11:13]),
                    int(value[14:16]),
                    int(value[17:19]),
                )
                if self._offset is not None:
                    dt = dt - self._offset
                else:
                    dt = dt.replace(tzinfo=self._tz).astimezone(_UTC).replace(tzinfo=None)
                return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            if len(value) >= 19 and value[4] == "-" and value[10] == "T":
                return _iso_utc(datetime.fromisoformat(value.replace("Z", "+00:00")), self._tz)
        except (ValueError, OverflowError):
            return None
        return None

    def _hires_uncached(self, value: str) -> str | None:
        """High Resolution Timestamp (carries its offset); epoch 0 means "not set"."""
        value = value.strip()
        if not value:
            return None
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self._tz)
        if dt == _EPOCH:
            return None
        return _iso_utc(dt, self._tz)

    # -- main ------------------------------------------------------------------------------

    def _plan(self, layout: str, width: int) -> _Plan:
        plan = self._plans.get((layout, width))
        if plan is None:
            if len(self._plans) >= _MAX_PLANS:  # garbage of ever new widths: stay bounded
                self._plans.clear()
            plan = self._plans[(layout, width)] = _Plan(layout, width, self._converters)
        return plan

    def _resolve(self, f: list[str], width: int) -> _Plan:
        """The plan for a record: layout from the Type column, width checked (or ParseError)."""
        log_type = f[3] if width > 3 else ""
        layout = TYPE_ALIASES.get(log_type)
        if layout is None:
            if width > 5 and f[5] == "GLOBALPROTECT":
                layout, log_type = "globalprotect_legacy", "GLOBALPROTECT"
            else:
                raise ParseError(f"unknown PAN-OS log type {log_type[:40]!r}")
        elif layout == "config" and width > 14 and not f[14].strip().isdigit():
            layout = "config_docs"
        minimum = _MIN_WIDTH[layout]
        if width < minimum:
            raise ParseError(f"{log_type} record has {width} columns, at least {minimum} expected")
        plan = self._plan(layout, width)
        # Only where Type and width decide the plan alone: CONFIG also looks at column 14,
        # and legacy GLOBALPROTECT has its sequence number where others have the Type.
        if layout not in ("config", "config_docs", "globalprotect_legacy"):
            if len(self._by_type) >= _MAX_PLANS:
                self._by_type.clear()
            self._by_type[(log_type, width)] = plan
        return plan

    def normalize(self, line: bytes) -> tuple[dict[str, Any], str]:
        if len(line) > MAX_LINE_BYTES:
            raise ParseError(f"line too long for a PAN-OS record ({len(line)} bytes)")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        m = _HEADER_MATCH(text)
        end = m.end() if m is not None else 0
        payload = text[end:] if end else text
        if "," not in payload:
            raise ParseError("not a PAN-OS CSV record (no comma after the syslog header)")
        hdr: _HeaderFacts | None = None
        if m is not None and end:
            # The payload is not empty, so the match did not end at `$`: the parse is a
            # function of the header text alone (lookahead never passes the match end),
            # and may be cached by it.
            key = text[:end]
            hdr = self._headers.get(key)
            if hdr is None:
                if len(self._headers) >= _MAX_HEADERS:
                    self._headers.clear()
                hdr = self._headers[key] = _header_facts(header_from_match(text, m))
        f = split_csv(payload)
        width = len(f)
        # Fast path: the Type column and the width alone name the plan (see `_resolve`).
        plan = self._by_type.get((f[3], width)) if width > 3 else None
        if plan is None:
            plan = self._resolve(f, width)
        layout = plan.layout
        col = _Columns(zip(plan.rule_names, plan.rule_get(f), strict=True))

        # Header times: Generated Time is the event time unless a High Resolution
        # Timestamp says better; Receive Time is when the management plane logged it.
        generated = self._local_time(col["generated_time"])
        if generated is None:
            raise ParseError(f"bad Generated Time {col['generated_time'][:40]!r}")
        created = self._local_time(col["receive_time"])
        if created is None:
            raise ParseError(f"bad Receive Time {col['receive_time'][:40]!r}")
        raw_hires = col["high_resolution_timestamp"]
        hires = self._hires(raw_hires) if raw_hires else None

        e: dict[str, Any] = {"@timestamp": hires or generated}
        # (name, value) pairs with a non-empty value, filtered in C.
        vendor: dict[str, Any] = dict(
            filter(_SECOND, zip(plan.vendor_names, plan.vendor_get(f), strict=True))
        )
        plan.fill(f, e, vendor)
        vendor["generated_time"] = generated
        kind, categories, outcome_rule = TYPE_PROFILES[layout]
        e["event.kind"] = kind
        e["event.category"] = list(categories)
        e["event.created"] = created
        serial = col["serial_number"].strip()
        if serial:
            e["observer.serial_number"] = serial
        self._common(e, vendor, col, layout, outcome_rule)
        _LAYOUT_RULES.get(layout, _no_rule)(e, vendor, col)
        self._finish(e, vendor, hdr)
        if self._keep_original:
            e["event.original"] = text
        doc = _nest(e)
        doc["panw"] = {"panos": vendor}
        # The id hashes the CSV payload — not the syslog header, which relays rewrite.
        # A redelivered log (TCP retransmit, relay replay, re-read file) has the same
        # payload and so the same id; (serial, type, sequence number) alone is not safe:
        # sample and relabelled logs reuse sequence numbers for different events, and
        # deduplicating those would lose data.
        doc_id = content_id(payload)
        return doc, doc_id

    def _common(
        self,
        e: dict[str, Any],
        vendor: dict[str, Any],
        col: _Columns,
        layout: str,
        outcome_rule: str | None,
    ) -> None:
        action, event_action, types = _action_facts(
            col["action"], col["subtype"], layout in _FLOW_LAYOUTS
        )
        if action:
            vendor["action"] = action
        if event_action is not None:
            e["event.action"] = event_action
        if types:
            e["event.type"] = list(types)  # a fresh list: documents must not share one
        severity = col["severity"].strip().lower()
        if severity:
            e["log.level"] = severity
            if severity in _SEVERITY:
                e["event.severity"] = _SEVERITY[severity]
        if outcome_rule is not None:
            e["event.outcome"] = _OUTCOME_RULES[outcome_rule](col, action)
        for column, name_field, domain_field in _USER_FIELDS:
            raw = col[column]
            if raw:
                name, domain = _split_user(raw.strip())
                if name:
                    e[name_field] = name
                    if domain:
                        e[domain_field] = domain
        flags = col["flags"]
        if flags and flags != "0x0":
            labels = _flag_labels(flags)
            if labels:
                e["labels"] = dict(labels)
        h2 = col["http_2_connection"].strip()
        if h2 and h2 != "0":
            e["http.version"] = "2"

    def _finish(self, e: dict[str, Any], vendor: dict[str, Any], hdr: _HeaderFacts | None) -> None:
        """Fields derived from what the column mapping and rules produced."""
        if "source.user.name" in e and "user.name" not in e:
            e["user.name"] = e["source.user.name"]
            if "source.user.domain" in e:
                e["user.domain"] = e["source.user.domain"]
        get = e.get
        # NAT columns read 0.0.0.0 / 0 when no translation happened: drop them.
        snat = get("source.nat.ip")
        if snat == "0.0.0.0" and get("source.nat.port", 0) == 0:
            del e["source.nat.ip"]
            e.pop("source.nat.port", None)
            snat = None
        dnat = get("destination.nat.ip")
        if dnat == "0.0.0.0" and get("destination.nat.port", 0) == 0:
            del e["destination.nat.ip"]
            e.pop("destination.nat.port", None)
            dnat = None
        start = get("event.start")
        if start is not None:
            duration = get("event.duration")
            if duration is not None:
                e["event.end"] = _end_time(start, duration)
        src = get("source.ip")
        if src is not None:
            e["network.type"] = "ipv6" if ":" in src else "ipv4"
        # dict.fromkeys: de-duplicated, first occurrence first; None marks "absent".
        related = dict.fromkeys(
            (src, get("destination.ip"), snat, dnat, get("network.forwarded_ip"))
        )
        host_ips = get("host.ip")
        if host_ips:
            related.update(dict.fromkeys(host_ips))
        remote = vendor.get("remote_user_ip")
        if remote:
            remote_ip = _ip(remote)
            if remote_ip:
                related[remote_ip] = None
        related.pop(None, None)
        if related:
            e["related.ip"] = list(related)
        users = dict.fromkeys(
            (get("source.user.name"), get("destination.user.name"), get("user.name"))
        )
        users.pop(None, None)
        if users:
            e["related.user"] = list(users)
        observer = get("observer.hostname")
        if observer is None and hdr is not None and hdr.hostname:
            observer = e["observer.hostname"] = hdr.hostname
        host_name = get("host.name")
        if observer is not None:
            e["related.hosts"] = (
                [observer] if host_name in (None, observer) else [observer, host_name]
            )
        elif host_name is not None:
            e["related.hosts"] = [host_name]
        e.update(self._constants)
        if hdr is not None and hdr.syslog:
            e.update(hdr.syslog)


_FLOW_LAYOUTS = frozenset({"traffic", "threat", "tunnel", "gtp"})


@functools.lru_cache(maxsize=1024)
def _action_facts(
    raw_action: str, raw_subtype: str, flow: bool
) -> tuple[str, str | None, tuple[str, ...]]:
    """Action and Subtype columns → (action, event.action, event.type).

    Few distinct pairs occur, so the answer is cached per raw pair."""
    action = raw_action.strip()
    if action:
        action = _ACTION_FIX.get(action, action)
    types: list[str] = []
    if action in _ALLOWED:
        types.append("allowed")
    elif action in _DENIED:
        types.append("denied")
    sub = _SUBTYPE_ACTION.get(raw_subtype.strip()) if flow else None
    if sub is None:
        return action, None, tuple(types)
    types.extend(t for t in sub[1] if t not in types)
    return action, sub[0], tuple(types)


def _iso_utc(dt: datetime, default_tz: tzinfo) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_tz)
    dt = dt.astimezone(_UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@functools.lru_cache(maxsize=4096)
def _end_time(start: str, duration_ns: int) -> str:
    """event.end = event.start + event.duration (both as we emit them)."""
    end = datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(
        microseconds=duration_ns // 1000
    )
    return _iso_utc(end, _UTC)


@functools.lru_cache(maxsize=4096)
def _duration(value: str) -> int | None:
    """Elapsed/Login Duration seconds → event.duration nanoseconds."""
    try:
        return int(value) * 1_000_000_000
    except ValueError:
        return None


# ---- outcome rules -------------------------------------------------------------------------

_OUTCOME_RULES: dict[str, Callable[[_Columns, str], str]] = {
    "allow": lambda col, action: "success" if action == "allow" else "failure",
    "threat": lambda col, action: "success" if action in _ALLOWED else "failure",
    "result": lambda col, action: {"Succeeded": "success", "Failed": "failure"}.get(
        col["result"].strip(), "unknown"
    ),
    "status": lambda col, action: col["status"].strip().lower() or "unknown",
    "error": lambda col, action: "failure" if col["error"].strip() else "success",
    "success": lambda col, action: "success",
}

# ---- per-layout rules (things a column → field table cannot say) ------------------------

Rule = Callable[[dict[str, Any], dict[str, Any], _Columns], None]


def _no_rule(e: dict[str, Any], vendor: dict[str, Any], col: _Columns) -> None:
    return None


@functools.lru_cache(maxsize=4096)
def _threat_id(raw: str) -> tuple[str, str] | None:
    """Threat/Content Name `name (id)` → (name, id); a finite set of signatures, so cached."""
    m = _THREAT_ID.match(raw.strip())
    if m is None:
        return None
    name, tid = m.group(1).strip(), m.group(2)
    if tid == "9999":
        name = "URL-filtering"
    return name, tid


def _threat_rule(e: dict[str, Any], vendor: dict[str, Any], col: _Columns) -> None:
    direction = col["direction"].strip()
    e["network.direction"] = _DIRECTION.get(direction, "unknown")
    threat = _threat_id(col["threat_id"])
    if threat is not None:
        name, vendor["threat_id"] = threat
        if name:
            vendor["threat_name"] = name
    digest = col["file_digest"].strip()
    if digest:
        e["related.hash"] = [digest]
    misc = col["url_filename"].strip()
    subtype = col["subtype"].strip()
    if not misc:
        return
    has_slash = "/" in misc
    if subtype == "url" or (subtype in ("virus", "vulnerability") and has_slash):
        _parse_url(misc, e)
    if subtype == "file" and (has_slash or "\\" in misc):
        e["file.path"] = misc
        cut = misc.rfind("/")
        if cut < 0:
            cut = misc.rfind("\\")
        e["file.name"] = misc[cut + 1 :]
    elif subtype in ("file", "virus", "vulnerability") and not (has_slash or "\\" in misc):
        e["file.name"] = misc
    if subtype == "vulnerability" and "file.name" in e:
        for k in [k for k in e if k.startswith("url.")] + ["destination.domain"]:
            e.pop(k, None)
    if "url.original" in e or "file.name" in e:
        vendor.pop("url_filename", None)


def _gp_rule(e: dict[str, Any], vendor: dict[str, Any], col: _Columns) -> None:
    # Private IP (IPv6 as fallback) is the client's tunnel address; Public IP its NAT.
    for target, v4, v6 in (
        ("source.ip", "private_ip", "private_ipv6"),
        ("source.nat.ip", "public_ip", "public_ipv6"),
    ):
        ip4, ip6 = _ip(col[v4]), _ip(col[v6])
        chosen = ip4
        if (ip4 is None or ip4 == "0.0.0.0") and ip6 is not None and ip6 != "0.0.0.0":
            chosen = ip6
        if chosen is not None:
            e[target] = chosen
        for column, parsed in ((v4, ip4), (v6, ip6)):
            raw = col[column].strip()
            if raw:
                vendor[column] = parsed or raw
    if "source.ip" in e:
        e["host.ip"] = [e["source.ip"]]


def _hip_rule(e: dict[str, Any], vendor: dict[str, Any], col: _Columns) -> None:
    ip6 = _ip(col["ipv6_source_address"])
    if ip6 is not None and ip6 != "0.0.0.0":
        e["source.ip"] = ip6
        vendor["ipv6_source_address"] = ip6


def _userid_rule(e: dict[str, Any], vendor: dict[str, Any], col: _Columns) -> None:
    raw = col["user"].strip() or col["user_by_source"].strip()
    if raw:
        name, domain = _split_user(raw)
        e["source.user.name"] = name
        if domain:
            e["source.user.domain"] = domain


def _auth_rule(e: dict[str, Any], vendor: dict[str, Any], col: _Columns) -> None:
    _userid_rule(e, vendor, col)
    if "source.user.name" not in e and col["normalize_user"].strip():
        _userid_rule(e, vendor, _Columns(user=col["normalize_user"]))


def _config_rule(e: dict[str, Any], vendor: dict[str, Any], col: _Columns) -> None:
    command = col["command"].strip()
    if command in _CONFIG_COMMANDS:
        e["event.action"] = f"cmd-{command}"


def _decryption_rule(e: dict[str, Any], vendor: dict[str, Any], col: _Columns) -> None:
    tls = col["tls_version"].strip()
    if len(tls) > 3 and tls[:3].isalpha():
        e["tls.version_protocol"] = tls[:3].lower()
        e["tls.version"] = tls[3:].strip()
    fingerprint = col["fingerprint"].strip().lower().replace(":", "")
    algo = {32: "md5", 40: "sha1", 64: "sha256"}.get(len(fingerprint))
    if algo is not None:
        e[f"tls.server.hash.{algo}"] = fingerprint
        e["related.hash"] = [fingerprint]


def _correlation_rule(e: dict[str, Any], vendor: dict[str, Any], col: _Columns) -> None:
    # CORRELATION's Category is the correlation object category, not a URL category.
    return None


_LAYOUT_RULES: dict[str, Rule] = {
    "threat": _threat_rule,
    "globalprotect": _gp_rule,
    "globalprotect_legacy": _gp_rule,
    "hipmatch": _hip_rule,
    "userid": _userid_rule,
    "iptag": _no_rule,
    "authentication": _auth_rule,
    "config": _config_rule,
    "config_docs": _config_rule,
    "decryption": _decryption_rule,
    "correlation": _correlation_rule,
}
