"""GELF 1.1 codec: ECS document → GELF message → bytes / UDP chunks. No sockets here.

Kept apart from the transports (as Vector keeps codecs apart from sinks) so the rules can
be tested without a network and reused by any transport.

Field rule (documented in docs/syslog-gelf.md):
- every ECS leaf becomes one additional field: `_` + the dotted path with `.` → `_`
  (`source.ip` → `_source_ip`); characters outside `[A-Za-z0-9_.-]` become `_`;
- a name Graylog reserves (`message`, `timestamp`, `source`, `id`, …) gets an `ecs_` prefix
  (`message` → `_ecs_message`, `@timestamp` → `_ecs_timestamp`);
- the document id travels as `_shippers_id` (GELF forbids `_id`);
- arrays of scalars are joined with "," (`related.ip` → `"10.0.0.1,10.0.0.2"`); arrays
  holding objects or arrays are indexed (`threat.technique.0.id` → `_..._0_id`); empty
  arrays and nulls are left out (they carry no value);
- booleans become "true" / "false" (GELF values are strings or numbers);
- if two paths map to the same name (`a.b_c` and `a_b.c`), the later keeps its dots
  (`_a_b.c`), so nothing is overwritten.

Size guards: a string longer than `max_term_bytes` (Elasticsearch's 32,766-byte keyword
term limit) is cut at a character boundary; a message whose JSON exceeds
`max_message_bytes` (Graylog's 2 MiB TCP frame) has its largest strings cut further. Every
cut field is named in `_shippers_truncated` (and counted) — never silently.
"""

from __future__ import annotations

import gzip
import itertools
import logging
import math
import os
import re
import threading
import zlib
from datetime import datetime
from typing import Any, Literal

import orjson

from . import metrics
from .record import doc_field as _get

__all__ = [
    "CHUNK_HEADER_BYTES",
    "CHUNK_MAGIC",
    "GELF_ID_FIELD",
    "MAX_CHUNKS",
    "MAX_FRAME_BYTES",
    "MAX_TERM_BYTES",
    "TRUNCATED_FIELD",
    "Compression",
    "GelfTooLarge",
    "MessageIds",
    "build_message",
    "chunk",
    "compress",
    "encode",
    "field_name",
    "flatten",
    "short_message",
    "syslog_level",
]

log = logging.getLogger("shippers.gelf")

Compression = Literal["zlib", "gzip", "none"]

GELF_VERSION = "1.1"
CHUNK_MAGIC = b"\x1e\x0f"
CHUNK_HEADER_BYTES = 12  # magic (2) + message id (8) + sequence number (1) + count (1)
MAX_CHUNKS = 128
MAX_TERM_BYTES = 32_766
MAX_FRAME_BYTES = 2 * 1024 * 1024
GELF_ID_FIELD = "_shippers_id"
TRUNCATED_FIELD = "_shippers_truncated"
_MIN_CUT_BYTES = 256  # the frame guard never cuts a string shorter than this

# Field names Graylog keeps for itself (GELF top-level keys and Message.RESERVED_FIELDS):
# an additional field of that name would be ignored or clash with the message's own.
_RESERVED = frozenset(
    {
        "id",
        "message",
        "full_message",
        "short_message",
        "source",
        "timestamp",
        "level",
        "facility",
        "line",
        "file",
        "version",
        "host",
        "streams",
    }
)
_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")
_OWN_ID_KEY = "_id"  # a serialized document's own id key (record.ID_FIELD): never a field


class GelfTooLarge(ValueError):
    """The message cannot be made to fit (too many fields, or > 128 UDP chunks)."""


# -- naming and flattening ------------------------------------------------------------
def field_name(path: str) -> str:
    """The GELF additional-field name for a dotted ECS path (see the module docstring)."""
    name = _BAD_CHARS.sub("_", path.lstrip("@").replace(".", "_"))
    if name in _RESERVED or name.startswith("gl2_"):
        name = f"ecs_{name}"
    return f"_{name}"


def _dotted_name(path: str) -> str:
    name = _BAD_CHARS.sub("_", path.lstrip("@"))
    return f"_ecs_{name}" if name in _RESERVED else f"_{name}"


def _scalar(v: Any) -> str | int | float | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        # GELF readers parse numbers as 64-bit; larger integers travel as text.
        return v if -(2**63) <= v < 2**63 else str(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    return v if isinstance(v, str) else str(v)


def flatten(doc: dict[str, Any]) -> dict[str, str | int | float]:
    """Every leaf of `doc` as a GELF additional field (`_source_ip`: "10.0.0.1")."""
    out: dict[str, str | int | float] = {}

    def put(path: str, value: str | int | float | None) -> None:
        if value is None:
            return
        name = field_name(path)
        if name in out or name in (GELF_ID_FIELD, TRUNCATED_FIELD):
            name = _dotted_name(path)
            while name in out:
                name += "_"
        out[name] = value

    def walk(path: str, v: Any) -> None:
        if isinstance(v, dict):
            for k, sub in v.items():
                walk(f"{path}.{k}" if path else str(k), sub)
        elif isinstance(v, (list, tuple)):
            if not v:
                return
            if all(not isinstance(x, (dict, list, tuple)) for x in v):
                parts = [_scalar(x) for x in v]
                put(path, ",".join(str(p) for p in parts if p is not None))
            else:
                for i, x in enumerate(v):
                    walk(f"{path}.{i}", x)
        else:
            put(path, _scalar(v))

    for k, v in doc.items():
        if k == _OWN_ID_KEY:
            continue
        walk(str(k), v)
    return out


# -- level, timestamp, summary ----------------------------------------------------------
_LEVEL_WORDS = {
    "emergency": 0,
    "emerg": 0,
    "alert": 1,
    "critical": 2,
    "crit": 2,
    "error": 3,
    "err": 3,
    "high": 3,
    "warning": 4,
    "warn": 4,
    "medium": 4,
    "notice": 5,
    "low": 5,
    "informational": 6,
    "info": 6,
    "debug": 7,
}


def syslog_level(doc: dict[str, Any]) -> int:
    """Syslog level 0–7: from `log.level` words, else `event.severity`, else 6 (info).

    `event.severity` of 1–5 is the PAN-OS scale (1 critical … 5 informational, as
    Elastic maps it); above 5 it is a 0–100 risk scale (Falcon): ≥90 critical, ≥70 error,
    ≥50 warning, ≥20 notice, else informational.
    """
    word = _get(doc, "log.level")
    if isinstance(word, str) and word.lower() in _LEVEL_WORDS:
        return _LEVEL_WORDS[word.lower()]
    sev = _get(doc, "event.severity")
    if isinstance(sev, (int, float)) and not isinstance(sev, bool):
        if 1 <= sev <= 5:
            return int(sev) + 1
        if sev > 5:
            for threshold, level in ((90, 2), (70, 3), (50, 4), (20, 5)):
                if sev >= threshold:
                    return level
    return 6


def event_timestamp(doc: dict[str, Any], fallback: float) -> float:
    """`@timestamp` as epoch seconds with fraction (GELF `timestamp`)."""
    ts = doc.get("@timestamp")
    if isinstance(ts, str):
        try:
            return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return fallback


def _endpoint(doc: dict[str, Any], side: str) -> str:
    ip = _get(doc, f"{side}.ip") or _get(doc, f"{side}.address")
    port = _get(doc, f"{side}.port")
    if ip is None:
        return "?"
    ip = f"[{ip}]" if ":" in str(ip) and port is not None else str(ip)
    return f"{ip}:{port}" if port is not None else ip


def _join(*parts: Any) -> str:
    return " ".join(str(p) for p in parts if p not in (None, ""))


def short_message(doc: dict[str, Any], source_type: str = "") -> str:
    """A one-line summary an analyst can scan, per event family.

    PAN-OS: "TRAFFIC allow 10.0.0.1:51234 → 8.8.8.8:53 udp", "THREAT url block
    <threat> 10.0.0.1:1 → 2.2.2.2:443"; Falcon: "ProcessRollup2 /usr/bin/curl by alice on
    mac-042", detections: "DetectionSummaryEvent <rule> severity 70 on mac-042".
    """
    panos_type = _get(doc, "panw.panos.type")
    if panos_type or source_type == "panos":
        action = (
            _get(doc, "panw.panos.action")
            or _get(doc, "event.action")
            or _get(doc, "event.outcome")
        )
        sub = _get(doc, "panw.panos.subtype") or _get(doc, "panw.panos.sub_type")
        sub = None if sub in ("0", panos_type) else sub
        if _get(doc, "destination.ip"):
            flow = f"{_endpoint(doc, 'source')} → {_endpoint(doc, 'destination')}"
            transport = _get(doc, "network.transport")
            if panos_type == "TRAFFIC":
                return _join(panos_type, action, flow, transport)
            threat = (
                _get(doc, "url.original")
                if sub == "url"
                else _get(doc, "panw.panos.threat_name") or _get(doc, "panw.panos.threat.name")
            )
            return _join(panos_type, sub, action, threat, flow, transport)
        user = _get(doc, "source.user.name") or _get(doc, "user.name")
        what = _get(doc, "panw.panos.description") or _get(doc, "message")
        return (
            _join(
                panos_type,
                sub,
                action,
                f"user {user}" if user else None,
                f"from {_get(doc, 'source.ip')}" if _get(doc, "source.ip") else None,
                what,
            )
            or "PAN-OS event"
        )
    action = _get(doc, "event.action") or _get(doc, "crowdstrike.event_simpleName")
    host = _get(doc, "host.hostname") or _get(doc, "host.name") or _get(doc, "host.id")
    if _get(doc, "event.kind") == "alert":
        rule = _get(doc, "rule.name") or _get(doc, "threat.technique.name")
        sev = _get(doc, "event.severity")
        return _join(action, rule, f"severity {sev}" if sev is not None else None, "on", host)
    proc = _get(doc, "process.executable") or _get(doc, "process.name")
    user = _get(doc, "user.name")
    text = _join(
        action,
        proc,
        f"by {user}" if user else None,
        f"on {host}" if host else None,
    )
    return text or str(_get(doc, "message") or "event")


# -- the message --------------------------------------------------------------------------
def build_message(
    doc: dict[str, Any],
    doc_id: str,
    *,
    source_type: str = "",
    default_host: str = "shippers",
    received_at: float = 0.0,
    max_term_bytes: int = MAX_TERM_BYTES,
    max_message_bytes: int = MAX_FRAME_BYTES,
) -> dict[str, Any]:
    """The GELF 1.1 message for one ECS document, size guards applied."""
    host = (
        _get(doc, "observer.hostname")
        or _get(doc, "host.hostname")
        or _get(doc, "host.name")
        or _get(doc, "log.syslog.hostname")
        or _get(doc, "host.id")
        or default_host
    )
    msg: dict[str, Any] = {
        "version": GELF_VERSION,
        "host": str(host),
        "short_message": short_message(doc, source_type) or "event",
        "timestamp": round(event_timestamp(doc, received_at), 6),
        "level": syslog_level(doc),
    }
    msg.update(flatten(doc))
    msg[GELF_ID_FIELD] = doc_id
    guard_sizes(msg, max_term_bytes, max_message_bytes)
    return msg


def _cut(s: str, max_bytes: int) -> str:
    """`s` cut to at most `max_bytes` UTF-8 bytes, at a character boundary."""
    b = s.encode("utf-8")
    if len(b) <= max_bytes:
        return s
    return b[:max_bytes].decode("utf-8", "ignore")


def guard_sizes(msg: dict[str, Any], max_term_bytes: int, max_message_bytes: int) -> list[str]:
    """Cut over-long strings in place; name every cut field in `_shippers_truncated`."""
    cut: list[str] = []
    for k, v in msg.items():
        if isinstance(v, str) and len(v) * 4 > max_term_bytes and len(v.encode()) > max_term_bytes:
            msg[k] = _cut(v, max_term_bytes)
            cut.append(k)
    size = len(encode(msg))
    while size > max_message_bytes:
        name, value = max(
            ((k, v) for k, v in msg.items() if isinstance(v, str) and k != TRUNCATED_FIELD),
            key=lambda kv: len(kv[1]),
            default=("", ""),
        )
        current = len(value.encode())
        if current <= _MIN_CUT_BYTES:
            raise GelfTooLarge(
                f"GELF message is {size} bytes after cutting every long field, "
                f"over the {max_message_bytes}-byte limit"
            )
        target = max(_MIN_CUT_BYTES, current - (size - max_message_bytes) - 1024)
        msg[name] = _cut(value, target)
        if name not in cut:
            cut.append(name)
        size = len(encode(msg))
    if cut:
        msg[TRUNCATED_FIELD] = ",".join(cut)
        metrics.GELF_FIELDS_TRUNCATED.inc(len(cut))
        log.info("gelf: truncated %s of %s", cut, msg.get(GELF_ID_FIELD))
    return cut


def encode(msg: dict[str, Any]) -> bytes:
    """The message as compact JSON (no NUL byte can appear: JSON escapes control chars)."""
    return orjson.dumps(msg)


def compress(payload: bytes, method: Compression) -> bytes:
    if method == "zlib":
        return zlib.compress(payload)
    if method == "gzip":
        return gzip.compress(payload, mtime=0)  # mtime 0: same input → same bytes
    return payload


class MessageIds:
    """Unique 8-byte GELF chunk message ids: a random per-process prefix + a counter."""

    def __init__(self) -> None:
        self._prefix = os.urandom(4)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> bytes:
        with self._lock:
            n = next(self._counter)
        return self._prefix + (n & 0xFFFFFFFF).to_bytes(4, "big")


def chunk(payload: bytes, chunk_size: int, message_id: bytes) -> list[bytes]:
    """Datagrams for one (compressed) payload: as is when it fits, else GELF chunks.

    `chunk_size` is the whole datagram, header included. More than 128 chunks is refused
    by every GELF reader, so it raises `GelfTooLarge` instead of sending a lost message.
    """
    if len(payload) <= chunk_size:
        return [payload]
    if len(message_id) != 8:
        raise ValueError("a GELF message id is 8 bytes")
    body = chunk_size - CHUNK_HEADER_BYTES
    count = -(-len(payload) // body)
    if count > MAX_CHUNKS:
        raise GelfTooLarge(
            f"{len(payload)} bytes need {count} UDP chunks of {chunk_size} bytes; "
            f"GELF allows {MAX_CHUNKS}"
        )
    head = CHUNK_MAGIC + message_id
    return [head + bytes((i, count)) + payload[i * body : (i + 1) * body] for i in range(count)]
