"""Falcon event stream events (`{"metadata": {...}, "event": {...}}`) → ECS.

Event types follow the Falcon Event Streams API (see shared reference falcon-event-streams
§4–§6) and Elastic's `crowdstrike.falcon` pipelines. The stream offset is kept as a number
at `crowdstrike.offset` so the stream source can checkpoint from delivered documents; the
document id derives from cid + offset + eventType, which is unique per customer stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ParseError
from ..record import content_id
from .falcon import _append, empty_hash, severity_score, to_int, valid_ip, vendor_fields
from .falcon_time import epoch_ms, format_ms, to_iso

__all__ = ["normalize_stream"]

OBSERVER: dict[str, Any] = {"vendor": "Crowdstrike", "product": "Falcon", "type": "agent"}

_HASHES = (("MD5String", "md5"), ("SHA1String", "sha1"), ("SHA256String", "sha256"))
_AUTH_OPERATIONS = {"userAuthenticate", "twoFactorAuthenticate"}


def _ts(value: Any) -> str | None:
    """Stream times are epoch s or ms; Elastic decides by the digit count, so does epoch_ms."""
    return to_iso(value) if value not in (None, "", 0) else None


def _detection(ev: dict[str, Any], doc: dict[str, Any], related: dict[str, list[str]]) -> None:
    event = doc["event"]
    event.update(kind="alert", category=["malware"], type=["info"])
    pop = ev.pop
    rule: dict[str, Any] = {}
    name = pop("DetectName", None) or pop("Name", None)
    if name:
        rule["name"] = name
    rid = pop("DetectId", None) or ev.get("CompositeId")
    if rid:
        rule["id"] = rid
    desc = pop("DetectDescription", None) or pop("Description", None)
    if desc:
        rule["description"] = desc
        doc["message"] = desc
    if rule:
        doc["rule"] = rule
    sev = severity_score(ev.get("Severity"), ev.get("SeverityName"))
    if sev is not None:
        event["severity"] = sev
    action = pop("PatternDispositionDescription", None)
    if action:
        event["action"] = action
    link = pop("FalconHostLink", None)
    if link:
        event["reference"] = link
    host = doc["host"]
    hname = pop("ComputerName", None) or pop("Hostname", None)
    if hname:
        host["name"] = hname
        related["hosts"].append(hname)
    hid = ev.get("SensorId") or ev.get("AgentId")
    if hid:
        host["id"] = hid
    domain = pop("MachineDomain", None) or ev.get("LogonDomain")
    if domain:
        host["domain"] = domain
    mac = ev.get("MACAddress") or ev.get("MacAddress")
    if mac:
        host["mac"] = [mac.upper()]
    lip = valid_ip(ev.get("LocalIP"))
    if lip:
        pop("LocalIP")
        doc["source"] = {"ip": lip, "address": lip}
        related["ip"].append(lip)
    uname = pop("UserName", None)
    if uname:
        doc["user"] = {"name": uname}
        related["user"].append(uname)

    process: dict[str, Any] = {}
    pid = to_int(pop("ProcessId", None))
    if pid is not None:
        process["pid"] = pid
    cmd = pop("CommandLine", None)
    if cmd:
        process["command_line"] = cmd
    fname = ev.get("FileName")
    if fname:
        process["name"] = fname
    start = _ts(pop("ProcessStartTime", None))
    if start:
        process["start"] = start
    end = _ts(pop("ProcessEndTime", None))
    if end:
        process["end"] = end
    parent: dict[str, Any] = {}
    ppid = to_int(pop("ParentProcessId", None))
    if ppid is not None:
        parent["pid"] = ppid
    pexe = pop("ParentImageFileName", None) or pop("ParentImageFilePath", None)
    if pexe:
        parent["executable"] = pexe
    pcmd = pop("ParentCommandLine", None)
    if pcmd:
        parent["command_line"] = pcmd
    if parent:
        process["parent"] = parent
    if process:
        doc["process"] = process

    file: dict[str, Any] = {}
    if fname:
        pop("FileName")
        file["name"] = fname
    fpath = pop("FilePath", None)
    if fpath:
        file["path"] = fpath
    hashes = {}
    for key, algo in _HASHES:
        h = pop(key, None)
        if not empty_hash(h):
            hashes[algo] = h
            _append(related["hash"], h)
    if hashes:
        file["hash"] = hashes
    if file:
        doc["file"] = file

    threat: dict[str, Any] = {}
    tactics: list[str] = []
    techniques: list[str] = []
    tactic_ids: list[str] = []
    technique_ids: list[str] = []
    if ev.get("Tactic"):
        tactics.append(ev["Tactic"])
    if ev.get("Technique"):
        techniques.append(ev["Technique"])
    for item in ev.get("MitreAttack") or ():
        if not isinstance(item, dict):
            continue
        for src, dst in (("Tactic", tactics), ("Technique", techniques)):
            v = item.get(src)
            if v:
                _append(dst, v)
        for src, dst in (("TacticID", tactic_ids), ("TechniqueID", technique_ids)):
            v = item.get(src)
            if v:
                _append(dst, v)
    if tactics or tactic_ids:
        threat["tactic"] = {k: v for k, v in (("name", tactics), ("id", tactic_ids)) if v}
    if techniques or technique_ids:
        threat["technique"] = {k: v for k, v in (("name", techniques), ("id", technique_ids)) if v}
    if threat:
        threat["framework"] = "MITRE ATT&CK"
        doc["threat"] = threat


def _incident(ev: dict[str, Any], doc: dict[str, Any], related: dict[str, list[str]]) -> None:
    event = doc["event"]
    event.update(kind="alert", category=["threat"], type=["indicator"])
    start = _ts(ev.get("IncidentStartTime"))
    if start:
        event["start"] = start
    end = _ts(ev.get("IncidentEndTime"))
    if end:
        event["end"] = end
    link = ev.pop("FalconHostLink", None)
    if link:
        event["reference"] = link
    score = ev.get("FineScore")
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        event["risk_score"] = float(score)
    hid = ev.get("HostID")
    if hid:
        doc["host"]["id"] = hid


def _audit(category: str, types: list[str]) -> Callable[..., None]:
    def handler(ev: dict[str, Any], doc: dict[str, Any], related: dict[str, list[str]]) -> None:
        event = doc["event"]
        op = ev.pop("OperationName", None)
        cat = "authentication" if op in _AUTH_OPERATIONS else category
        event.update(kind="event", category=[cat], type=list(types))
        if cat == "authentication":
            event["type"] = ["start"] if op else ["info"]
        if op:
            event["action"] = op
        success = ev.pop("Success", None)
        if success is True:
            event["outcome"] = "success"
        elif success is False:
            event["outcome"] = "failure"
        user = ev.pop("UserId", None)
        if user:
            doc["user"] = {"name": user}
            related["user"].append(user)
            if user.count("@") == 1:
                doc["user"]["email"] = user
        ip = valid_ip(ev.get("UserIp"))
        if ip:
            ev.pop("UserIp")
            doc["source"] = {"ip": ip, "address": ip}
            related["ip"].append(ip)
        svc = ev.get("ServiceName")
        if svc:
            doc["message"] = svc
        created = _ts(ev.get("UTCTimestamp"))
        if created:
            event["created"] = created

    return handler


def _remote_response(kind: str) -> Callable[..., None]:
    def handler(ev: dict[str, Any], doc: dict[str, Any], related: dict[str, list[str]]) -> None:
        event = doc["event"]
        event.update(kind="event", category=["session"], type=[kind])
        user = ev.pop("UserName", None)
        if user:
            doc["user"] = {"name": user}
            related["user"].append(user)
        hname = ev.pop("HostnameField", None)
        if hname:
            doc["host"]["name"] = hname
            related["hosts"].append(hname)
        for key, field in (("StartTimestamp", "start"), ("EndTimestamp", "end")):
            ts = _ts(ev.get(key))
            if ts:
                event[field] = ts

    return handler


# eventType (lower-cased: the stream spells EppDetectionSummaryEvent both ways) → handler
HANDLERS: dict[str, Callable[[dict[str, Any], dict[str, Any], dict[str, list[str]]], None]] = {
    "detectionsummaryevent": _detection,
    "eppdetectionsummaryevent": _detection,
    "incidentsummaryevent": _incident,
    "authactivityauditevent": _audit("iam", ["info"]),
    "useractivityauditevent": _audit("iam", ["change"]),
    "remoteresponsesessionstartevent": _remote_response("start"),
    "remoteresponsesessionendevent": _remote_response("end"),
}


def normalize_stream(obj: dict[str, Any], line: bytes) -> tuple[dict[str, Any], str]:
    """One event stream event → (ECS document, doc id)."""
    md: dict[str, Any] = obj["metadata"]
    ev: dict[str, Any] = obj["event"]
    etype = md.get("eventType")
    if not isinstance(etype, str) or not etype:
        raise ParseError("stream event without metadata.eventType")
    raw_offset = md.get("offset")
    offset = to_int(raw_offset)
    if raw_offset is not None and offset is None:
        # The offset is the stream's checkpoint: a document we could not place must not pass.
        raise ParseError(f"stream event with a non-integer metadata.offset: {raw_offset!r}")
    cid = md.get("customerIDString") or ""
    event: dict[str, Any] = {
        "module": "crowdstrike",
        "dataset": "crowdstrike.falcon",
        "kind": "event",
        "action": etype,
    }
    doc: dict[str, Any] = {"event": event, "observer": dict(OBSERVER), "host": {}}
    ms = epoch_ms(md.get("eventCreationTime"))
    if ms is None:
        import time

        doc["@timestamp"] = format_ms(int(time.time() * 1000))
    else:
        doc["@timestamp"] = format_ms(ms)
    if offset is not None:
        event["id"] = f"{cid}|{offset}|{etype}"
        doc_id = content_id(event["id"])
    else:
        doc_id = content_id(line)
    event["code"] = etype
    related: dict[str, list[str]] = {"ip": [], "user": [], "hosts": [], "hash": []}
    handler = HANDLERS.get(etype.lower())
    if handler is not None:
        handler(ev, doc, related)
    if not doc["host"]:
        del doc["host"]
    rel = {k: v for k, v in related.items() if v}
    if rel:
        doc["related"] = rel
    cs: dict[str, Any] = {"event": vendor_fields(ev), "metadata": vendor_fields(md)}
    if offset is not None:
        cs["offset"] = offset
    doc["crowdstrike"] = cs
    return doc, doc_id
