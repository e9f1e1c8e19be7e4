"""Index templates generated from the schema: committed copy up to date, types, ILM policy."""

from __future__ import annotations

import re

import orjson
import pytest

from shippers.schema import iter_leaf_fields
from shippers.templates import OUT_DIR, ilm_policy, mappings, render_templates

EXPECTED_LEAF = {
    "keyword": "keyword",
    "ip": "ip",
    "date": "date",
    "long": "long",
    "double": "double",
    "boolean": "boolean",
    "match_only_text": "match_only_text",
    "keyword_noindex": "keyword",
}


def test_committed_index_templates_equal_a_fresh_render():
    """Generated-artifact check: regenerate with `python -m shippers.templates`."""
    fresh = render_templates()
    committed = {p.name: orjson.loads(p.read_bytes()) for p in OUT_DIR.glob("*.json")}
    assert set(committed) == set(fresh), "run `python -m shippers.templates` and commit"
    for name, body in fresh.items():
        assert committed[name] == body, f"{name} is stale: run `python -m shippers.templates`"


def _lookup(props: dict, path: str) -> dict:
    node: dict = {"properties": props}
    for part in path.split("."):
        node = node["properties"][part]
    return node


def test_every_schema_leaf_is_mapped_with_its_x_es_type():
    props = mappings()["properties"]
    leaves = list(iter_leaf_fields())
    assert len(leaves) > 100
    for path, es_type, _ in leaves:
        if es_type == "none":
            with pytest.raises(KeyError):
                _lookup(props, path)
            continue
        m = _lookup(props, path)
        if es_type in ("vendor", "labels"):
            assert m == {"type": "object"}
        else:
            assert m["type"] == EXPECTED_LEAF[es_type], path
        if es_type == "keyword":
            assert m["ignore_above"] == 1024
        if es_type == "keyword_noindex":
            assert m["index"] is False and m["doc_values"] is False


def test_text_fallback_for_clusters_without_match_only_text():
    text = render_templates(text_type="text")
    body = text["component_template.shippers-ecs-mappings.json"]["template"]["mappings"]
    assert body["properties"]["message"]["type"] == "text"
    assert "match_only_text" not in orjson.dumps(body).decode()


def test_vendor_fields_become_keyword_whatever_their_json_type():
    dyn = mappings()["dynamic_templates"]
    for path in ("crowdstrike", "panw.panos", "labels"):
        rules = [next(iter(d.values())) for d in dyn]
        mine = [r for r in rules if r.get("path_match") == f"{path}.*"]
        assert {r["match_mapping_type"] for r in mine} >= {"string", "long", "double", "boolean"}
        assert all(r["mapping"]["type"] == "keyword" for r in mine)
    m = mappings()
    assert m["date_detection"] is False and m["numeric_detection"] is False


def test_index_templates_per_source_compose_the_components():
    files = render_templates(prefix="acme")
    for source in ("falcon", "panos"):
        t = files[f"index_template.acme-{source}.json"]
        assert t["index_patterns"] == [f"acme-{source}-*"]
        for comp in t["composed_of"]:
            assert f"component_template.{comp}.json" in files
        assert t["ignore_missing_component_templates"] == ["acme-ilm"]
    ilm = files["component_template.acme-ilm.json"]["template"]["settings"]
    assert ilm["index.lifecycle.name"] == "acme-logs"
    assert "ilm_policy.acme-logs.json" in files


# -- ILM policy against the documented structure of PUT _ilm/policy/<name> ----------------
# https://www.elastic.co/guide/en/elasticsearch/reference/8.19/ilm-index-lifecycle.html
_PHASE_ORDER = ["hot", "warm", "cold", "frozen", "delete"]
_ACTIONS = {
    "hot": {"set_priority", "unfollow", "rollover", "read_only", "shrink", "forcemerge",
            "searchable_snapshot", "downsample"},
    "warm": {"set_priority", "unfollow", "read_only", "allocate", "migrate", "shrink",
             "forcemerge", "downsample"},
    "cold": {"set_priority", "unfollow", "read_only", "searchable_snapshot", "allocate",
             "migrate", "downsample"},
    "frozen": {"unfollow", "searchable_snapshot"},
    "delete": {"wait_for_snapshot", "delete"},
}  # fmt: skip
_ROLLOVER_CONDITIONS = {
    "max_age", "max_docs", "max_size", "max_primary_shard_size", "max_primary_shard_docs",
    "min_age", "min_docs", "min_size", "min_primary_shard_size", "min_primary_shard_docs",
}  # fmt: skip
_TIME = re.compile(r"^\d+(d|h|m|s|ms|micros|nanos)$")
_BYTES = re.compile(r"^\d+(b|kb|mb|gb|tb|pb)$")


def _to_seconds(v: str) -> float:
    n, unit = re.match(r"^(\d+)([a-z]+)$", v).groups()  # type: ignore[union-attr]
    return int(n) * {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 1e-3, "micros": 1e-6,
                     "nanos": 1e-9}[unit]  # fmt: skip


@pytest.mark.parametrize("days", [1, 14, 30])
def test_ilm_policy_is_valid_for_the_ilm_api(days):
    body = ilm_policy(days)
    assert set(body) == {"policy"}
    policy = body["policy"]
    assert set(policy) <= {"phases", "_meta"}
    phases = policy["phases"]
    assert phases and set(phases) <= set(_PHASE_ORDER)
    ages = []
    for name in sorted(phases, key=_PHASE_ORDER.index):
        phase = phases[name]
        assert set(phase) <= {"min_age", "actions"}
        assert _TIME.match(phase.get("min_age", "0ms"))
        ages.append(_to_seconds(phase.get("min_age", "0ms")))
        assert set(phase["actions"]) <= _ACTIONS[name], name
    assert ages == sorted(ages), "min_age must not decrease from phase to phase"
    rollover = phases["hot"]["actions"]["rollover"]
    assert rollover and set(rollover) <= _ROLLOVER_CONDITIONS
    assert rollover == {"max_age": "1d", "max_primary_shard_size": "50gb"}
    assert _TIME.match(rollover["max_age"]) and _BYTES.match(rollover["max_primary_shard_size"])
    assert phases["delete"] == {"min_age": f"{days}d", "actions": {"delete": {}}}
    orjson.dumps(body)  # JSON-serializable as is
