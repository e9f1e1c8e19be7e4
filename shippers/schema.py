"""The event JSON Schema in `schemas/` and a cached validator for it.

The schema file ships inside the package too (`shippers/data/`), so an installed
`shippers` can validate without the repository; a test keeps the two copies identical.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterator
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

__all__ = ["REPO_SCHEMAS", "event_schema", "event_validator", "iter_leaf_fields", "schema_errors"]

REPO_SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
EVENT_SCHEMA_NAME = "ecs_event.schema.json"


@functools.cache
def event_schema() -> dict[str, Any]:
    """The ECS event schema: the repository copy when present, else the packaged one."""
    repo = REPO_SCHEMAS / EVENT_SCHEMA_NAME
    if repo.exists():
        return orjson.loads(repo.read_bytes())
    data = resources.files("shippers").joinpath("data", EVENT_SCHEMA_NAME).read_bytes()
    return orjson.loads(data)


@functools.cache
def event_validator() -> Any:
    import jsonschema

    # Our own format checks: "ip" (v4 or v6, as the Elasticsearch ip type takes) is not a
    # standard format, and "date-time" is only checked by jsonschema when an optional
    # package is installed — both must be enforced whatever is installed.
    checker = jsonschema.FormatChecker()

    @checker.checks("ip", raises=ValueError)
    def _ip(value: object) -> bool:
        if isinstance(value, str):
            ipaddress.ip_address(value)
        return True

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if isinstance(value, str):
            if "T" not in value:
                raise ValueError("no T separator")
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise ValueError("no UTC offset")
        return True

    return jsonschema.Draft202012Validator(event_schema(), format_checker=checker)


def schema_errors(doc: dict[str, Any]) -> list[str]:
    """Every violation of the event schema in `doc`, as 'path: message' strings."""
    return [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in event_validator().iter_errors(doc)
    ]


def iter_leaf_fields(
    node: dict[str, Any] | None = None, prefix: str = ""
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(dotted path, x-es-type, schema node) for every leaf field of the event schema."""
    node = node if node is not None else event_schema()
    for name, sub in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        if "x-es-type" in sub:
            yield path, sub["x-es-type"], sub
        elif sub.get("type") == "object":
            yield from iter_leaf_fields(sub, path)
