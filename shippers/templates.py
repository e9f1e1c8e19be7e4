"""Elasticsearch index templates and the ILM policy, generated from the event schema.

`render_templates()` walks `schemas/ecs_event.schema.json` (every leaf carries `x-es-type`)
and returns the files of `index_templates/`: two component templates (ECS mappings, index
settings), one for the ILM setting (installed only where the cluster has ILM), one
composable index template per source (`<prefix>-falcon-*`, `<prefix>-panos-*`), and the
ILM policy. The committed `index_templates/` must equal a fresh render (a test checks it);
regenerate with `python -m shippers.templates` after changing the schema.

Mapping choices:
- `keyword` leaves get `ignore_above: 1024` (ECS convention): a longer value stays in
  `_source` but is not indexed, instead of failing the whole document.
- `match_only_text` (ECS `message`) needs the `mapper-extras` module, which the
  no-X-Pack test distribution lacks; `shippers setup` falls back to `text` there
  (`render_templates(text_type="text")`).
- Vendor objects (`crowdstrike.*`, `panw.panos.*`) and `labels.*` are mapped by dynamic
  templates to `keyword`, whatever JSON type a value has, so a new vendor field can never
  turn into a `long` or `date` that later values conflict with (date/numeric detection off).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from .schema import REPO_SCHEMAS, event_schema, iter_leaf_fields

__all__ = [
    "OUT_DIR",
    "SOURCES",
    "ilm_policy",
    "index_pattern",
    "mappings",
    "render_templates",
    "template_names",
    "write_templates",
]

SOURCES = ("falcon", "panos")
OUT_DIR = REPO_SCHEMAS.parent / "index_templates"
KEYWORD_IGNORE_ABOVE = 1024
DEFAULT_RETENTION_DAYS = 14

_SIMPLE: dict[str, dict[str, Any]] = {
    "keyword": {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE},
    "ip": {"type": "ip"},
    "date": {"type": "date"},
    "long": {"type": "long"},
    "double": {"type": "double"},
    "boolean": {"type": "boolean"},
    # event.original: kept for the analyst in _source only (large, never searched on).
    "keyword_noindex": {"type": "keyword", "index": False, "doc_values": False},
}


def index_pattern(prefix: str, source: str) -> str:
    return f"{prefix}-{source}-*"


def template_names(prefix: str) -> dict[str, str]:
    """Names of the installed objects for an index prefix."""
    return {
        "mappings": f"{prefix}-ecs-mappings",
        "settings": f"{prefix}-settings",
        "ilm": f"{prefix}-ilm",
        "policy": f"{prefix}-logs",
        **{f"index:{s}": f"{prefix}-{s}" for s in SOURCES},
    }


def _leaf_mapping(es_type: str, text_type: str) -> dict[str, Any] | None:
    if es_type in _SIMPLE:
        return dict(_SIMPLE[es_type])
    if es_type == "match_only_text":
        return (
            {"type": "match_only_text"}
            if text_type == "match_only_text"
            else {
                "type": "text",
                "norms": False,
            }
        )
    if es_type in ("vendor", "labels"):
        return {"type": "object"}  # contents mapped by the dynamic templates below
    if es_type == "none":
        return None  # e.g. `_id`: carried in the bulk action, never in _source
    raise ValueError(f"unknown x-es-type {es_type!r} in the event schema")


def _dynamic_templates() -> list[dict[str, Any]]:
    keyword = {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
    out: list[dict[str, Any]] = []
    vendor_paths = [p for p, t, _ in iter_leaf_fields() if t in ("vendor", "labels")]
    for path in vendor_paths:
        name = path.replace(".", "_")
        # One template per JSON type: strings, numbers and booleans all become keyword.
        for json_type in ("string", "long", "double", "boolean"):
            out.append(
                {
                    f"{name}_{json_type}_as_keyword": {
                        "path_match": f"{path}.*",
                        "match_mapping_type": json_type,
                        "mapping": keyword,
                    }
                }
            )
    # Anything else dynamic (a field the schema does not know yet): keyword, not text.
    out.append({"strings_as_keyword": {"match_mapping_type": "string", "mapping": keyword}})
    return out


def mappings(text_type: str = "match_only_text") -> dict[str, Any]:
    """The ECS `mappings` body generated from the schema."""
    props: dict[str, Any] = {}
    for path, es_type, _node in iter_leaf_fields():
        leaf = _leaf_mapping(es_type, text_type)
        if leaf is None:
            continue
        parts = path.split(".")
        cur = props
        for part in parts[:-1]:
            cur = cur.setdefault(part, {"properties": {}})["properties"]
        cur[parts[-1]] = leaf
    return {
        "date_detection": False,
        "numeric_detection": False,
        "dynamic_templates": _dynamic_templates(),
        "properties": _sorted(props),
    }


def _sorted(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted(v) if isinstance(v, dict) else v for k, v in sorted(d.items())}


def ilm_policy(retention_days: int = DEFAULT_RETENTION_DAYS) -> dict[str, Any]:
    """Hot with rollover (1 day or 50 GB primary shard), delete after `retention_days`.

    Indices are dated by event day (`<prefix>-<source>-YYYY.MM.DD`), so they "roll over"
    by name; the index template sets `index.lifecycle.indexing_complete: true`, which makes
    ILM skip the rollover action for them (it would otherwise wait for a write alias) and
    count the delete phase's `min_age` from index creation. The rollover action stays in
    the policy for indices written through an alias.
    """
    return {
        "policy": {
            "_meta": {"managed_by": "shippers", "description": "short rolling retention"},
            "phases": {
                "hot": {
                    "min_age": "0ms",
                    "actions": {
                        "rollover": {"max_age": "1d", "max_primary_shard_size": "50gb"},
                        "set_priority": {"priority": 100},
                    },
                },
                "delete": {"min_age": f"{retention_days}d", "actions": {"delete": {}}},
            },
        }
    }


def render_templates(
    prefix: str = "shippers",
    retention_days: int = DEFAULT_RETENTION_DAYS,
    text_type: str = "match_only_text",
) -> dict[str, dict[str, Any]]:
    """{file name: JSON body} for every object `shippers setup` installs."""
    names = template_names(prefix)
    version = _schema_version()
    meta = {"managed_by": "shippers", "schema": version}
    files: dict[str, dict[str, Any]] = {
        f"component_template.{names['mappings']}.json": {
            "template": {"mappings": mappings(text_type)},
            "_meta": meta,
        },
        f"component_template.{names['settings']}.json": {
            "template": {
                "settings": {
                    "index.number_of_shards": 1,
                    # 0 replicas on a one-node cluster, 1 as soon as there is a second node.
                    "index.auto_expand_replicas": "0-1",
                    "index.refresh_interval": "5s",
                    # Vendor objects add fields per event type; the ECS part is ~330 leaves.
                    "index.mapping.total_fields.limit": 5000,
                    "index.query.default_field": ["message", "event.original"],
                }
            },
            "_meta": meta,
        },
        f"component_template.{names['ilm']}.json": {
            "template": {
                "settings": {
                    "index.lifecycle.name": names["policy"],
                    "index.lifecycle.indexing_complete": True,
                }
            },
            "_meta": meta,
        },
        f"ilm_policy.{names['policy']}.json": ilm_policy(retention_days),
    }
    for i, source in enumerate(SOURCES):
        files[f"index_template.{names['index:' + source]}.json"] = {
            "index_patterns": [index_pattern(prefix, source)],
            "composed_of": [names["mappings"], names["settings"], names["ilm"]],
            # The ILM component exists only on clusters with ILM (installed by setup).
            "ignore_missing_component_templates": [names["ilm"]],
            "priority": 200 + i,
            "template": {"aliases": {f"{prefix}-{source}": {}, f"{prefix}-all": {}}},
            "_meta": {**meta, "source": source},
        }
    return files


def _schema_version() -> str:
    sid = str(event_schema().get("$id", ""))
    return sid.rsplit("/", 1)[-1] or "ecs_event"


def dumps(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"


def write_templates(out_dir: Path = OUT_DIR) -> list[Path]:
    """(Re)write `index_templates/` from the schema; removes stale generated files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = render_templates()
    written = []
    for old in out_dir.glob("*.json"):
        if old.name not in files:
            old.unlink()
    for name, body in files.items():
        p = out_dir / name
        p.write_bytes(dumps(body))
        written.append(p)
    return written


if __name__ == "__main__":
    for p in write_templates(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_DIR):
        print(p)
