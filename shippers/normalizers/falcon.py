"""CrowdStrike Falcon → ECS: FDR event lines and Falcon event stream events.

One normalizer for both shapes (the registry maps "falcon" and "falcon-fdr" here):

- FDR: one flat JSON object per line, `event_simpleName` naming the event, all values
  strings. The mapping follows Elastic's FDR ingest pipeline (elastic/integrations,
  packages/crowdstrike/data_stream/fdr) so our documents agree with Elastic's on shared
  fields; see `tests/golden_differences_falcon.tsv` for the deliberate differences.
- Event stream: `{"metadata": {...}, "event": {...}}` (see falcon_stream.py in this package).

Fields not mapped to ECS stay under `crowdstrike.*`, as strings (counts as numbers): the
vendor namespace is mapped as keyword by a dynamic template, so it can grow without new
top-level fields. The hot path is dictionary lookups and pops on the parsed object — no
regex, no deep copies — because FDR volumes are large.
"""

from __future__ import annotations

import ipaddress
import logging
from time import time as _now
from typing import Any

import orjson

from ..errors import ParseError
from ..plugin import Normalizer, NormalizerOptions
from ..record import content_id
from ..registry import register
from .falcon_events import (
    CATEGORIZATION,
    DNS_TYPES,
    IANA_TRANSPORT,
    INTEGRITY_LEVELS,
    MODULE_LOAD_EVENTS,
    PLATFORM_OS,
    REG_OPERATION_ACTION,
    REG_VALUE_TYPES,
    SEVERITY_NAME_SCORE,
)
from .falcon_time import epoch_ms, format_ms, to_iso

__all__ = ["MAX_LINE_BYTES", "FalconNormalizer", "split_command_line"]

# A Falcon event is a few KB; anything this large is garbage or an attack on memory.
MAX_LINE_BYTES = 4 * 1024 * 1024

OBSERVER: dict[str, Any] = {"vendor": "Crowdstrike", "product": "Falcon", "type": "agent"}

# Keys that identify an FDR record when event_simpleName is absent (ExternalApi events,
# aidmaster/ZeroTrustHostAssessment records in the FDR feed).
_FDR_MARKERS = ("EventType", "event_type", "ExternalApiType", "aid", "cid")

_HASH_KEYS = (("MD5HashData", "md5"), ("SHA1HashData", "sha1"), ("SHA256HashData", "sha256"))
_DETECT_HASH_KEYS = (("MD5String", "md5"), ("SHA1String", "sha1"), ("SHA256String", "sha256"))

_IP_CACHE: dict[str, str | None] = {}


def valid_ip(value: Any) -> str | None:
    """The address text when `value` is an IPv4/IPv6 address, else None (cached: aips repeat)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return _IP_CACHE[value]
    except KeyError:
        pass
    try:
        ipaddress.ip_address(value)
        out: str | None = value
    except ValueError:
        out = None
    if len(_IP_CACHE) > 8192:
        _IP_CACHE.clear()
    _IP_CACHE[value] = out
    return out


def empty_hash(value: Any) -> bool:
    """True for a missing hash or FDR's all-zero placeholder."""
    return not isinstance(value, str) or not value.strip("0")


# Elasticsearch `long` is signed 64-bit; Falcon sometimes reports unsigned 64-bit ids
# (e.g. RawProcessId 18446744072636268557). Such values are not numbers ECS can hold:
# they stay, as text, under crowdstrike.*.
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def to_int(value: Any) -> int | None:
    """An integer that fits Elasticsearch's long, else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value:
        try:
            n = int(value)
        except ValueError:
            return None
    else:
        return None
    return n if LONG_MIN <= n <= LONG_MAX else None


def basename(path: str) -> str:
    """Last component of a Windows or POSIX path (Elastic's process.name rule)."""
    if path[:1] == "\\":
        return path.rsplit("\\", 1)[-1]
    if path[:1] == "/":
        return path.rsplit("/", 1)[-1]
    return path


def split_command_line(cmd: str) -> list[str]:
    """Split a command line like Windows' CommandLineToArgvW (Elastic does so for every OS)."""
    if '"' not in cmd:
        # Without quotes backslashes are literal and only spaces/tabs separate arguments.
        return [a for a in cmd.replace("\t", " ").split(" ") if a]
    args: list[str] = []
    i, n = 0, len(cmd)
    while i < n:
        while i < n and cmd[i] in " \t":
            i += 1
        if i >= n:
            break
        buf: list[str] = []
        inquote = False
        slashes = 0
        while i < n:
            c = cmd[i]
            if c in " \t" and not inquote:
                break
            if c == "\\":
                slashes += 1
                i += 1
                continue
            if c == '"':
                buf.append("\\" * (slashes // 2))
                if slashes % 2 == 0:
                    # "Prior to 2008" rule: a doubled quote inside quotes is a literal quote.
                    if inquote and i + 1 < n and cmd[i + 1] == '"':
                        buf.append('"')
                        i += 1
                    inquote = not inquote
                else:
                    buf.append('"')
                slashes = 0
                i += 1
                continue
            if slashes:
                buf.append("\\" * slashes)
                slashes = 0
            buf.append(c)
            i += 1
        if slashes:
            buf.append("\\" * slashes)
        args.append("".join(buf))
    return args


ARGS_CACHE: dict[str, tuple[str, ...]] = {}


def command_line_args(cmd: str) -> list[str]:
    """split_command_line, cached: the same command lines run over and over in a fleet."""
    args = ARGS_CACHE.get(cmd)
    if args is None:
        if len(ARGS_CACHE) >= 4096:
            ARGS_CACHE.clear()
        args = ARGS_CACHE[cmd] = tuple(split_command_line(cmd))
    return list(args)


def _append(lst: list[Any], value: Any) -> None:
    if value not in lst:
        lst.append(value)


def vendor_value(key: str, value: Any) -> Any:
    """A vendor field as stored under crowdstrike.*: strings, counts as numbers."""
    if isinstance(value, str):
        if "Count" in key:
            n = to_int(value)
            return value if n is None else n
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value if "Count" in key else str(value)
    if isinstance(value, dict):
        return {k: vendor_value(k, v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [vendor_value(key, v) for v in value if v is not None]
    return None if value is None else str(value)


def vendor_json_value(key: str, raw: bytes) -> Any:
    """vendor_value of one raw JSON value: how the compiled mapping places a non-string
    value of a key the mapping never reads (orjson parses it, so nothing is re-implemented)."""
    return vendor_value(key, orjson.loads(raw))


def vendor_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The event's fields ready for crowdstrike.* (empty values dropped, as Elastic does)."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if v is None or v == "":
            continue
        if type(v) is str and "Count" not in k:
            out[k] = v
        else:
            out[k] = vendor_value(k, v)
    return out


@register("normalizer", "falcon-fdr")
@register("normalizer", "falcon")
class FalconNormalizer(Normalizer):
    """Falcon FDR lines and event stream events → ECS documents."""

    Options = NormalizerOptions
    name = "falcon"
    source_type = "falcon"

    def normalize(self, line: bytes) -> tuple[dict[str, Any], str]:
        if len(line) > MAX_LINE_BYTES:
            raise ParseError(f"line of {len(line)} bytes exceeds {MAX_LINE_BYTES}")
        if _native is not None and type(line) is bytes:
            # The compiled mapping, when built: the same document, or None for what it leaves
            # to the Python path below (see falcon_native.py).
            try:
                done = _native(line)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:
                # A Python helper it called raised, or a Rust panic (pyo3's PanicException is
                # a BaseException): the Python path decides, and the line is not lost.
                _native_failed(e)
                done = None
            if done is not None:
                if self.options is not None and self.options.keep_original:
                    done[0]["event"]["original"] = line.decode("utf-8", "replace")
                return done
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise ParseError(f"invalid JSON: {e}") from None
        if not isinstance(obj, dict):
            raise ParseError(f"expected a JSON object, got {type(obj).__name__}")
        try:
            # All values strings (C-speed check; typical of FDR): the plan-based fast path.
            "".join(obj.values())
        except TypeError:
            pass
        else:
            if "event_simpleName" in obj or any(k in obj for k in _FDR_MARKERS):
                doc, doc_id = falcon_plan.normalize_fdr_str(obj, line)
            else:
                raise ParseError("not a Falcon event: no event_simpleName and no metadata/event")
            if self.options is not None and self.options.keep_original:
                doc["event"]["original"] = line.decode("utf-8", "replace")
            return doc, doc_id
        md = obj.get("metadata")
        try:
            if isinstance(md, dict) and isinstance(obj.get("event"), dict) and "eventType" in md:
                doc, doc_id = normalize_stream(obj, line)
            elif "event_simpleName" in obj or any(k in obj for k in _FDR_MARKERS):
                doc, doc_id = normalize_fdr(obj, line)
            else:
                raise ParseError("not a Falcon event: no event_simpleName and no metadata/event")
        except (TypeError, AttributeError, ValueError) as e:
            # A field of an unexpected JSON type (a list or object where Falcon sends a
            # string): the event is malformed, not the normalizer broken.
            raise ParseError(f"unexpected value type in event: {type(e).__name__}: {e}") from None
        if self.options is not None and self.options.keep_original:
            doc["event"]["original"] = line.decode("utf-8", "replace")
        return doc, doc_id


# FDR keys the mapping moves into ECS (dropped from crowdstrike.*) ...
_CONSUMED = frozenset(
    [
        "aid",
        "aip",
        "ConfigBuild",
        "AgentVersion",
        "ComputerName",
        "hostname",
        "MachineDomain",
        "event_platform",
        "OSVersionString",
        "MD5HashData",
        "SHA1HashData",
        "SHA256HashData",
        "CommandLine",
        "ImageFileName",
        "ContextImageFileName",
        "TargetImageFileName",
        "OriginalFilename",
        "ContextBaseFileName",
        "RawProcessId",
        "EtwRawProcessId",
        "TargetProcessId",
        "ParentProcessId",
        "ParentBaseFileName",
        "ProcessGroupId",
        "ContextThreadId",
        "EtwRawThreadId",
        "ServiceDisplayName",
        "ExitCode",
        "ProcessStartTime",
        "ProcessEndTime",
        "UID",
        "UserSid",
        "FileOperatorSid",
        "UserName",
        "GID",
        "UserIsAdmin",
        "UserPrincipal",
        "ConnectionDirection",
        "LocalAddressIP4",
        "LocalAddressIP6",
        "RemoteAddressIP4",
        "RemoteAddressIP6",
        "LocalPort",
        "RemotePort",
        "MAC",
        "PhysicalAddress",
        "Protocol",
        "DomainName",
        "RequestType",
        "TargetFileName",
        "SourceFileName",
        "Size",
        "FileIdentifier",
        "DiskParentDeviceInstanceId",
        "RegObjectName",
        "RegValueName",
        "UTCTimestamp",
        "timestamp",
        "CreationTimeStamp",
    ]
)
# ... and keys it reads but also keeps under crowdstrike.* (as Elastic does).
_SHARED = frozenset(
    [
        "event_simpleName",
        "id",
        "cid",
        "LogonDomain",
        "SensorId",
        "ConfigStateHash",
        "ContextProcessId",
        "RGID",
        "RUID",
        "LogonServer",
        "ClientComputerName",
        "CurrentLocalIP",
        "LocalIP",
        "IntegrityLevel",
        "SuspiciousHandleOpenReason",
        "RegStringValue",
        "RegType",
        "RegOperationType",
        "ContextTimeStamp",
        "Tags",
        "DetectName",
        "SeverityName",
        "Time",
        "_time",
    ]
)
_PROCESS_KEYS = frozenset(
    [
        "CommandLine",
        "ImageFileName",
        "ContextImageFileName",
        "TargetImageFileName",
        "ContextBaseFileName",
        "RawProcessId",
        "EtwRawProcessId",
        "TargetProcessId",
        "ContextProcessId",
        "ParentProcessId",
        "ParentBaseFileName",
        "ProcessGroupId",
        "ContextThreadId",
        "EtwRawThreadId",
        "ServiceDisplayName",
        "ExitCode",
        "ProcessStartTime",
        "ProcessEndTime",
        "IntegrityLevel",
        "SuspiciousHandleOpenReason",
    ]
)
_USER_KEYS = frozenset(
    [
        "UID",
        "UserSid",
        "FileOperatorSid",
        "UserName",
        "GID",
        "RGID",
        "RUID",
        "UserIsAdmin",
        "UserPrincipal",
    ]
)
_NETWORK_KEYS = frozenset(
    [
        "ConnectionDirection",
        "LocalAddressIP4",
        "LocalAddressIP6",
        "RemoteAddressIP4",
        "RemoteAddressIP6",
        "LocalPort",
        "RemotePort",
        "MAC",
        "PhysicalAddress",
        "Protocol",
        "CurrentLocalIP",
        "LocalIP",
    ]
)
_FILE_KEYS = frozenset(
    ["TargetFileName", "SourceFileName", "Size", "FileIdentifier", "DiskParentDeviceInstanceId"]
)
_HASH_KEY_SET = frozenset(k for k, _ in _HASH_KEYS)
_TIME_KEYS = ("UTCTimestamp", "timestamp", "CreationTimeStamp", "Time", "_time")


_MAPPED = _CONSUMED | _SHARED


def _split_record(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the record itself, vendor fields for crowdstrike.*) of one FDR record.

    The mapping reads the record directly; crowdstrike.* is a C-level copy minus the consumed
    keys. Python-level loops only run for the rare records with empty, count or non-string
    values.
    """
    cs = obj.copy()
    for k in _CONSUMED.intersection(obj):
        del cs[k]
    values = cs.values()
    if "" in values:
        cs = {k: v for k, v in cs.items() if v != ""}
        values = cs.values()
    types = set(map(type, values))
    if types and types != {str}:
        cs = {k: vendor_value(k, v) for k, v in cs.items() if v is not None}
    elif "Count" in "".join(cs):
        for k in [k for k in cs if "Count" in k]:
            cs[k] = vendor_value(k, cs[k])
    return obj, cs


def normalize_fdr(obj: dict[str, Any], line: bytes) -> tuple[dict[str, Any], str]:
    """One FDR record → (ECS document, doc id).

    The record is split (at C speed, see `_split_record`) into the keys the mapping reads
    (`m`) and the vendor fields for crowdstrike.* (`cs`); each mapping section then runs only
    when one of its keys is present.
    """
    m, cs = _split_record(obj)
    g = m.get
    keys = m.keys()

    name = g("event_simpleName") or ""
    if not isinstance(name, str):
        name = str(name)
    event: dict[str, Any] = {"module": "crowdstrike", "dataset": "crowdstrike.fdr"}
    observer = dict(OBSERVER)
    host: dict[str, Any] = {}
    doc: dict[str, Any] = {"event": event, "observer": observer, "host": host}
    related_ip: list[str] = []
    related_user: list[str] = []
    related_hosts: list[str] = []
    related_hash: list[str] = []

    # --- time and identity ---------------------------------------------------------------
    ms = None
    for key in _TIME_KEYS:
        v = g(key)
        if v is not None and v != "":
            ms = epoch_ms(v)
            if ms is not None:
                break
    if ms is None:
        # No usable time in the event: the time we saw it, as Elastic does with
        # _ingest.timestamp (never a guess from another field's unit).
        doc["@timestamp"] = format_ms(int(_now() * 1000))
    else:
        doc["@timestamp"] = event["created"] = format_ms(ms)
    eid, aid, cid = g("id"), g("aid"), g("cid")
    event["id"] = f"{eid or ''}|{aid or ''}|{cid or ''}"
    # The document id hashes the raw line. A redelivered FDR object or SQS message repeats
    # the line byte for byte, so replays keep their ids; the `id` field alone is not safe
    # as a key: feeds reuse it (sanitized and sample data do, across event types and for
    # edited variants of one event), and two different events sharing a document id
    # would make Elasticsearch drop one of them as a duplicate.
    doc_id = content_id(line)

    if name:
        event["action"] = name
        doc["message"] = name
        cat = CATEGORIZATION.get(name)
        if cat is None:
            event["kind"] = "event"
        else:
            event["kind"] = cat[0]
            event["category"] = list(cat[1])
            event["type"] = list(cat[2])
            event["outcome"] = cat[3]

    # --- observer / host -----------------------------------------------------------------
    if aid:
        observer["serial_number"] = host["id"] = aid
    aip = g("aip")
    if isinstance(aip, str) and aip:
        ips = [ip for ip in aip.split() if valid_ip(ip)]
        if ips:
            observer["ip"] = ips
            observer["address"] = list(ips)
            related_ip.extend(ips)
    build = g("ConfigBuild") or g("AgentVersion")
    if build:
        observer["version"] = build
    hostname = g("ComputerName") or g("hostname")
    if hostname:
        host["hostname"] = host["name"] = hostname
        related_hosts.append(hostname)
    domain = g("MachineDomain") or g("LogonDomain")
    if domain:
        host["domain"] = domain
    platform = g("event_platform")
    os_type = PLATFORM_OS.get(platform) if isinstance(platform, str) else None
    if os_type:
        host["os"] = {"type": os_type}
    elif platform:
        cs["event_platform"] = platform
    osver = g("OSVersionString")
    if osver:
        host.setdefault("os", {})["version"] = osver
    sensor = g("SensorId") or aid
    if sensor:
        doc["device"] = {"id": sensor}

    # --- hashes (all-zero means absent) ----------------------------------------------------
    hashes: dict[str, str] = {}
    if not _HASH_KEY_SET.isdisjoint(keys):
        for key, algo in _HASH_KEYS:
            h = g(key)
            if h and not empty_hash(h):
                hashes[algo] = h
                related_hash.append(h)
    csh = g("ConfigStateHash")
    if csh:
        related_hash.append(csh)

    # --- process -------------------------------------------------------------------------
    process: dict[str, Any] = {}
    if not _PROCESS_KEYS.isdisjoint(keys):
        hashes = _fdr_process(m, name, os_type, process, event, doc, hashes)

    # --- user / group ----------------------------------------------------------------------
    if not _USER_KEYS.isdisjoint(keys):
        _fdr_user(m, process, doc, related_user)
    for key in ("LogonServer", "ClientComputerName"):
        v = g(key)
        if v:
            _append(related_hosts, v)

    # --- network / DNS ---------------------------------------------------------------------
    network: dict[str, Any] = {}
    if not _NETWORK_KEYS.isdisjoint(keys):
        _fdr_network(m, doc, network, related_ip)
    if "DnsRequest" in name:
        dns: dict[str, Any] = {"type": "query"}
        question: dict[str, Any] = {}
        qname = g("DomainName")
        if qname:
            question["name"] = qname
        qtype = DNS_TYPES.get(g("RequestType") or "")
        if qtype:
            question["type"] = qtype
        elif g("RequestType"):
            cs["RequestType"] = g("RequestType")
        if question:
            dns["question"] = question
        doc["dns"] = dns
        network["protocol"] = "dns"
    elif "DomainName" in keys:
        dom = g("DomainName")
        if dom and "SmbServerShareOpenedEtw" in name:
            doc.setdefault("destination", {})["domain"] = dom
        elif dom:
            cs["DomainName"] = dom
    if network:
        doc["network"] = network

    # --- file --------------------------------------------------------------------------------
    if not _FILE_KEYS.isdisjoint(keys):
        _fdr_file(m, name, doc)
    if hashes and ("File" in name or "Directory" in name or "Executable" in name):
        doc.setdefault("file", {})["hash"] = hashes
        hashes = {}
    if hashes:
        # Hashes of an event family Elastic does not place: keep them findable in crowdstrike.*
        for key, algo in _HASH_KEYS:
            if algo in hashes:
                cs[key] = hashes[algo]

    # --- registry ------------------------------------------------------------------------------
    reg_key = g("RegObjectName")
    if reg_key:
        _fdr_registry(m, doc, event)
    if name.endswith("Written"):
        # Elastic's current pipeline names the operation for file-written events.
        event["action"] = "creation"
    elif name in ("DriverLoad", "KernelModeLoadImage"):
        event["action"] = "load"

    # --- detections in the FDR feed (ExternalApi DetectionSummaryEvent) -------------------------
    if "DetectName" in keys or "SeverityName" in keys:
        _detection_fields(obj, doc, related_hash)

    # --- related -------------------------------------------------------------------------------
    if process:
        doc["process"] = process
    related: dict[str, Any] = {}
    if related_ip:
        related["ip"] = related_ip
    if related_user:
        related["user"] = related_user
    if related_hosts:
        related["hosts"] = related_hosts
    if related_hash:
        related["hash"] = list(dict.fromkeys(related_hash))
    if related:
        doc["related"] = related

    # ContextTimeStamp stays in crowdstrike.* but as a date, like Elastic's pipeline.
    cts = cs.get("ContextTimeStamp")
    if cts:
        iso = to_iso(cts)
        if iso:
            cs["ContextTimeStamp"] = iso
    tags = cs.get("Tags")
    if isinstance(tags, str):
        cs["Tags"] = [t.strip() for t in tags.split(",") if t.strip()]
    doc["crowdstrike"] = cs
    return doc, doc_id


def _fdr_process(
    m: dict[str, Any],
    name: str,
    os_type: str | None,
    process: dict[str, Any],
    event: dict[str, Any],
    doc: dict[str, Any],
    hashes: dict[str, str],
) -> dict[str, str]:
    """process.* (and dll.* for module loads); returns the hashes not yet placed."""
    g = m.get
    cmd = g("CommandLine")
    if cmd:
        process["command_line"] = cmd
        if os_type:
            args = split_command_line(cmd)
            process["args"] = args
            process["args_count"] = len(args)
    image = g("ImageFileName") or g("ContextImageFileName")
    if name in MODULE_LOAD_EVENTS:
        if image:
            dll: dict[str, Any] = {"path": image, "name": basename(image)}
            if hashes:
                dll["hash"] = hashes
                hashes = {}
            ofn = g("OriginalFilename")
            if ofn:
                dll["pe"] = {"original_file_name": ofn}
            doc["dll"] = dll
        image = g("TargetImageFileName")
    if image:
        process["executable"] = image
        pname = basename(image)
        if not pname and process.get("args"):
            pname = process["args"][0].replace("\\", "/").rsplit("/", 1)[-1]
        if pname:
            process["name"] = pname
    ctx_name = g("ContextBaseFileName")
    if ctx_name:
        process["name"] = ctx_name
    pid = to_int(g("RawProcessId"))
    if pid is None:
        pid = to_int(g("EtwRawProcessId"))
    if pid is not None:
        process["pid"] = pid
    entity = g("TargetProcessId") or g("ContextProcessId")
    if entity is not None and entity != "":
        process["entity_id"] = str(entity)
    parent: dict[str, Any] = {}
    ppid = g("ParentProcessId")
    if ppid is not None and ppid != "":
        parent["entity_id"] = str(ppid)
    pbase = g("ParentBaseFileName")
    if pbase:
        parent["name"] = pbase
    if parent:
        process["parent"] = parent
    pgid = g("ProcessGroupId")
    n = to_int(pgid)
    if n is not None:
        process["pgid"] = n
        process["group_leader"] = {"entity_id": str(pgid)}
    tid = to_int(g("ContextThreadId"))
    if tid is None:
        tid = to_int(g("EtwRawThreadId"))
    if tid is not None:
        process["thread"] = {"id": tid}
    integrity = INTEGRITY_LEVELS.get(g("IntegrityLevel") or "")
    if integrity:
        process["Ext"] = {"token": {"integrity_level_name": integrity}}
    reason = g("SuspiciousHandleOpenReason")
    if reason:
        event["reason"] = reason
    title = g("ServiceDisplayName")
    if title:
        process["title"] = title
    exit_code = to_int(g("ExitCode"))
    if exit_code is not None:
        process["exit_code"] = exit_code
    start_ms = epoch_ms(g("ProcessStartTime"))
    end_ms = epoch_ms(g("ProcessEndTime"))
    if start_ms is not None:
        process["start"] = format_ms(start_ms)
    if end_ms is not None:
        process["end"] = format_ms(end_ms)
    if start_ms is not None and end_ms is not None and end_ms >= start_ms:
        process["uptime"] = (end_ms - start_ms) // 1000
    if hashes and ("Process" in name or "Service" in name):
        process["hash"] = hashes
        hashes = {}
    return hashes


def _fdr_user(
    m: dict[str, Any], process: dict[str, Any], doc: dict[str, Any], related_user: list[str]
) -> None:
    g = m.get
    user: dict[str, Any] = {}
    uname = g("UserName")
    if uname:
        user["name"] = uname
        related_user.append(uname)
    gid = g("GID")
    if gid:
        user["group"] = {"id": gid}
        process["group"] = {"id": gid}
        doc["group"] = {"id": gid}
    rgid = g("RGID")
    if rgid:
        process["real_group"] = {"id": rgid}
        doc.setdefault("group", {})["Ext"] = {"real": {"id": rgid}}
    ruid = g("RUID")
    if ruid:
        process["real_user"] = {"id": ruid}
        user["Ext"] = {"real": {"id": ruid}}
    if g("UserIsAdmin") == "1":
        user["roles"] = ["admin"]
    principal = g("UserPrincipal")
    if principal:
        user["email"] = principal
        parts = principal.split("@")
        if len(parts) == 2:
            if parts[1]:
                user["domain"] = parts[1]
            if parts[0]:
                user["full_name"] = parts[0]
                _append(related_user, parts[0])
        _append(related_user, principal)
    uid = g("UID") or g("UserSid") or g("FileOperatorSid")
    if uid:
        user["id"] = uid
        _append(related_user, uid)
    if user:
        doc["user"] = user


def _fdr_network(
    m: dict[str, Any], doc: dict[str, Any], network: dict[str, Any], related_ip: list[str]
) -> None:
    """source/destination by ConnectionDirection (0 outbound, 1 inbound; default outbound)."""
    g = m.get
    direction = g("ConnectionDirection")
    local_ip = valid_ip(g("CurrentLocalIP")) or valid_ip(g("LocalIP"))
    local_ips: list[str] = []
    for key in ("LocalAddressIP4", "LocalAddressIP6"):
        v = g(key)
        if isinstance(v, str) and v:
            local_ips.extend(ip for ip in v.split() if valid_ip(ip))
    if local_ip is None and local_ips:
        local_ip = local_ips[0]
    remote_ip = valid_ip(g("RemoteAddressIP4")) or valid_ip(g("RemoteAddressIP6"))
    lport = to_int(g("LocalPort"))
    rport = to_int(g("RemotePort"))
    mac = g("MAC") or g("PhysicalAddress")
    if direction == "0":
        network["direction"] = "outbound"
    elif direction == "1":
        network["direction"] = "inbound"
    elif direction:
        network["direction"] = "unknown"
    local: dict[str, Any] = {}
    remote: dict[str, Any] = {}
    if local_ip:
        local["address"] = local["ip"] = local_ip
    if lport is not None:
        local["port"] = lport
    if mac and isinstance(mac, str):
        local["mac"] = mac.upper()
    if remote_ip:
        remote["address"] = remote["ip"] = remote_ip
    if rport is not None:
        remote["port"] = rport
    src, dst = (remote, local) if direction == "1" else (local, remote)
    if src:
        doc["source"] = src
    if dst:
        doc["destination"] = dst
    for ip in local_ips:
        _append(related_ip, ip)
    if "ip" in src:
        _append(related_ip, src["ip"])
    if "ip" in dst:
        _append(related_ip, dst["ip"])
    proto = g("Protocol")
    if proto is not None and proto != "":
        proto = str(proto)
        network["iana_number"] = proto
        transport = IANA_TRANSPORT.get(proto)
        if transport:
            network["transport"] = transport


def _fdr_file(m: dict[str, Any], name: str, doc: dict[str, Any]) -> None:
    """file.* from TargetFileName/SourceFileName (path, name, directory, extension, ...)."""
    g = m.get
    target = g("TargetFileName")
    source_name = g("SourceFileName")
    fpath = target or source_name
    file: dict[str, Any] = {}
    if fpath:
        file["path"] = fpath
        is_dir = "Directory" in name or fpath.endswith(("\\", "/"))
        file["type"] = "dir" if is_dir else "file"
        if len(fpath) > 1:
            p = fpath.rstrip("/\\") if is_dir else fpath
            idx = p.rfind("\\")
            if idx < 0:
                idx = p.rfind("/")
            if idx > -1:
                fname = p[idx + 1 :]
                file["name"] = fname
                file["directory"] = p[:idx]
                dot = fname.rfind(".")
                if dot > -1 and not is_dir:
                    file["extension"] = fname[dot + 1 :]
        if target and source_name:
            file["Ext"] = {"original": {"path": source_name, "name": basename(source_name)}}
    size = to_int(g("Size"))
    if size is not None:
        file["size"] = size
    inode = g("FileIdentifier")
    if inode:
        file["inode"] = inode
    device = g("DiskParentDeviceInstanceId")
    if device:
        file["device"] = device
    if file:
        doc["file"] = file


def _fdr_registry(m: dict[str, Any], doc: dict[str, Any], event: dict[str, Any]) -> None:
    g = m.get
    reg_key = g("RegObjectName")
    registry: dict[str, Any] = {"key": reg_key}
    value_name = g("RegValueName")
    registry["path"] = f"{reg_key}\\{value_name}" if value_name else reg_key
    if value_name:
        registry["value"] = value_name
    data = g("RegStringValue")
    if data:
        reg_data: dict[str, Any] = {"strings": [data]}
        rtype = REG_VALUE_TYPES.get(g("RegType") or "")
        if rtype:
            reg_data["type"] = rtype
        registry["data"] = reg_data
    doc["registry"] = registry
    action = REG_OPERATION_ACTION.get(g("RegOperationType") or "")
    if action:
        event["action"] = action


def _detection_fields(obj: dict[str, Any], doc: dict[str, Any], related_hash: list[str]) -> None:
    """Detection summary fields shared by FDR ExternalApi records (kept alongside crowdstrike.*)."""
    rule: dict[str, Any] = {}
    for src, dst in (
        ("DetectName", "name"),
        ("DetectId", "id"),
        ("DetectDescription", "description"),
    ):
        v = obj.get(src)
        if v:
            rule[dst] = v
    if rule:
        doc["rule"] = rule
    sev = severity_score(obj.get("Severity"), obj.get("SeverityName"))
    if sev is not None:
        doc["event"]["severity"] = sev
    threat: dict[str, Any] = {}
    if obj.get("Tactic"):
        threat["tactic"] = {"name": [obj["Tactic"]]}
    if obj.get("Technique"):
        threat["technique"] = {"name": [obj["Technique"]]}
    if threat:
        doc["threat"] = threat
    lip = valid_ip(obj.get("LocalIP"))
    if lip and "source" not in doc:
        doc["source"] = {"ip": lip, "address": lip}
    for key, _algo in _DETECT_HASH_KEYS:
        h = obj.get(key)
        if not empty_hash(h):
            _append(related_hash, h)


def severity_score(severity: Any, name: Any) -> int | None:
    """event.severity (0-100) from a Falcon Severity / SeverityName pair.

    Old detection summaries use Severity 1-5 with a name; EPP detections use 0-100 already.
    """
    if isinstance(name, str) and name:
        score = SEVERITY_NAME_SCORE.get(name.lower())
        if score is not None:
            return score
    n = to_int(severity) if not isinstance(severity, float) else int(severity)
    if n is None:
        return None
    if n > 5:
        return min(n, 100)
    return (0, 0, 21, 47, 73, 99)[max(n, 0)]


_native_failures = [0]


def _native_failed(e: BaseException) -> None:
    """Logs the first failure of the compiled mapping in full, then every 10,000th."""
    _native_failures[0] += 1
    n = _native_failures[0]
    if n == 1 or n % 10_000 == 0:
        logging.getLogger(__name__).warning(
            "compiled FDR mapping failed (%d so far); the Python mapping took the line: %s: %s",
            n,
            type(e).__name__,
            e,
            exc_info=n == 1,
        )


# At the end: falcon_stream reuses the helpers above (a cycle Python resolves at this point).
from . import falcon_plan  # noqa: E402
from .falcon_native import load_native  # noqa: E402
from .falcon_stream import normalize_stream  # noqa: E402

_native = load_native()
