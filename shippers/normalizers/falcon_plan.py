"""Fast path for FDR records: a per-layout "plan" compiled once, then reused.

FDR events of one `event_simpleName` come with the same keys in the same order, and in
practice every value is a string. `normalize_fdr` in falcon.py handles any record, but it
re-derives per event what only depends on the name and the key layout: which mapping
sections run, which keys leave crowdstrike.*, the categorization, which count fields to
convert. Here that is computed once per (name, keys) into a `Plan`; per event only the
value-dependent work remains.

The fast path is taken only for records whose values are all strings (checked at C speed
by the caller); anything else goes through the general `normalize_fdr`, which stays the
reference: `tests/unit/test_falcon_fastpath.py` asserts both produce identical documents.
Documents never share mutable objects: every dict and list placed in a document is created
per event (constants are copied), because sinks add fields to documents in place.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from hashlib import blake2b as _blake2b
from time import time as _now
from typing import Any

from .falcon import (
    _CONSUMED,
    _FILE_KEYS,
    _HASH_KEYS,
    _NETWORK_KEYS,
    _PROCESS_KEYS,
    _TIME_KEYS,
    _USER_KEYS,
    OBSERVER,
    _append,
    _detection_fields,
    _fdr_file,
    _fdr_registry,
    basename,
    valid_ip,
)
from .falcon import (
    ARGS_CACHE as _ARGS_CACHE,
)
from .falcon import (
    LONG_MAX as _LONG_MAX,
)
from .falcon import (
    LONG_MIN as _LONG_MIN,
)
from .falcon import (
    command_line_args as _args,
)
from .falcon_events import (
    CATEGORIZATION,
    DNS_TYPES,
    IANA_TRANSPORT,
    INTEGRITY_LEVELS,
    MODULE_LOAD_EVENTS,
    PLATFORM_OS,
)
from .falcon_time import _PAIR_CACHE, format_ms, time_pair

__all__ = ["Plan", "normalize_fdr_str", "specialize"]

# Distinct layouts are few (one or a handful per event type); the bound only guards memory
# against a feed whose keys vary wildly.
_MAX_PLANS = 4096
_PLANS: dict[tuple[str | None, tuple[str, ...]], Plan] = {}


class Plan:
    """What the mapping of one (event_simpleName, key layout) does, decided once."""

    __slots__ = (
        "action_override",
        "category",
        "count_keys",
        "event_tail",
        "file_hash",
        "has",
        "has_category",
        "has_cts",
        "has_name",
        "has_tags",
        "hash_keys",
        "hits",
        "host_related",
        "is_dns",
        "is_module_load",
        "is_smb_share",
        "name",
        "process_hash",
        "run",
        "run_detection",
        "run_file",
        "run_network",
        "run_process",
        "run_user",
        "time_keys",
        "type",
        "vendor_keys",
    )

    def __init__(self, name: str, keys: tuple[str, ...]) -> None:
        has = frozenset(keys)
        self.name = name
        self.has = has
        # crowdstrike.* is the record minus the keys the mapping moves into ECS.
        self.vendor_keys = tuple(k for k in keys if k not in _CONSUMED)
        # Vendor count fields become numbers (see vendor_value).
        self.count_keys = tuple(k for k in keys if k not in _CONSUMED and "Count" in k)
        self.time_keys = tuple(k for k in _TIME_KEYS if k in has)
        self.hash_keys = tuple((k, a) for k, a in _HASH_KEYS if k in has)
        self.host_related = tuple(k for k in ("LogonServer", "ClientComputerName") if k in has)
        self.run_process = not _PROCESS_KEYS.isdisjoint(has)
        self.run_user = not _USER_KEYS.isdisjoint(has)
        self.run_network = not _NETWORK_KEYS.isdisjoint(has)
        self.run_file = not _FILE_KEYS.isdisjoint(has)
        self.run_detection = "DetectName" in has or "SeverityName" in has
        self.has_name = bool(name)
        self.has_cts = "ContextTimeStamp" in has
        self.has_tags = "Tags" in has
        self.is_dns = "DnsRequest" in name
        self.is_smb_share = "SmbServerShareOpenedEtw" in name
        self.is_module_load = name in MODULE_LOAD_EVENTS
        self.process_hash = "Process" in name or "Service" in name
        self.file_hash = "File" in name or "Directory" in name or "Executable" in name
        if name.endswith("Written"):
            # Elastic's current pipeline names the operation for file-written events.
            self.action_override: str | None = "creation"
        elif name in ("DriverLoad", "KernelModeLoadImage"):
            self.action_override = "load"
        else:
            self.action_override = None
        # event.* fields that follow from the name alone, in document order. category and
        # type are replaced by fresh lists per document (tuples here, never shared).
        tail: dict[str, Any] = {}
        self.category: tuple[str, ...] = ()
        self.type: tuple[str, ...] = ()
        self.has_category = False
        if name:
            tail["action"] = name
            cat = CATEGORIZATION.get(name)
            if cat is None:
                tail["kind"] = "event"
            else:
                tail["kind"] = cat[0]
                self.has_category = True
                tail["category"] = self.category = cat[1]
                tail["type"] = self.type = cat[2]
                tail["outcome"] = cat[3]
        self.event_tail = tail
        # How documents of this layout are built: the generic `_mapped` until the layout has
        # been seen `_SPECIALIZE_AFTER` times, then its specialized copy (see `specialize`).
        self.run: Callable[..., tuple[dict[str, Any], str]] = _mapped
        self.hits = 0


_AIP_CACHE: dict[str, tuple[str, ...]] = {}


def _aip_ips(aip: str) -> tuple[str, ...]:
    """The valid addresses in an `aip` value (cached: a host reports the same aip all day)."""
    ips = _AIP_CACHE.get(aip)
    if ips is None:
        if len(_AIP_CACHE) > 8192:
            _AIP_CACHE.clear()
        ips = _AIP_CACHE[aip] = tuple(ip for ip in aip.split() if valid_ip(ip))
    return ips


def normalize_fdr_str(o: dict[str, str], line: bytes) -> tuple[dict[str, Any], str]:
    """One FDR record whose values are all strings → (ECS document, doc id).

    Same result as `normalize_fdr(o, line)`; the sections mirror it one for one.
    """
    name = o.get("event_simpleName") or ""
    pk = (name, tuple(o))
    p = _PLANS.get(pk)
    if p is None:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        p = _PLANS[pk] = Plan(name, pk[1])
    elif p.hits < _SPECIALIZE_AFTER:
        p.hits += 1
        if p.hits == _SPECIALIZE_AFTER:
            p.run = specialize(p)
    return p.run(o, line, name, p)


# --- the mapping, written against a plan -------------------------------------------------------
# These functions run as they are (the generic fast path) and also serve as the source that
# `specialize` compiles per layout. Conventions that specialization relies on: record fields
# are read only as `o.get("Literal")`, and plan decisions as `p.attribute`.


def _mapped(o: dict[str, str], line: bytes, name: str, p: Plan) -> tuple[dict[str, Any], str]:
    # --- crowdstrike.*: the record minus consumed keys, empty values dropped -------------------
    vkeys = p.vendor_keys
    # C-level copy of the vendor keys, in the record's order.
    cs = dict(zip(vkeys, map(o.__getitem__, vkeys), strict=True))
    if "" in cs.values():
        cs = {k: v for k, v in cs.items() if v}
    if p.count_keys:
        for k in p.count_keys:
            v = cs.get(k)
            if v is not None:
                # Only values Elasticsearch's long can hold become numbers (as vendor_value).
                n = _int(v)
                if n is not None:
                    cs[k] = n  # type: ignore[assignment]

    # --- time and identity -----------------------------------------------------------------
    tp = None
    for k in p.time_keys:
        v = o[k]
        if v:
            tp = _PAIR_CACHE.get(v) or time_pair(v)
            if tp is not None:
                break
    event: dict[str, Any] = {"module": "crowdstrike", "dataset": "crowdstrike.fdr"}
    observer = OBSERVER.copy()
    host: dict[str, Any] = {}
    if tp is None:
        # No usable time in the event: the time we saw it (as Elastic's _ingest.timestamp).
        ts = format_ms(int(_now() * 1000))
    else:
        ts = event["created"] = tp[1]
    doc: dict[str, Any] = {"event": event, "observer": observer, "host": host, "@timestamp": ts}
    eid, aid, cid = o.get("id"), o.get("aid"), o.get("cid")
    event["id"] = f"{eid or ''}|{aid or ''}|{cid or ''}"
    # content_id(line), inlined (the test suite pins the equality; see falcon.py for why).
    doc_id = _blake2b(line + b"\x1f", digest_size=16).hexdigest()
    if p.has_name:
        event.update(p.event_tail)
        doc["message"] = name
        if p.has_category:
            event["category"] = list(p.category)
            event["type"] = list(p.type)
    related_ip: list[str] = []
    related_user: list[str] = []
    related_hosts: list[str] = []
    related_hash: list[str] = []

    # --- observer / host ---------------------------------------------------------------------
    if aid:
        observer["serial_number"] = host["id"] = aid
    aip = o.get("aip")
    if aip:
        ips = _AIP_CACHE.get(aip) or _aip_ips(aip)
        if ips:
            observer["ip"] = list(ips)
            observer["address"] = list(ips)
            related_ip.extend(ips)
    build = o.get("ConfigBuild") or o.get("AgentVersion")
    if build:
        observer["version"] = build
    hostname = o.get("ComputerName") or o.get("hostname")
    if hostname:
        host["hostname"] = host["name"] = hostname
        related_hosts.append(hostname)
    domain = o.get("MachineDomain") or o.get("LogonDomain")
    if domain:
        host["domain"] = domain
    platform = o.get("event_platform")
    os_type = PLATFORM_OS.get(platform) if platform is not None else None
    if os_type:
        host["os"] = {"type": os_type}
    elif platform:
        cs["event_platform"] = platform
    osver = o.get("OSVersionString")
    if osver:
        host.setdefault("os", {})["version"] = osver
    sensor = o.get("SensorId") or aid
    if sensor:
        doc["device"] = {"id": sensor}

    # --- hashes (all-zero means absent) --------------------------------------------------------
    hashes: dict[str, str] = {}
    if p.hash_keys:
        for k, algo in p.hash_keys:
            h = o[k]
            if h and h.strip("0"):
                hashes[algo] = h
                related_hash.append(h)
    csh = o.get("ConfigStateHash")
    if csh:
        related_hash.append(csh)

    # --- process / user --------------------------------------------------------------------------
    process: dict[str, Any] = {}
    if p.run_process:
        hashes = _process(o, p, os_type, process, event, doc, hashes)
    if p.run_user:
        _user(o, process, doc, related_user)
    if p.host_related:
        for k in p.host_related:
            v = o[k]
            if v:
                _append(related_hosts, v)

    # --- network / DNS -------------------------------------------------------------------------
    network: dict[str, Any] = {}
    if p.run_network:
        _network(o, doc, network, related_ip)
    if p.is_dns:
        dns: dict[str, Any] = {"type": "query"}
        question: dict[str, Any] = {}
        qname = o.get("DomainName")
        if qname:
            question["name"] = qname
        rtype = o.get("RequestType")
        qtype = DNS_TYPES.get(rtype or "")
        if qtype:
            question["type"] = qtype
        elif rtype:
            cs["RequestType"] = rtype
        if question:
            dns["question"] = question
        doc["dns"] = dns
        network["protocol"] = "dns"
    else:
        dom = o.get("DomainName")
        if dom:
            if p.is_smb_share:
                doc.setdefault("destination", {})["domain"] = dom
            else:
                cs["DomainName"] = dom
    if network:
        doc["network"] = network

    # --- file ----------------------------------------------------------------------------------
    if p.run_file:
        _fdr_file(o, name, doc)
    if hashes:
        if p.file_hash:
            doc.setdefault("file", {})["hash"] = hashes
        else:
            # Hashes of an event family Elastic does not place: keep them in crowdstrike.*
            for k, algo in _HASH_KEYS:
                if algo in hashes:
                    cs[k] = hashes[algo]

    # --- registry / action / detection ----------------------------------------------------------
    if o.get("RegObjectName"):
        _fdr_registry(o, doc, event)
    if p.action_override:
        event["action"] = p.action_override
    if p.run_detection:
        _detection_fields(o, doc, related_hash)

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

    if p.has_cts:
        # ContextTimeStamp stays in crowdstrike.* but as a date, like Elastic's pipeline.
        cts = cs.get("ContextTimeStamp")
        if cts:
            tp = _PAIR_CACHE.get(cts) or time_pair(cts)
            if tp is not None:
                cs["ContextTimeStamp"] = tp[1]
    if p.has_tags:
        tags = cs.get("Tags")
        if tags:
            cs["Tags"] = [t.strip() for t in tags.split(",") if t.strip()]  # type: ignore[assignment]
    doc["crowdstrike"] = cs
    return doc, doc_id


def _int(v: str | None) -> int | None:
    """An integer that fits Elasticsearch's long, else None (see falcon.to_int)."""
    if v:
        try:
            n = int(v)
        except ValueError:
            return None
        return n if _LONG_MIN <= n <= _LONG_MAX else None
    return None


def _process(
    o: dict[str, str],
    p: Plan,
    os_type: str | None,
    process: dict[str, Any],
    event: dict[str, Any],
    doc: dict[str, Any],
    hashes: dict[str, str],
) -> dict[str, str]:
    """process.* (and dll.* for module loads), as `_fdr_process`; returns unplaced hashes."""
    cmd = o.get("CommandLine")
    if cmd:
        process["command_line"] = cmd
        if os_type:
            cached = _ARGS_CACHE.get(cmd)
            args = list(cached) if cached is not None else _args(cmd)
            process["args"] = args
            process["args_count"] = len(args)
    image = o.get("ImageFileName") or o.get("ContextImageFileName")
    if p.is_module_load:
        if image:
            dll: dict[str, Any] = {"path": image, "name": basename(image)}
            if hashes:
                dll["hash"] = hashes
                hashes = {}
            ofn = o.get("OriginalFilename")
            if ofn:
                dll["pe"] = {"original_file_name": ofn}
            doc["dll"] = dll
        image = o.get("TargetImageFileName")
    if image:
        process["executable"] = image
        pname = basename(image)
        if not pname and process.get("args"):
            pname = process["args"][0].replace("\\", "/").rsplit("/", 1)[-1]
        if pname:
            process["name"] = pname
    ctx_name = o.get("ContextBaseFileName")
    if ctx_name:
        process["name"] = ctx_name
    # Fields are tested before parsing so that, specialized, absent ones cost nothing.
    pid = _int(o.get("RawProcessId")) if o.get("RawProcessId") else None
    if pid is None and o.get("EtwRawProcessId"):
        pid = _int(o.get("EtwRawProcessId"))
    if pid is not None:
        process["pid"] = pid
    entity = o.get("TargetProcessId") or o.get("ContextProcessId")
    if entity:
        process["entity_id"] = entity
    ppid = o.get("ParentProcessId")
    pbase = o.get("ParentBaseFileName")
    if ppid or pbase:
        parent: dict[str, Any] = {}
        if ppid:
            parent["entity_id"] = ppid
        if pbase:
            parent["name"] = pbase
        process["parent"] = parent
    pgid = o.get("ProcessGroupId")
    if pgid:
        n = _int(pgid)
        if n is not None:
            process["pgid"] = n
            process["group_leader"] = {"entity_id": pgid}
    tid = _int(o.get("ContextThreadId")) if o.get("ContextThreadId") else None
    if tid is None and o.get("EtwRawThreadId"):
        tid = _int(o.get("EtwRawThreadId"))
    if tid is not None:
        process["thread"] = {"id": tid}
    integrity = INTEGRITY_LEVELS.get(o.get("IntegrityLevel") or "")
    if integrity:
        process["Ext"] = {"token": {"integrity_level_name": integrity}}
    reason = o.get("SuspiciousHandleOpenReason")
    if reason:
        event["reason"] = reason
    title = o.get("ServiceDisplayName")
    if title:
        process["title"] = title
    if o.get("ExitCode"):
        exit_code = _int(o.get("ExitCode"))
        if exit_code is not None:
            process["exit_code"] = exit_code
    start = o.get("ProcessStartTime")
    end = o.get("ProcessEndTime")
    if start or end:
        st = (_PAIR_CACHE.get(start) or time_pair(start)) if start else None
        et = (_PAIR_CACHE.get(end) or time_pair(end)) if end else None
        if st is not None:
            process["start"] = st[1]
        if et is not None:
            process["end"] = et[1]
        if st is not None and et is not None and et[0] >= st[0]:
            process["uptime"] = (et[0] - st[0]) // 1000
    if hashes and p.process_hash:
        process["hash"] = hashes
        hashes = {}
    return hashes


def _user(
    o: dict[str, str], process: dict[str, Any], doc: dict[str, Any], related_user: list[str]
) -> None:
    """user.* / group.*, as `_fdr_user`."""
    user: dict[str, Any] = {}
    uname = o.get("UserName")
    if uname:
        user["name"] = uname
        related_user.append(uname)
    gid = o.get("GID")
    if gid:
        user["group"] = {"id": gid}
        process["group"] = {"id": gid}
        doc["group"] = {"id": gid}
    rgid = o.get("RGID")
    if rgid:
        process["real_group"] = {"id": rgid}
        doc.setdefault("group", {})["Ext"] = {"real": {"id": rgid}}
    ruid = o.get("RUID")
    if ruid:
        process["real_user"] = {"id": ruid}
        user["Ext"] = {"real": {"id": ruid}}
    if o.get("UserIsAdmin") == "1":
        user["roles"] = ["admin"]
    principal = o.get("UserPrincipal")
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
    uid = o.get("UID") or o.get("UserSid") or o.get("FileOperatorSid")
    if uid:
        user["id"] = uid
        _append(related_user, uid)
    if user:
        doc["user"] = user


def _network(
    o: dict[str, str], doc: dict[str, Any], network: dict[str, Any], related_ip: list[str]
) -> None:
    """source/destination, as `_fdr_network` (ConnectionDirection 0 outbound, 1 inbound)."""
    direction = o.get("ConnectionDirection")
    local_ip = valid_ip(o.get("CurrentLocalIP")) or valid_ip(o.get("LocalIP"))
    local_ips: list[str] = []
    v = o.get("LocalAddressIP4")
    if v:
        local_ips.extend(ip for ip in v.split() if valid_ip(ip))
    v = o.get("LocalAddressIP6")
    if v:
        local_ips.extend(ip for ip in v.split() if valid_ip(ip))
    if local_ip is None and local_ips:
        local_ip = local_ips[0]
    remote_ip = valid_ip(o.get("RemoteAddressIP4")) or valid_ip(o.get("RemoteAddressIP6"))
    lport = _int(o.get("LocalPort")) if o.get("LocalPort") else None
    rport = _int(o.get("RemotePort")) if o.get("RemotePort") else None
    mac = o.get("MAC") or o.get("PhysicalAddress")
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
    if mac:
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
    proto = o.get("Protocol")
    if proto:
        network["iana_number"] = proto
        transport = IANA_TRANSPORT.get(proto)
        if transport:
            network["transport"] = transport


# --- specialization ------------------------------------------------------------------------------
# A layout seen this often gets its own compiled copy of the functions above (the first
# sightings run the generic code, so a feed of ever-changing layouts never pays for compiles).
_SPECIALIZE_AFTER = 4
_TEMPLATES = (_mapped, _process, _user, _network)
_GET = re.compile(r'\bo\.get\("(\w+)"\)')
_ATTR = re.compile(r"\bp\.(\w+)\b")
_SOURCE: str | None = None


def _template_source() -> str | None:
    """Source of the template functions, or None where no source ships (then no specializing)."""
    global _SOURCE
    if _SOURCE is None:
        try:
            _SOURCE = "\n\n".join(inspect.getsource(f) for f in _TEMPLATES)
        except (OSError, TypeError):
            _SOURCE = ""
    return _SOURCE or None


def specialize(p: Plan) -> Callable[..., tuple[dict[str, Any], str]]:
    """`_mapped` compiled for one layout: plan flags become constants, absent fields `None`.

    The compiler drops `if False:`/`if None:` blocks, so per event only the branches this
    layout can take remain. Only literal field names of the templates (never input keys)
    reach the compiled text.
    """
    src = _template_source()
    if src is None:
        return _mapped
    has = p.has

    def field(m: re.Match[str]) -> str:
        return f'o["{m.group(1)}"]' if m.group(1) in has else "None"

    def decision(m: re.Match[str]) -> str:
        value = getattr(p, m.group(1))
        return repr(value) if value is None or isinstance(value, bool) else m.group(0)

    src = "from __future__ import annotations\n" + _ATTR.sub(decision, _GET.sub(field, src))
    namespace = dict(globals())
    exec(compile(src, f"<falcon plan {p.name or '-'}>", "exec"), namespace)
    fn: Callable[..., tuple[dict[str, Any], str]] = namespace["_mapped"]
    return fn
