# ruff: noqa: E501  (synthetic PAN-OS records and their expectations read best one per line)
"""Unit tests of the PAN-OS normalizer, its syslog header parser and its CSV split.

Lines for types without corpus samples are built from the positions in
shared/reference/panos-syslog-fields.md (written out here by hand, not read back from the
normalizer's own tables, so a wrong table entry fails a test).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shippers.errors import ConfigError, ParseError
from shippers.normalizers.csvsplit import split_csv
from shippers.normalizers.panos import PanosNormalizer
from shippers.plugin import NormalizerOptions
from shippers.registry import lookup
from shippers.syslog_header import parse_syslog

TRAFFIC_81 = (
    "1,2018/11/30 16:09:07,012801096514,TRAFFIC,end,2049,2018/11/30 16:09:07,192.168.15.207,"
    "175.16.199.1,192.168.1.63,175.16.199.1,new_outbound_from_trust,,,apple-maps,vsys1,trust,"
    "untrust,ethernet1/2,ethernet1/1,send_to_mac,2018/11/30 16:09:07,22751,1,55113,443,16418,"
    "443,0x400053,tcp,allow,7734,1758,5976,36,2018/11/30 15:59:04,586,computer-and-internet-info,"
    "0,32091112,0x0,192.168.0.0-192.168.255.255,United States,0,16,20,tcp-fin,0,0,0,0,,PA-220,"
    "from-policy,,,0,,0,,N/A,0,0,0,0"
)


def norm(tz: str = "UTC", keep_original: bool = False) -> PanosNormalizer:
    return PanosNormalizer(NormalizerOptions(tz=tz, keep_original=keep_original))


def build(
    width: int,
    values: dict[int, str],
    log_type: str,
    subtype: str = "0",
    config_version: str = "2561",
) -> str:
    """A CSV record of `width` columns: header H, then `values` at their positions."""
    cols = [""] * width
    cols[:7] = [
        "1",
        "2024/03/10 01:30:00",
        "007051000123456",
        log_type,
        subtype,
        config_version,
        "2024/03/10 01:29:59",
    ]
    for pos, value in values.items():
        cols[pos] = value
    return ",".join(cols)


def flat(doc: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in doc.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict) and k != "labels":
            out.update(flat(v, key))
        else:
            out[key] = v
    return out


def run(line: str, **kw) -> tuple[dict, str]:
    doc, doc_id = norm(**kw).normalize(line.encode())
    return flat(doc), doc_id


# ---- syslog header -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "fmt", "host", "pri"),
    [
        (TRAFFIC_81, "none", None, None),
        (f"Nov 30 16:09:08 PA-220 {TRAFFIC_81}", "rfc3164", "PA-220", None),
        (f"<14>Nov  3 16:09:08 fw-01 {TRAFFIC_81}", "rfc3164", "fw-01", 14),
        (f"Nov 30 16:09:08 {TRAFFIC_81}", "rfc3164", None, None),
        (
            f"<165>1 2018-11-30T16:09:08.123Z fw-01.example.com - - - - {TRAFFIC_81}",
            "rfc5424",
            "fw-01.example.com",
            165,
        ),
        (
            f'<165>1 2018-11-30T16:09:08Z fw-01 pan 12 TRAFFIC [x@1 a="b\\]c"] {TRAFFIC_81}',
            "rfc5424",
            "fw-01",
            165,
        ),
        (
            f"<14>1 2021-10-22T16:10:10.000Z stream-logfwd - panwlogs - {TRAFFIC_81}",
            "rfc5424",
            "stream-logfwd",
            14,
        ),
        (f"- panwlogs - {TRAFFIC_81}", "none", None, None),
    ],
)
def test_header_variants_yield_the_same_payload(
    line: str, fmt: str, host: str | None, pri: int | None
) -> None:
    hdr = parse_syslog(line)
    assert hdr.payload == TRAFFIC_81
    assert hdr.format == fmt
    assert hdr.hostname == host
    assert hdr.priority == pri


def test_octet_counted_5424() -> None:
    msg = f"<14>1 2018-11-30T16:09:08+01:00 fw-01 - - - - {TRAFFIC_81}"
    hdr = parse_syslog(f"{len(msg.encode())} {msg}")
    assert hdr.octet_count == len(msg.encode())
    assert hdr.format == "rfc5424" and hdr.payload == TRAFFIC_81
    assert hdr.facility == 1 and hdr.severity == 6
    assert hdr.timestamp_utc() is not None and hdr.timestamp_utc().hour == 15  # type: ignore[union-attr]


def test_header_does_not_change_doc_or_id() -> None:
    base, base_id = run(TRAFFIC_81)
    for line in (
        f"Nov 30 16:09:08 PA-220 {TRAFFIC_81}",
        f"230 <14>1 2018-11-30T16:09:08Z relay - panwlogs - {TRAFFIC_81}",
    ):
        doc, doc_id = run(line)
        assert doc_id == base_id
        for key in ("@timestamp", "source.ip", "destination.port", "event.action", "network.bytes"):
            assert doc[key] == base[key]
    doc, _ = run(f"<14>1 2018-11-30T16:09:08Z relay app - - - {TRAFFIC_81}")
    assert doc["log.syslog.hostname"] == "relay" and doc["log.syslog.appname"] == "app"
    assert doc["log.syslog.priority"] == 14 and doc["log.syslog.facility.code"] == 1
    assert doc["observer.hostname"] == "PA-220"  # the device name wins over the relay


# ---- CSV split ---------------------------------------------------------------------------


def test_split_fast_path_and_quotes() -> None:
    assert split_csv("a,b,,c") == ["a", "b", "", "c"]
    assert split_csv('a,"b,c",d') == ["a", "b,c", "d"]
    assert split_csv('a,"say ""hi"", ok",d') == ["a", 'say "hi", ok', "d"]
    assert split_csv('a,""') == ["a", ""]


def test_split_brace_lists_and_mid_field_quotes() -> None:
    assert split_csv("a,{l1,tag,ethernet1/1,1},z") == ["a", "{l1,tag,ethernet1/1,1}", "z"]
    assert split_csv('a,{x,"y,}",z},q') == ["a", '{x,"y,}",z}', "q"]
    assert split_csv('a,Some-Header:"eg1.com, eg2.com";,z') == [
        "a",
        'Some-Header:"eg1.com, eg2.com";',
        "z",
    ]
    # Unbalanced: literal characters, the split goes on.
    assert split_csv('a,"open,z') == ["a", '"open', "z"]
    assert split_csv("a,{open,z") == ["a", "{open", "z"]


def test_mid_field_quotes_keep_later_columns(corpus: Path) -> None:
    lines = (corpus / "panw-panos" / "test-panw-panos-threat-sample.log").read_text().splitlines()
    line = next(ln for ln in lines if "Another-Header" in ln)
    doc, _ = norm().normalize(line.encode())
    assert (
        doc["panw"]["panos"]["http_headers"]
        == 'Some-Header:"eg1.com, eg2.com"; Another-Header:"eg3.com, eg4.com";'
    )
    assert doc["panw"]["panos"]["payload_protocol_id"] == "4294967295"
    assert doc["url"]["original"] == "segment-data.zqtk.net/"


def test_traffic_link_switches_brace_list() -> None:
    link = "{link1,tag1,ethernet,ethernet1/1,2024/03/10 01:00:00,10,20,good,none}"
    line = build(
        117,
        {
            7: "10.0.0.1",
            8: "8.8.8.8",
            24: "5000",
            25: "53",
            29: "udp",
            30: "allow",
            39: "42",
            69: link,
            116: "clu1",
        },
        "TRAFFIC",
        "end",
    )
    doc, _ = run(line)
    assert doc["panw.panos.link_switches"] == link
    assert doc["panw.panos.cluster_name"] == "clu1"
    assert doc["destination.port"] == 53


# ---- log types ---------------------------------------------------------------------------


def test_traffic_fields() -> None:
    doc, doc_id = run(f"Nov 30 16:09:08 PA-220 {TRAFFIC_81}", tz="-05:00")
    assert doc["@timestamp"] == "2018-11-30T21:09:07.000Z"
    assert doc["event.created"] == "2018-11-30T21:09:07.000Z"
    assert doc["event.start"] == "2018-11-30T20:59:04.000Z"
    assert doc["event.duration"] == 586_000_000_000
    assert doc["event.end"] == "2018-11-30T21:08:50.000Z"
    assert doc["event.timezone"] == "-05:00"
    assert doc["source.ip"] == "192.168.15.207" and doc["source.port"] == 55113
    assert doc["source.nat.ip"] == "192.168.1.63" and doc["source.nat.port"] == 16418
    assert doc["destination.ip"] == "175.16.199.1" and doc["destination.port"] == 443
    assert (doc["network.bytes"], doc["source.bytes"], doc["destination.bytes"]) == (
        7734,
        1758,
        5976,
    )
    assert (doc["network.packets"], doc["source.packets"], doc["destination.packets"]) == (
        36,
        16,
        20,
    )
    assert doc["network.transport"] == "tcp" and doc["network.application"] == "apple-maps"
    assert doc["observer.ingress.zone"] == "trust" and doc["observer.egress.zone"] == "untrust"
    assert doc["observer.ingress.interface.name"] == "ethernet1/2"
    assert doc["observer.egress.interface.name"] == "ethernet1/1"
    assert doc["observer.serial_number"] == "012801096514" and doc["observer.hostname"] == "PA-220"
    assert doc["rule.name"] == "new_outbound_from_trust"
    assert doc["event.action"] == "flow_terminated"
    assert sorted(doc["event.type"]) == ["allowed", "connection", "end"]
    assert doc["event.outcome"] == "success" and doc["event.kind"] == "event"
    assert doc["event.category"] == ["network"]
    assert doc["event.module"] == "panw" and doc["event.dataset"] == "panw.panos"
    assert doc["observer.type"] == "firewall" and doc["observer.product"] == "PAN-OS"
    assert doc["labels"] == {"nat_translated": True}
    assert set(doc["related.ip"]) == {"192.168.15.207", "175.16.199.1", "192.168.1.63"}
    assert doc["related.hosts"] == ["PA-220"]
    assert doc["panw.panos.session_end_reason"] == "tcp-fin"
    assert doc["panw.panos.sequence_number"] == "32091112"
    assert all(isinstance(v, str) for k, v in doc.items() if k.startswith("panw.panos."))
    assert "event.original" not in doc
    # Same payload → same id; a different event with the same sequence number → another id.
    assert run(TRAFFIC_81)[1] == doc_id
    assert run(TRAFFIC_81.replace(",586,", ",587,"))[1] != doc_id


def test_traffic_deny_and_nat_removal() -> None:
    line = build(
        65,
        {
            7: "10.0.0.1",
            8: "2001:db8::1",
            9: "0.0.0.0",
            10: "0.0.0.0",
            26: "0",
            27: "0",
            24: "1",
            25: "2",
            29: "TCP",
            30: "reset both",
            39: "7",
        },
        "TRAFFIC",
        "deny",
    )
    doc, _ = run(line)
    assert "source.nat.ip" not in doc and "destination.nat.port" not in doc
    assert doc["panw.panos.action"] == "reset-both"
    assert doc["event.action"] == "flow_denied" and sorted(doc["event.type"]) == [
        "connection",
        "denied",
    ]
    assert doc["event.outcome"] == "failure" and doc["network.transport"] == "tcp"
    assert doc["destination.ip"] == "2001:db8::1"


THREAT_BASE = {
    7: "10.1.1.1",
    8: "203.0.113.9",
    11: "rule-a",
    12: "corp\\alice",
    13: "bob@example.com",
    24: "51000",
    25: "80",
    29: "tcp",
    36: "9001",
}


@pytest.mark.parametrize(
    ("subtype", "misc", "threat", "action", "expect"),
    [
        ("url", "www.example.com:8080/a/b.php?x=1", "(9999)", "block-url",
         {"url.domain": "www.example.com", "url.port": 8080, "url.path": "/a/b.php", "url.query": "x=1", "url.extension": "php", "event.action": "url_filtering"}),
        ("file", "C:\\dir\\evil.exe", "PE File Detection(52020)", "alert", {"file.path": "C:\\dir\\evil.exe", "file.name": "evil.exe", "event.action": "file_match"}),
        ("virus", "evil.pdf", "Virus/Win32.x(123)", "reset-both", {"file.name": "evil.pdf", "event.action": "virus_detected"}),
        ("vulnerability", "host.example.org/cgi-bin/x", "Exploit X(33000)", "drop", {"url.domain": "host.example.org", "event.action": "exploit_detected"}),
        ("vulnerability", "payload.bin", "Exploit Y(33001)", "alert", {"file.name": "payload.bin"}),
        ("spyware", "", "Bad C2(86000)", "sinkhole", {"event.action": "spyware_detected"}),
        ("wildfire", "sample.doc", "Windows PE(52001)", "allow", {"event.action": "wildfire_verdict"}),
        ("data", "report.xlsx", "CC numbers(60001)", "alert", {"event.action": "data_match"}),
    ],
)  # fmt: skip
def test_threat_subtypes(subtype: str, misc: str, threat: str, action: str, expect: dict) -> None:
    values = {
        **THREAT_BASE,
        30: action,
        31: misc,
        32: threat,
        34: "critical",
        35: "server-to-client",
        43: "a" * 64,
        47: "pe",
        49: "http://ref.example/",
        63: "get",
        77: "1",
    }
    doc, _ = run(build(79, values, "THREAT", subtype))
    for key, value in expect.items():
        assert doc[key] == value, key
    if subtype == "vulnerability" and "file.name" in doc:
        assert not any(k.startswith("url.") for k in doc)
    assert doc["event.kind"] == "alert"
    assert sorted(doc["event.category"]) == ["intrusion_detection", "network", "threat"]
    assert doc["event.outcome"] == (
        "success" if action in ("alert", "allow", "continue") else "failure"
    )
    assert doc["event.severity"] == 1 and doc["log.level"] == "critical"
    assert doc["network.direction"] == "outbound"
    assert doc["source.user.domain"] == "corp" and doc["source.user.name"] == "alice"
    assert doc["user.name"] == "alice" and doc["user.domain"] == "corp"
    assert doc["destination.user.name"] == "bob" and doc["destination.user.domain"] == "example.com"
    assert set(doc["related.user"]) == {"alice", "bob"}
    assert doc["related.hash"] == ["a" * 64] and doc["panw.panos.file_digest"] == "a" * 64
    assert doc["file.type"] == "pe" and doc["http.request.method"] == "get"
    assert doc["http.request.referrer"] == "http://ref.example/" and doc["http.version"] == "2"
    assert doc["panw.panos.threat_id"] == threat.rsplit("(", 1)[1].rstrip(")")
    assert doc["panw.panos.threat_name"] == (
        "URL-filtering" if threat == "(9999)" else threat.rsplit("(", 1)[0]
    )


def test_system_uses_high_resolution_timestamp() -> None:
    line = (
        "1,2021/10/26 15:05:03,,SYSTEM,general,2561,2021/10/26 15:05:03,,general,,0,0,general,"
        'high,"Update server closed, source: 81.2.69.193",1234567890,0x0,0,0,0,0,,PA-VM,0,0,'
        "2021-10-26T15:05:03.440-07:00"
    )
    doc, doc_id = run(line)
    assert doc["@timestamp"] == "2021-10-26T22:05:03.440Z"
    assert doc["event.code"] == "general" and doc["event.severity"] == 2
    assert doc["message"] == "Update server closed, source: 81.2.69.193"
    assert doc["event.category"] == ["configuration"] and doc["observer.hostname"] == "PA-VM"
    assert "observer.serial_number" not in doc
    # Empty serial: the id comes from the payload, so equal sequence numbers do not collide.
    assert run(line.replace("15:05:03,,", "15:05:04,,", 1))[1] != doc_id


@pytest.mark.parametrize(
    "hires",
    ["1970-01-01T01:00:00.000+01:00", "1969-12-31T16:00:00.000-08:00", "1970-01-01T00:00:00Z"],
)
def test_epoch_zero_high_resolution_timestamp_is_absent(hires: str) -> None:
    line = build(26, {8: "general", 13: "low", 14: "x", 15: "5", 25: hires}, "SYSTEM", "general")
    doc, _ = run(line)
    assert doc["@timestamp"] == "2024-03-10T01:29:59.000Z"  # Generated Time


def test_config_layouts() -> None:
    observed = build(
        28,
        {
            7: "10.0.0.5",
            9: "edit",
            10: "admin",
            11: "Web",
            12: "Succeeded",
            13: " vsys x",
            14: "77",
            21: "PA-VM",
            26: '"a, ""b"""',
            27: "after",
        },
        "CONFIG",
    )
    doc, _ = run(observed)
    assert doc["event.action"] == "cmd-edit" and doc["event.outcome"] == "success"
    assert doc["host.ip"] == ["10.0.0.5"] and doc["user.name"] == "admin"
    assert doc["panw.panos.before_change_detail"] == 'a, "b"'
    assert doc["panw.panos.sequence_number"] == "77" and doc["observer.hostname"] == "PA-VM"
    docs = build(
        24,
        {
            7: "10.0.0.5",
            9: "override",
            10: "admin",
            12: "Failed",
            14: "",
            15: "new",
            16: "78",
            23: "PA-VM",
        },
        "CONFIG",
    )
    doc, _ = run(docs)
    assert "event.action" not in doc and doc["event.outcome"] == "failure"
    assert (
        doc["panw.panos.after_change_detail"] == "new" and doc["panw.panos.sequence_number"] == "78"
    )
    assert doc["observer.hostname"] == "PA-VM"


GP_93 = (
    "1,2021/03/02 09:55:42,12345678999,GLOBALPROTECT,0,2305,2021/03/02 09:55:39,vsys1,gateway-auth,"
    "login,Other,,dom\\max,DE,PC1234,175.16.199.1,,10.20.30.40,,985e-43b4,SERIALNR,5.1.1,Windows,"
    '"Windows 10 Enterprise, 64-bit",1,,,,success,,60,pre-logon,0,GP GW,6894571632887748064,'
    "0x8000000000000000,1970-01-01T01:00:00.000+01:00,,0,manual only,,"
)


def test_globalprotect_layouts() -> None:
    doc, _ = run(GP_93)
    assert doc["@timestamp"] == "2021-03-02T09:55:39.000Z"
    assert doc["event.code"] == "gateway-auth" and doc["event.outcome"] == "success"
    assert doc["event.duration"] == 60_000_000_000
    assert doc["source.ip"] == "10.20.30.40" and doc["host.ip"] == ["10.20.30.40"]
    assert doc["source.nat.ip"] == "175.16.199.1"
    assert doc["host.name"] == "pc1234" and doc["host.os.full"] == "Windows 10 Enterprise, 64-bit"
    assert doc["user.name"] == "max" and doc["user.domain"] == "dom"
    # ≤ 9.1.2: Type at position 5, sequence number and flags at 3–4, body shifted by two.
    legacy = ("1,2019/05/02 10:00:00,0123,555,0x0,GLOBALPROTECT,0,,2019/05/02 09:59:58,"
              "vsys1,portal-auth,login,,,bob,US,LAPTOP,198.51.100.7,,10.8.0.2,,hid,SN,5.0,Mac,"
              "macOS 10,1,,,,failure,,0,,12,Portal1")  # fmt: skip
    doc, _ = run(legacy)
    assert doc["panw.panos.type"] == "GLOBALPROTECT"
    assert doc["@timestamp"] == "2019-05-02T09:59:58.000Z"
    assert doc["event.code"] == "portal-auth" and doc["event.outcome"] == "failure"
    assert doc["source.ip"] == "10.8.0.2" and doc["user.name"] == "bob"
    assert doc["panw.panos.portal"] == "Portal1" and doc["panw.panos.sequence_number"] == "555"
    # Strata: ISO times in UTC, `no-serial`, a text version, layout 2.
    strata = ("931201168,2021-11-09T21:45:36.000000Z,no-serial,GLOBALPROTECT,globalprotect,9.1,"
              "2021-11-09T21:45:14.000000Z,vsys1,gateway-tunnel-latency,tunnel,,,user,,HOST,,"
              'fc00::1234,,fc00::abcd,hid,SN,5.2.8,,,1,,,"Pre: 35ms, Post: 16ms",success,,0,,0,'
              "GW,1041590,true")  # fmt: skip
    doc, _ = run(f"<14>1 2021-11-09T21:45:36Z cdl - panwlogs - {strata}", tz="-05:00")
    assert doc["@timestamp"] == "2021-11-09T21:45:14.000Z"
    assert doc["source.ip"] == "fc00::abcd" and doc["network.type"] == "ipv6"
    assert doc["observer.serial_number"] == "no-serial"  # as Elastic keeps it


def test_hipmatch() -> None:
    line = build(
        31,
        {
            7: "corp\\carol",
            8: "vsys1",
            9: "LAPTOP-9",
            10: "Windows",
            11: "10.0.0.9",
            12: "hip-ok",
            14: "object",
            17: "31",
            24: "PA-1",
            26: "2001:db8::9",
            27: "host-9",
            29: "aa:bb:cc:dd:ee:ff",
        },
        "HIPMATCH",
    )
    doc, _ = run(line)
    assert doc["source.ip"] == "2001:db8::9" and doc["host.name"] == "laptop-9"
    assert doc["host.os.full"] == "Windows" and doc["host.id"] == "host-9"
    assert doc["user.name"] == "carol" and doc["panw.panos.hip"] == "hip-ok"
    doc, _ = run(build(29, {7: "dave", 11: "10.0.0.9", 17: "31"}, "HIP-MATCH"))
    assert doc["source.ip"] == "10.0.0.9" and doc["user.name"] == "dave"


def test_userid() -> None:
    line = build(
        37,
        {
            7: "vsys1",
            8: "10.68.2.9",
            9: "YA072Z$@VIERWERK.NET",
            11: "0",
            14: "0",
            15: "443",
            18: "99",
            31: "other",
        },
        "USERID",
        "login",
    )
    doc, _ = run(line)
    assert doc["source.ip"] == "10.68.2.9" and doc["destination.port"] == 443
    assert doc["user.name"] == "YA072Z$" and doc["user.domain"] == "VIERWERK.NET"
    assert doc["event.code"] == "0" and sorted(doc["event.category"]) == ["iam", "network"]
    doc, _ = run(build(37, {8: "10.68.2.9", 18: "99", 31: "fallback"}, "USERID", "login"))
    assert doc["user.name"] == "fallback"


def test_decryption() -> None:
    values = {7: "10.0.0.1", 8: "93.184.216.34", 11: "decrypt-all", 24: "50000", 25: "443", 29: "tcp", 30: "allow",
              39: "TLS1.2", 41: "AES_128_GCM", 44: "secp256r1", 49: "0a1b", 50: "ab" * 20,
              51: "2024/01/01 00:00:00", 52: "2025/01/01 00:00:00", 60: "example.com", 61: "Issuer CA",
              63: "www.example.com", 64: "", 89: "1234", 96: "PA-D"}  # fmt: skip
    doc, _ = run(build(107, values, "DECRYPTION", "0", "2561"), tz="Europe/Berlin")
    assert doc["tls.version"] == "1.2" and doc["tls.version_protocol"] == "tls"
    assert doc["tls.cipher"] == "AES_128_GCM" and doc["tls.curve"] == "secp256r1"
    assert doc["tls.server.hash.sha1"] == "ab" * 20 and doc["related.hash"] == ["ab" * 20]
    assert doc["tls.server.x509.not_before"] == "2023-12-31T23:00:00.000Z"
    assert doc["tls.client.server_name"] == "www.example.com"
    assert doc["tls.server.x509.subject.common_name"] == "example.com"
    assert doc["event.outcome"] == "success" and doc["observer.hostname"] == "PA-D"
    assert doc["panw.panos.config_version"] == "2561"
    doc, _ = run(build(107, {**values, 64: "certificate expired"}, "DECRYPTION"))
    assert doc["event.outcome"] == "failure"


def test_authentication() -> None:
    values = {7: "vsys1", 8: "192.0.2.10", 9: "corp\\erin", 10: "erin", 12: "mfa-policy", 18: '"auth ok, factor 1"',
              20: "auth-success", 22: "555", 29: "PA-A", 32: "uuid-1", 44: "Mozilla/5.0"}  # fmt: skip
    doc, _ = run(build(47, values, "AUTHENTICATION"))
    assert (
        doc["source.ip"] == "192.0.2.10"
        and doc["user.name"] == "erin"
        and doc["user.domain"] == "corp"
    )
    assert doc["event.category"] == ["authentication"] and doc["event.outcome"] == "success"
    assert doc["rule.uuid"] == "uuid-1" and doc["user_agent.original"] == "Mozilla/5.0"
    assert doc["panw.panos.description"] == "auth ok, factor 1"


def test_iptag_correlation_audit() -> None:
    doc, _ = run(
        build(
            27, {8: "198.51.100.1", 9: "quarantine", 10: "register", 16: "12", 23: "PA-T"}, "IPTAG"
        )
    )
    assert doc["source.ip"] == "198.51.100.1" and doc["event.code"] == "register"
    assert doc["panw.panos.tag_name"] == "quarantine" and doc["observer.hostname"] == "PA-T"
    doc, _ = run(
        build(
            22,
            {
                7: "198.51.100.2",
                8: "frank",
                10: "compromised-host",
                11: "critical",
                17: "PA-C",
                21: "evidence",
            },
            "CORRELATION",
            "compromised-host",
        )
    )
    assert doc["source.ip"] == "198.51.100.2" and doc["user.name"] == "frank"
    assert doc["event.severity"] == 1 and doc["event.outcome"] == "success"
    assert doc["panw.panos.evidence"] == "evidence"
    doc, _ = run(build(12, {7: "code", 8: "id-1", 9: "admin2", 10: "login", 11: "ok"}, "AUDIT"))
    assert doc["user.name"] == "admin2" and doc["event.category"] == ["configuration"]
    assert doc["panw.panos.audit_action"] == "login"


@pytest.mark.parametrize("log_type", ["START", "END"])
def test_tunnel_inspection(log_type: str) -> None:
    values = {7: "10.0.0.1", 8: "10.0.0.2", 24: "2152", 25: "2152", 29: "udp", 30: "allow", 31: "informational", 32: "66",
              47: "100", 48: "60", 49: "40", 61: "2024/03/10 01:29:00", 62: "59", 63: "gtp-inspect", 66: "uuid-t"}  # fmt: skip
    doc, _ = run(build(84, values, log_type, log_type.lower()))
    assert doc["rule.name"] == "gtp-inspect" and doc["rule.uuid"] == "uuid-t"
    assert (doc["network.bytes"], doc["source.bytes"], doc["destination.bytes"]) == (100, 60, 40)
    assert doc["event.duration"] == 59_000_000_000 and doc["event.outcome"] == "success"
    assert doc["event.action"] == ("flow_started" if log_type == "START" else "flow_terminated")


def test_gtp_and_sctp() -> None:
    doc, _ = run(
        build(
            94,
            {
                7: "10.1.0.1",
                8: "10.1.0.2",
                24: "2123",
                25: "2123",
                29: "udp",
                30: "allow",
                31: "tunnel-created",
                41: "low",
                76: "2024/03/10 01:00:00",
                77: "5",
                81: "uuid-g",
            },
            "GTP",
            "start",
        )
    )
    assert doc["source.ip"] == "10.1.0.1" and doc["event.severity"] == 4
    assert doc["panw.panos.gtp_event_type"] == "tunnel-created" and doc["rule.uuid"] == "uuid-g"
    assert (
        doc["event.start"] == "2024-03-10T01:00:00.000Z"
        and doc["event.end"] == "2024-03-10T01:00:05.000Z"
    )
    doc, _ = run(
        build(
            65,
            {
                7: "10.2.0.1",
                8: "10.2.0.2",
                24: "2905",
                25: "2905",
                30: "sctp",
                31: "drop",
                38: "88",
                42: "medium",
                57: "9",
            },
            "SCTP",
        )
    )
    assert doc["destination.ip"] == "10.2.0.2" and doc["event.outcome"] == "failure"
    assert doc["panw.panos.ip_protocol"] == "sctp" and doc["panw.panos.sctp_chunks"] == "9"
    assert doc["event.severity"] == 3


# ---- options and errors --------------------------------------------------------------------


def test_tz_option() -> None:
    assert run(TRAFFIC_81, tz="+09:30")[0]["@timestamp"] == "2018-11-30T06:39:07.000Z"
    assert run(TRAFFIC_81, tz="America/New_York")[0]["@timestamp"] == "2018-11-30T21:09:07.000Z"
    # DST: 2024-07-01 in Berlin is UTC+2.
    line = build(65, {7: "10.0.0.1", 8: "10.0.0.2", 39: "1"}, "TRAFFIC", "end").replace(
        "2024/03/10", "2024/07/01"
    )
    doc, _ = run(line, tz="Europe/Berlin")
    assert (
        doc["@timestamp"] == "2024-06-30T23:29:59.000Z" and doc["event.timezone"] == "Europe/Berlin"
    )
    for bad in ("Mars/Olympus", "+25:00", "five"):
        with pytest.raises(ConfigError):
            norm(tz=bad)


def test_keep_original_and_registry() -> None:
    line = f"Nov 30 16:09:08 PA-220 {TRAFFIC_81}"
    doc, _ = run(line, keep_original=True)
    assert doc["event.original"] == line
    cls = lookup("normalizer", "panos")
    assert cls is PanosNormalizer and cls.source_type == "panos" and cls.name == "panos"


def test_extra_trailing_columns_are_kept() -> None:
    # Columns an older release lacks are named from the newest list ...
    doc, _ = run(TRAFFIC_81 + ",uuid-65,0")
    assert doc["rule.uuid"] == "uuid-65" and doc["panw.panos.http_2_connection"] == "0"
    # ... and columns beyond the newest list (130 for TRAFFIC) are kept by position.
    line = build(133, {7: "10.0.0.1", 39: "5", 130: "new1", 132: "new3"}, "TRAFFIC", "end")
    doc, _ = run(line)
    assert doc["panw.panos.extra_130"] == "new1" and doc["panw.panos.extra_132"] == "new3"
    assert "panw.panos.extra_131" not in doc
    assert doc["source.ip"] == "10.0.0.1"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (TRAFFIC_81.rsplit(",", 40)[0], "columns"),
        (TRAFFIC_81.replace(",TRAFFIC,", ",BOGUS,"), "unknown PAN-OS log type"),
        ("just some text without separators", "not a PAN-OS CSV record"),
        (
            TRAFFIC_81.replace(
                "2018/11/30 16:09:07,012801096514", "2018/13/45 99:09:07,012801096514"
            ),
            "Receive Time",
        ),
        (TRAFFIC_81.replace(",2049,2018/11/30 16:09:07,", ",2049,yesterday,"), "Generated Time"),
        ("", "not a PAN-OS CSV record"),
    ],
)
def test_parse_errors(line: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        norm().normalize(line.encode())
    assert reason in info.value.reason


def test_binary_garbage_and_huge_line() -> None:
    garbage = bytes(range(256)) * 4 + b",\x00\xff,\x01,\x02,\x03,\x04"
    with pytest.raises(ParseError):
        norm().normalize(garbage)
    with pytest.raises(ParseError) as info:
        norm().normalize(b"1," + b"A" * (10 * 1024 * 1024))
    assert "too long" in info.value.reason
