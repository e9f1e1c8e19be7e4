"""Host/user enrichment table: precedence, fill-only, persistence across a restart."""

from __future__ import annotations

from shippers.enrichment import LookupTable, mac_ecs

AID = "ffffffffa63e404bba4bff7465ab3afb"


def _event() -> dict:
    return {"host": {"id": AID, "os": {"type": "macos"}}, "user": {"id": "S-1-5-21-1"}}


def test_enrich_fills_host_and_user_and_survives_restart(tmp_path):
    db = tmp_path / "lookup.sqlite"
    t = LookupTable(db)
    assert (
        t.load(
            "managedassets",
            [
                {
                    "aid": AID,
                    "ComputerName": "asset-name",
                    "LocalAddressIP4": "10.1.2.3",
                    "MAC": "00:50:56:aa:bb:cc",
                }
            ],
        )
        == 1
    )
    assert (
        t.load(
            "aidmaster",
            [
                {
                    "aid": AID,
                    "ComputerName": "WS-01",
                    "MachineDomain": "corp",
                    "event_platform": "Win",
                    "Version": "Windows 11",
                },
                {"ComputerName": "no-aid"},  # unusable: ignored
            ],
        )
        == 1
    )
    assert t.load("userinfo", [{"UserSid": "S-1-5-21-1", "UserName": "alice"}]) == 1
    t.close()

    t = LookupTable(db)  # a restart keeps the table
    doc = _event()
    t.enrich(doc)
    # aidmaster wins over managedassets; fields the event has are kept (os.type).
    assert doc["host"]["name"] == doc["host"]["hostname"] == "WS-01"
    assert doc["host"]["domain"] == "corp"
    assert doc["host"]["os"] == {"type": "macos", "full": "Windows 11"}
    assert doc["host"]["ip"] == ["10.1.2.3"] and doc["host"]["mac"] == ["00-50-56-AA-BB-CC"]
    assert doc["user"]["name"] == "alice"
    assert doc["related"] == {"hosts": ["WS-01"], "user": ["alice"]}


def test_updates_replace_cached_values_and_unknown_ids_are_untouched(tmp_path):
    t = LookupTable(tmp_path / "l.sqlite")
    doc = _event()
    t.enrich(doc)
    assert "name" not in doc["host"] and "name" not in doc["user"]
    t.load("aidmaster", [{"aid": AID, "ComputerName": "old"}])
    t.load("aidmaster", [{"aid": AID, "ComputerName": "new"}])
    doc = _event()
    t.enrich(doc)
    assert doc["host"]["name"] == "new"
    named = {"host": {"id": AID, "name": "from-event"}, "user": {"id": "x", "name": "bob"}}
    t.enrich(named)
    assert named["host"]["name"] == "from-event" and named["user"]["name"] == "bob"


def test_mac_normalized_to_ecs_form():
    assert mac_ecs("aa:bb:cc:dd:ee:ff") == "AA-BB-CC-DD-EE-FF"
    assert mac_ecs("aabb.ccdd.eeff") == "AA-BB-CC-DD-EE-FF"
    assert mac_ecs("bogus") == "bogus"
