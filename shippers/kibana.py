"""Import the Kibana saved objects in `dashboards/kibana/` through Kibana's HTTP API.

Kibana's saved objects import API (`POST /api/saved_objects/_import`, or
`/s/<space>/api/saved_objects/_import` for a space) takes a multipart/form-data body with
one part named `file` holding NDJSON, requires the `kbn-xsrf` header, and with
`overwrite=true` replaces objects with the same id — which makes the import idempotent:
re-running `shippers kibana-import` after an upgrade updates the dashboards in place.

All NDJSON files go up as one file in one request, data views first, so that references
between objects of different files resolve inside the same import. The response reports
per-object errors with HTTP 200 (`success: false`); those are errors here too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "ImportResult",
    "KibanaImportError",
    "dashboards_dir",
    "import_saved_objects",
    "load_saved_objects",
]

log = logging.getLogger("shippers.kibana")


class KibanaImportError(RuntimeError):
    """Kibana refused the import (HTTP error, or per-object errors in the response)."""


@dataclass
class ImportResult:
    success_count: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    response: dict[str, Any] = field(default_factory=dict)


def dashboards_dir() -> Path:
    """`dashboards/kibana/` of the repository (or of the installed package data)."""
    repo = Path(__file__).resolve().parent.parent / "dashboards" / "kibana"
    if repo.is_dir():
        return repo
    return Path(str(resources.files("shippers").joinpath("data", "dashboards", "kibana")))


def _order(obj: dict[str, Any]) -> int:
    # Referenced objects first: data views, then saved searches / visualizations, then
    # dashboards. Kibana resolves references within one import in any order, but a
    # human reading the combined file (or an older Kibana) benefits from this order.
    return {"index-pattern": 0, "search": 1, "visualization": 2, "lens": 2, "dashboard": 3}.get(
        obj.get("type", ""), 2
    )


def load_saved_objects(directory: Path | None = None) -> list[dict[str, Any]]:
    """Every saved object of every `*.ndjson` file in `directory`, referenced objects first."""
    directory = directory or dashboards_dir()
    objects: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.ndjson")):
        for n, line in enumerate(path.read_bytes().splitlines(), 1):
            if line.strip():
                try:
                    objects.append(orjson.loads(line))
                except orjson.JSONDecodeError as e:
                    raise KibanaImportError(f"{path}:{n}: not JSON: {e}") from None
    return sorted(objects, key=_order)


def import_saved_objects(
    kibana_url: str,
    *,
    objects: list[dict[str, Any]] | None = None,
    api_key: str | None = None,
    user: str | None = None,
    password: str | None = None,
    space: str | None = None,
    timeout: float = 60.0,
    verify: bool | str = True,
) -> ImportResult:
    """POST the saved objects to Kibana's import API with overwrite; raise on any error.

    Authentication: `api_key` (the base64 `id:key` Kibana/Elasticsearch hands out) as
    `Authorization: ApiKey …`, or `user`/`password` as HTTP basic, or none.
    """
    import requests

    objects = objects if objects is not None else load_saved_objects()
    body = b"".join(orjson.dumps(o) + b"\n" for o in objects)
    base = kibana_url.rstrip("/")
    if space and space != "default":
        base = f"{base}/s/{space}"
    url = f"{base}/api/saved_objects/_import"
    headers = {"kbn-xsrf": "shippers"}
    auth = None
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    elif user:
        auth = (user, password or "")
    log.info("importing %d saved objects into %s", len(objects), url)
    resp = requests.post(
        url,
        params={"overwrite": "true"},
        headers=headers,
        auth=auth,
        files={"file": ("shippers.ndjson", body, "application/ndjson")},
        timeout=timeout,
        verify=verify,
    )
    try:
        payload: dict[str, Any] = resp.json()
    except ValueError:
        payload = {}
    if resp.status_code != 200:
        detail = payload.get("message") or resp.text[:500]
        raise KibanaImportError(f"Kibana import failed: HTTP {resp.status_code}: {detail}")
    errors = list(payload.get("errors") or [])
    result = ImportResult(int(payload.get("successCount", 0)), errors, payload)
    if not payload.get("success", False) or errors:
        summary = "; ".join(
            f"{e.get('type')}/{e.get('id')}: {e.get('error', {}).get('type', '?')}"
            for e in errors[:10]
        )
        raise KibanaImportError(f"Kibana import reported errors: {summary or payload}")
    return result
