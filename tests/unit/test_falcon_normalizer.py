"""Falcon normalizer: FDR lines, event stream events, malformed input, time handling."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from shippers.errors import ParseError
from shippers.normalizers.falcon import FalconNormalizer, split_command_line
from shippers.normalizers.falcon_time import epoch_ms, format_ms
from shippers.plugin import NormalizerOptions
from shippers.record import content_id
from shippers.registry import lookup

CID = "4092825518eaf67377a6e4492ae44577"
AID = "061f50de227f377d5a1cbbcda2493711"


@pytest.fixture
def norm() -> FalconNormalizer:
    return FalconNormalizer()


def fdr(**fields: str) -> bytes:
    base = {
        "event_simpleName": "ProcessRollup2",
        "id": "6b69e784610ff3e5da99cb6f884fbb59c197",
        "aid": AID,
        "cid": CID,
        "aip": "81.2.69.144",
        "timestamp": "1743508799999",
        "event_platform": "Win",
        "ConfigBuild": "1007.3.0019907.15",
    }
    base.update(fields)
    return orjson.dumps(base)


# --- registry and the corpus ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["falcon", "falcon-fdr"])
def test_registered_under_both_names(name: str) -> None:
    cls = lookup("normalizer", name)
    assert cls is FalconNormalizer
    assert cls.name == "falcon" and cls.source_type == "falcon"


def test_every_corpus_line_is_accounted_for(corpus: Path, norm, event_schema_check) -> None:
    normalized = failed = lines = 0
    ids = set()
    distinct_lines = set()
    for log in sorted((corpus / "crowdstrike-fdr").glob("*.log")):
        for line in log.read_bytes().splitlines():
            lines += 1
            try:
                doc, doc_id = norm.normalize(line)
            except ParseError as e:
                failed += 1
                assert e.reason
                continue
            normalized += 1
            event_schema_check(doc)
            assert doc["event"]["module"] == "crowdstrike"
            assert doc["event"]["dataset"] == "crowdstrike.fdr"
            assert doc["observer"]["vendor"] == "Crowdstrike"
            ids.add(doc_id)
            distinct_lines.add(line)
    assert normalized + failed == lines
    assert lines > 200 and normalized == lines, "every corpus line is a valid Falcon event"
    # a shared id would make Elasticsearch drop one of two different events as a duplicate
    assert len(ids) == len(distinct_lines), "document ids are distinct for distinct events"


# --- FDR mapping --------------------------------------------------------------------------------


def test_process_event_fields(norm, event_schema_check) -> None:
    line = fdr(
        CommandLine='"C:\\Program Files\\a b\\x.exe" -k "two words"',
        ImageFileName="\\Device\\HarddiskVolume3\\Program Files\\a b\\x.exe",
        RawProcessId="4242",
        TargetProcessId="123456789",
        ParentProcessId="987654321",
        ParentBaseFileName="services.exe",
        UserSid="S-1-5-18",
        UserName="SYSTEM",
        SHA256HashData="ab" * 32,
        MD5HashData="0" * 32,
        ProcessStartTime="1745927326.269",
        EntitlementsCount="7",
        Entitlements="15",
    )
    doc, doc_id = norm.normalize(line)
    event_schema_check(doc)
    assert doc["@timestamp"] == "2025-04-01T11:59:59.999Z"
    assert doc["event"]["kind"] == "event"
    assert doc["event"]["category"] == ["process"] and doc["event"]["type"] == ["start"]
    assert doc["event"]["action"] == "ProcessRollup2"
    assert doc["event"]["id"] == f"6b69e784610ff3e5da99cb6f884fbb59c197|{AID}|{CID}"
    # the id hashes the raw line: feeds reuse `id` across event types and edited variants
    assert doc_id == content_id(line)
    other, other_id = norm.normalize(fdr(event_simpleName="ProcessRollup3"))
    assert other["event"]["id"] == doc["event"]["id"] and other_id != doc_id
    p = doc["process"]
    assert p["pid"] == 4242 and p["entity_id"] == "123456789"
    assert p["parent"] == {"entity_id": "987654321", "name": "services.exe"}
    assert p["name"] == "x.exe"
    assert p["args"] == ["C:\\Program Files\\a b\\x.exe", "-k", "two words"]
    assert p["args_count"] == 3
    assert p["start"] == "2025-04-29T11:48:46.269Z"
    assert p["hash"] == {"sha256": "ab" * 32}, "the all-zero MD5 is absent"
    assert "md5" not in str(doc["related"]["hash"])
    assert doc["user"] == {"id": "S-1-5-18", "name": "SYSTEM"}
    assert set(doc["related"]["user"]) == {"S-1-5-18", "SYSTEM"}
    assert doc["host"] == {"id": AID, "os": {"type": "windows"}}
    assert doc["observer"]["serial_number"] == AID
    assert doc["observer"]["ip"] == ["81.2.69.144"]
    assert doc["observer"]["version"] == "1007.3.0019907.15"
    cs = doc["crowdstrike"]
    assert cs["EntitlementsCount"] == 7 and cs["Entitlements"] == "15"
    assert "CommandLine" not in cs and "aid" not in cs, "mapped fields are not duplicated"


def test_all_zero_hashes_are_absent(norm) -> None:
    doc, _ = norm.normalize(
        fdr(
            event_simpleName="PeFileWritten",
            TargetFileName="\\Device\\HarddiskVolume2\\tmp\\a.exe",
            SHA256HashData="0" * 64,
            SHA1HashData="0" * 40,
            MD5HashData="0" * 32,
        )
    )
    assert "hash" not in doc["file"]
    assert "related" not in doc or "hash" not in doc["related"]
    assert not any("HashData" in k for k in doc["crowdstrike"])


def test_file_fields(norm, event_schema_check) -> None:
    doc, _ = norm.normalize(
        fdr(
            event_simpleName="FileRenameInfo",
            SourceFileName="\\Device\\HarddiskVolume2\\Users\\a\\old.txt",
            TargetFileName="\\Device\\HarddiskVolume2\\Users\\a\\new.tar.gz",
        )
    )
    event_schema_check(doc)
    f = doc["file"]
    assert f["path"] == "\\Device\\HarddiskVolume2\\Users\\a\\new.tar.gz"
    assert f["name"] == "new.tar.gz" and f["extension"] == "gz"
    assert f["directory"] == "\\Device\\HarddiskVolume2\\Users\\a"
    assert f["Ext"]["original"]["name"] == "old.txt"
    assert doc["event"]["category"] == ["file"] and doc["event"]["type"] == ["change"]


@pytest.mark.parametrize(
    ("direction", "src", "dst"),
    [
        ("0", ("10.0.0.5", 50123), ("93.184.216.34", 443)),
        ("1", ("93.184.216.34", 443), ("10.0.0.5", 50123)),
    ],
)
def test_network_direction(norm, event_schema_check, direction, src, dst) -> None:
    doc, _ = norm.normalize(
        fdr(
            event_simpleName="NetworkConnectIP4",
            LocalAddressIP4="10.0.0.5",
            LocalPort="50123",
            RemoteAddressIP4="93.184.216.34",
            RemotePort="443",
            Protocol="6",
            ConnectionDirection=direction,
        )
    )
    event_schema_check(doc)
    assert (doc["source"]["ip"], doc["source"]["port"]) == src
    assert (doc["destination"]["ip"], doc["destination"]["port"]) == dst
    assert doc["network"]["transport"] == "tcp" and doc["network"]["iana_number"] == "6"
    assert doc["network"]["direction"] == ("outbound" if direction == "0" else "inbound")
    assert {"10.0.0.5", "93.184.216.34", "81.2.69.144"} <= set(doc["related"]["ip"])


def test_dns_request(norm) -> None:
    doc, _ = norm.normalize(
        fdr(event_simpleName="DnsRequest", DomainName="example.org", RequestType="28")
    )
    assert doc["dns"] == {"type": "query", "question": {"name": "example.org", "type": "AAAA"}}
    assert doc["event"]["category"] == ["network"]


def test_invalid_ip_is_not_emitted(norm, event_schema_check) -> None:
    doc, _ = norm.normalize(
        fdr(event_simpleName="NetworkConnectIP4", RemoteAddressIP4="999.1.1.1", aip="not-an-ip")
    )
    event_schema_check(doc)
    assert "destination" not in doc and "ip" not in doc["observer"]


@pytest.mark.parametrize(
    ("name", "kind", "category", "outcome"),
    [
        ("UserLogonFailed2", "event", ["authentication"], "failure"),
        ("UserLogoff", "event", ["authentication"], "success"),
        ("AsepValueUpdate", "event", ["registry"], "success"),
        ("ScheduledTaskRegistered", "event", ["configuration"], "success"),
        ("NewScriptWritten", "event", ["file"], "success"),
        ("ServiceStarted", "event", ["process"], "success"),
        ("SensorHeartbeat", "event", ["package"], "success"),
        ("DriverLoad", "event", ["driver"], "success"),
        ("NetworkReceiveAcceptIP6", "event", ["network"], "unknown"),
    ],
)
def test_categorization_table(norm, name, kind, category, outcome) -> None:
    doc, _ = norm.normalize(fdr(event_simpleName=name))
    ev = doc["event"]
    assert (ev["kind"], ev["category"], ev["outcome"]) == (kind, category, outcome)


def test_unknown_event_name_still_valid(norm, event_schema_check) -> None:
    doc, _ = norm.normalize(fdr(event_simpleName="SomethingNewFromTheSensorV9", Foo="bar"))
    event_schema_check(doc)
    assert doc["event"]["kind"] == "event"
    assert doc["event"]["action"] == "SomethingNewFromTheSensorV9"
    assert "category" not in doc["event"]
    assert doc["crowdstrike"]["Foo"] == "bar"


def test_vendor_fields_stay_under_crowdstrike(norm) -> None:
    doc, _ = norm.normalize(
        fdr(WeirdVendorField="x", Nested={"A": 1, "B": True}, ProcessCount="12")
    )
    assert set(doc) <= {
        "@timestamp",
        "event",
        "observer",
        "host",
        "device",
        "message",
        "crowdstrike",
        "related",
        "process",
    }
    cs = doc["crowdstrike"]
    assert cs["WeirdVendorField"] == "x"
    assert cs["Nested"] == {"A": "1", "B": "true"}, "nested vendor scalars become strings"
    assert cs["ProcessCount"] == 12


def test_doc_id_without_event_id_uses_raw_bytes(norm) -> None:
    line = orjson.dumps({"EventType": "Event_ExternalApiEvent", "cid": CID, "Severity": 3})
    doc, doc_id = norm.normalize(line)
    assert doc["event"]["id"] == f"||{CID}"
    assert doc_id == content_id(line)
    assert norm.normalize(line)[1] == doc_id, "deterministic"


def test_keep_original(event_schema_check) -> None:
    line = fdr()
    doc, _ = FalconNormalizer(NormalizerOptions(keep_original=True)).normalize(line)
    event_schema_check(doc)
    assert doc["event"]["original"] == line.decode()
    doc2, _ = FalconNormalizer().normalize(line)
    assert "original" not in doc2["event"]


# --- time ----------------------------------------------------------------------------------------


def test_nt_ticks_conversion() -> None:
    # 2025-04-01T11:59:59.999Z as 100 ns ticks since 1601-01-01.
    ticks = (1743508799999 + 11644473600 * 1000) * 10_000
    assert epoch_ms(str(ticks)) == 1743508799999
    assert format_ms(epoch_ms(ticks)) == "2025-04-01T11:59:59.999Z"


def test_nt_ticks_in_events(norm) -> None:
    ticks = str((1745927326269 + 11644473600 * 1000) * 10_000)
    doc, _ = norm.normalize(fdr(ProcessStartTime=ticks, ContextTimeStamp=ticks))
    assert doc["process"]["start"] == "2025-04-29T11:48:46.269Z"
    assert doc["crowdstrike"]["ContextTimeStamp"] == "2025-04-29T11:48:46.269Z"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1757442428.423", "2025-09-09T18:27:08.423Z"),
        ("1743508799999", "2025-04-01T11:59:59.999Z"),
        (1680759529, "2023-04-06T05:38:49.000Z"),
        ("2023-04-06T05:38:50Z", "2023-04-06T05:38:50.000Z"),
    ],
)
def test_time_units(value, expected) -> None:
    assert format_ms(epoch_ms(value)) == expected


@pytest.mark.parametrize(
    "value", ["0", "", "abc", "99999999999999", "4102444800000", "-5", None, True]
)
def test_no_future_or_garbage_dates(value) -> None:
    assert epoch_ms(value) is None


def test_future_timestamp_falls_back(norm, event_schema_check) -> None:
    doc, _ = norm.normalize(fdr(timestamp="4102444800000", ProcessStartTime="4102444800.5"))
    event_schema_check(doc)
    assert not doc["@timestamp"].startswith("2100")
    assert "created" not in doc["event"] and "start" not in doc.get("process", {})


# --- malformed input ---


@pytest.mark.parametrize(
    "line",
    [
        b'{"event_simpleName":"ProcessRollup2","aid":"abc"',
        b"\x00\x9f\x92\x96\xff\xfe garbage \x01",
        b"[1, 2, 3]",
        b"42",
        b'"just a string"',
        b"null",
        b'{"hello":"world"}',
        b"",
        b"x" * (10 * 1024 * 1024),
        b'{"a":"' + b"y" * (10 * 1024 * 1024) + b'"}',
    ],
    ids=[
        "truncated",
        "binary",
        "array",
        "number",
        "string",
        "null",
        "foreign-object",
        "empty",
        "10MB-garbage",
        "10MB-json",
    ],
)
def test_malformed_input_raises_parse_error(norm, line) -> None:
    with pytest.raises(ParseError) as info:
        norm.normalize(line)
    assert info.value.reason


def test_split_command_line() -> None:
    assert split_command_line("runc init") == ["runc", "init"]
    assert split_command_line('a "b c" d') == ["a", "b c", "d"]
    assert split_command_line(r'"a\"b" c\\d') == ['a"b', "c\\\\d"]
    assert split_command_line('x "" y') == ["x", "", "y"]
    assert split_command_line("  \t ") == []


# --- event stream --------------------------------------------------------------------------------


def stream(event_type: str, event: dict, offset: int = 8, created: int = 1686849556137) -> bytes:
    return orjson.dumps(
        {
            "metadata": {
                "customerIDString": "123123abcd",
                "offset": offset,
                "eventType": event_type,
                "eventCreationTime": created,
                "version": "1.0",
            },
            "event": event,
        }
    )


DETECTION = {
    "ProcessStartTime": 1686845212400,
    "ProcessEndTime": 0,
    "ProcessId": 123123,
    "ParentProcessId": 321321,
    "ComputerName": "ELASTICHOST",
    "UserName": "ELASTICUSER",
    "DetectName": "NGAV",
    "DetectDescription": "This file is classified as Adware/PUP based on its SHA256 hash.",
    "Severity": 2,
    "SeverityName": "Low",
    "FileName": "TESTFILE.exe",
    "FilePath": "\\Device\\HarddiskVolume3\\Users\\ELASTICUSER\\Software\\TESTSOFTWARE",
    "CommandLine": '"C:\\Users\\TESTUSER\\FILE.exe" -Embedding',
    "SHA256String": "0b2cde5b355bda69aeb15159fa98b5554053f0936259a53c6dfb0934389238a2",
    "MD5String": "49f30e09200e7b59edc5ef32fbd0442c",
    "SHA1String": "0" * 40,
    "MachineDomain": "INTERNAL",
    "FalconHostLink": "https://falcon.crowdstrike.com/activity/detections/detail/X",
    "SensorId": "sensorid123",
    "DetectId": "detect::id::test",
    "LocalIP": "89.160.20.112",
    "MACAddress": "1c-2d-b3-4a-56-7e",
    "Tactic": "Malware",
    "Technique": "PUP",
    "PatternDispositionDescription": "Detection, process would have been blocked.",
    "PatternDispositionFlags": {"Indicator": False, "ProcessBlocked": True},
    "MitreAttack": [
        {
            "Tactic": "Execution",
            "Technique": "User Execution",
            "TacticID": "TA0002",
            "TechniqueID": "T1204",
        }
    ],
    "NetworkAccesses": [{"LocalAddress": "10.0.0.1", "LocalPort": 53517, "IsIPV6": False}],
}


def test_stream_detection_summary(norm, event_schema_check) -> None:
    doc, doc_id = norm.normalize(stream("DetectionSummaryEvent", dict(DETECTION), offset=1))
    event_schema_check(doc)
    ev = doc["event"]
    assert ev["kind"] == "alert" and ev["category"] == ["malware"] and ev["type"] == ["info"]
    assert ev["dataset"] == "crowdstrike.falcon" and ev["module"] == "crowdstrike"
    assert ev["severity"] == 21
    assert ev["id"] == "123123abcd|1|DetectionSummaryEvent" and doc_id == content_id(ev["id"])
    assert doc["rule"] == {
        "name": "NGAV",
        "id": "detect::id::test",
        "description": "This file is classified as Adware/PUP based on its SHA256 hash.",
    }
    assert doc["threat"]["tactic"] == {"name": ["Malware", "Execution"], "id": ["TA0002"]}
    assert doc["threat"]["technique"] == {"name": ["PUP", "User Execution"], "id": ["T1204"]}
    assert doc["host"]["name"] == "ELASTICHOST" and doc["user"]["name"] == "ELASTICUSER"
    assert doc["process"]["pid"] == 123123 and doc["process"]["parent"]["pid"] == 321321
    assert doc["process"]["start"] == "2023-06-15T16:06:52.400Z" and "end" not in doc["process"]
    assert doc["file"]["name"] == "TESTFILE.exe" and "sha1" not in doc["file"]["hash"]
    assert doc["source"]["ip"] == "89.160.20.112"
    assert doc["@timestamp"] == "2023-06-15T17:19:16.137Z"
    assert doc["crowdstrike"]["offset"] == 1


@pytest.mark.parametrize("etype", ["EppDetectionSummaryEvent", "EPPDetectionSummaryEvent"])
def test_stream_epp_detection(norm, event_schema_check, etype) -> None:
    event = {
        "Hostname": "WIN-1",
        "Name": "MLSensor-High",
        "Description": "ML detected",
        "Severity": 70,
        "SeverityName": "High",
        "AgentId": "agent1",
        "CompositeId": "cid:ind:agent1:1",
        "UserName": "bob",
        "ProcessId": 1,
        "ParentProcessId": 2,
        "ProcessStartTime": 1717000000,
        "LogonDomain": "CORP",
        "Tactic": "Machine Learning",
        "Technique": "Sensor-based ML",
        "LocalIP": "10.1.1.1",
        "FilesWritten": [{"Timestamp": 1717000001, "FileName": "a.txt", "FilePath": "\\x"}],
    }
    doc, _ = norm.normalize(stream(etype, event, offset=9_000_000_001))
    event_schema_check(doc)
    assert doc["event"]["kind"] == "alert" and doc["event"]["severity"] == 73
    assert doc["rule"]["name"] == "MLSensor-High" and doc["rule"]["id"] == "cid:ind:agent1:1"
    assert doc["host"] == {"name": "WIN-1", "id": "agent1", "domain": "CORP"}
    assert doc["process"]["start"] == "2024-05-29T16:26:40.000Z"
    assert doc["crowdstrike"]["offset"] == 9_000_000_001


def test_stream_incident_summary(norm, event_schema_check) -> None:
    event = {
        "IncidentStartTime": 1686845212,
        "IncidentEndTime": 1686845999,
        "FalconHostLink": "https://x/y",
        "State": "open",
        "FineScore": 3.5,
        "LateralMovement": 0,
        "IncidentType": 1,
        "IncidentID": "inc:1:2",
        "HostID": "host1",
        "LMHostIDs": ["a", "b"],
    }
    doc, _ = norm.normalize(stream("IncidentSummaryEvent", event))
    event_schema_check(doc)
    assert doc["event"]["kind"] == "alert"
    assert doc["event"]["start"] == "2023-06-15T16:06:52.000Z"
    assert doc["event"]["risk_score"] == 3.5 and doc["host"]["id"] == "host1"
    assert doc["crowdstrike"]["event"]["LMHostIDs"] == ["a", "b"]


def test_stream_auth_activity(norm, event_schema_check) -> None:
    event = {
        "UserId": "API:USERID",
        "UserIp": "175.16.199.1",
        "OperationName": "streamStarted",
        "ServiceName": "Crowdstrike Streaming API",
        "Success": True,
        "UTCTimestamp": 1686849556,
        "AuditKeyValues": [{"Key": "partition", "ValueString": "0"}],
        "Attributes": {"offset": "8"},
    }
    doc, _ = norm.normalize(stream("AuthActivityAuditEvent", event))
    event_schema_check(doc)
    ev = doc["event"]
    assert ev["kind"] == "event" and ev["category"] == ["iam"] and ev["outcome"] == "success"
    assert ev["action"] == "streamStarted" and doc["message"] == "Crowdstrike Streaming API"
    assert doc["user"]["name"] == "API:USERID" and doc["source"]["ip"] == "175.16.199.1"
    assert doc["related"]["ip"] == ["175.16.199.1"]

    event2 = dict(event, OperationName="userAuthenticate", Success=False, UserId="a@b.com")
    doc2, _ = norm.normalize(stream("AuthActivityAuditEvent", event2, offset=9))
    event_schema_check(doc2)
    assert doc2["event"]["category"] == ["authentication"] and doc2["event"]["outcome"] == "failure"
    assert doc2["user"]["email"] == "a@b.com"


def test_stream_user_activity(norm, event_schema_check) -> None:
    event = {
        "UserId": "analyst@example.com",
        "UserIp": "10.0.0.9",
        "OperationName": "detection_update",
        "ServiceName": "detections",
        "UTCTimestamp": 1686849556,
        "AuditKeyValues": [],
    }
    doc, _ = norm.normalize(stream("UserActivityAuditEvent", event))
    event_schema_check(doc)
    assert doc["event"]["action"] == "detection_update" and doc["event"]["category"] == ["iam"]
    assert doc["user"]["name"] == "analyst@example.com"


@pytest.mark.parametrize(
    ("etype", "ts_key", "field"),
    [
        ("RemoteResponseSessionStartEvent", "StartTimestamp", "start"),
        ("RemoteResponseSessionEndEvent", "EndTimestamp", "end"),
    ],
)
def test_stream_remote_response(norm, event_schema_check, etype, ts_key, field) -> None:
    event = {
        "SessionId": "s-1",
        "HostnameField": "HOST1",
        "UserName": "admin@example.com",
        ts_key: 1686849556,
    }
    doc, _ = norm.normalize(stream(etype, event))
    event_schema_check(doc)
    assert doc["event"]["category"] == ["session"] and doc["event"]["type"] == [field]
    assert doc["event"][field] == "2023-06-15T17:19:16.000Z"
    assert doc["host"]["name"] == "HOST1" and doc["user"]["name"] == "admin@example.com"
    assert doc["crowdstrike"]["event"]["SessionId"] == "s-1"


def test_stream_unknown_type(norm, event_schema_check) -> None:
    doc, doc_id = norm.normalize(
        stream("FirewallMatchEvent", {"RuleName": "r1", "Port": 443}, offset=77)
    )
    event_schema_check(doc)
    assert doc["event"]["kind"] == "event" and doc["event"]["action"] == "FirewallMatchEvent"
    assert doc["crowdstrike"]["event"] == {"RuleName": "r1", "Port": "443"}
    assert doc["crowdstrike"]["offset"] == 77
    assert doc_id == content_id("123123abcd|77|FirewallMatchEvent")


def test_stream_offsets_give_distinct_ids(norm) -> None:
    ids = {
        norm.normalize(stream("AuthActivityAuditEvent", {"UserId": "u"}, offset=o))[1]
        for o in range(50)
    }
    assert len(ids) == 50


def test_stream_bad_offset(norm) -> None:
    with pytest.raises(ParseError):
        norm.normalize(stream("AuthActivityAuditEvent", {}, offset="x"))  # type: ignore[arg-type]
