"""The event JSON Schema itself: valid, typed for the templates, shipped with the package."""

from __future__ import annotations

import jsonschema

from shippers.schema import REPO_SCHEMAS, event_schema, iter_leaf_fields, schema_errors

ES_TYPES = {
    "keyword", "ip", "date", "long", "double", "boolean", "match_only_text",
    "keyword_noindex", "vendor", "labels", "none",
}  # fmt: skip


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(event_schema())


def test_every_leaf_names_an_elasticsearch_type() -> None:
    leaves = list(iter_leaf_fields())
    assert len(leaves) > 200
    unknown = {path: t for path, t, _ in leaves if t not in ES_TYPES}
    assert not unknown


def test_packaged_copy_equals_repository_copy() -> None:
    # an installed (non-editable) shippers validates and renders templates from the copy
    packaged = REPO_SCHEMAS.parent / "shippers" / "data" / "ecs_event.schema.json"
    assert packaged.read_bytes() == (REPO_SCHEMAS / "ecs_event.schema.json").read_bytes(), (
        "run: cp schemas/ecs_event.schema.json shippers/data/"
    )


def test_schema_rejects_what_elasticsearch_would() -> None:
    base = {"@timestamp": "2024-01-01T00:00:00.000Z", "event": {"kind": "event"}}
    assert schema_errors(base) == []
    assert schema_errors({**base, "process": {"pid": 18446744072636268557}})  # > long
    assert schema_errors({**base, "source": {"ip": "10.0.0.300"}})
    assert schema_errors({**base, "event": {"kind": "events"}})
    assert schema_errors({**base, "newtoplevel": "x"})  # mapping explosion guard
    assert schema_errors({**base, "@timestamp": "2024-01-01 00:00:00"})
    assert schema_errors({**base, "crowdstrike": {"AnyVendorField": "kept"}}) == []
