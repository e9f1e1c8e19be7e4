"""`shippers setup`: install the generated templates (and the ILM policy where there is ILM).

Feature detection, because the same code must work on a full Elasticsearch and on the
no-X-Pack distribution the tests run:
- ILM: `GET _ilm/status` answers 200 only where ILM exists (4xx/405 otherwise). With ILM,
  the policy and the component template that points indices at it are installed; without,
  retention is `shippers retention` (and the periodic call from `run`).
- `match_only_text`: refused with a mapping error where the `mapper-extras` module is
  missing; the mappings are then installed with `text` instead.
Every step is a PUT of the full object, so running setup again is harmless (idempotent).

No write aliases or bootstrap indices are needed: documents go straight to dated indices
(see `shippers.es_bulk`), which the index templates shape on creation; each dated index
joins the read aliases `<prefix>-<source>` and `<prefix>-all` through its template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .templates import DEFAULT_RETENTION_DAYS, render_templates, template_names

__all__ = ["ClusterFeatures", "detect_features", "has_ilm", "install"]


@dataclass
class ClusterFeatures:
    ilm: bool
    data_streams: bool
    match_only_text: bool | None = None  # known after the mappings were installed
    notes: list[str] = field(default_factory=list)


def _status(es: Any, method: str, path: str) -> int:
    from elasticsearch import ApiError

    try:
        return int(
            es.perform_request(method, path, headers={"accept": "application/json"}).meta.status
        )
    except ApiError as e:
        return int(e.meta.status)


def has_ilm(es: Any) -> bool:
    return _status(es, "GET", "/_ilm/status") == 200


def detect_features(es: Any) -> ClusterFeatures:
    return ClusterFeatures(
        ilm=has_ilm(es),
        data_streams=_status(es, "GET", "/_data_stream") == 200,
    )


def _put(es: Any, path: str, body: dict[str, Any]) -> None:
    es.perform_request(
        "PUT",
        path,
        headers={"content-type": "application/json", "accept": "application/json"},
        body=body,
    )


def install(
    es: Any, prefix: str = "shippers", retention_days: int = DEFAULT_RETENTION_DAYS
) -> ClusterFeatures:
    """Install (or update) everything for `prefix`; returns what the cluster offers."""
    from elasticsearch import ApiError

    feats = detect_features(es)
    names = template_names(prefix)
    files = render_templates(prefix, retention_days)
    mappings = files[f"component_template.{names['mappings']}.json"]
    try:
        _put(es, f"/_component_template/{names['mappings']}", mappings)
        feats.match_only_text = True
    except ApiError as e:
        if e.meta.status != 400 or "match_only_text" not in str(e.body):
            raise
        # No mapper-extras module (e.g. the no-X-Pack distribution): plain `text`.
        files = render_templates(prefix, retention_days, text_type="text")
        _put(es, f"/_component_template/{names['mappings']}", files[
            f"component_template.{names['mappings']}.json"])  # fmt: skip
        feats.match_only_text = False
        feats.notes.append("match_only_text unsupported: `message` mapped as text")
    _put(es, f"/_component_template/{names['settings']}",
         files[f"component_template.{names['settings']}.json"])  # fmt: skip
    if feats.ilm:
        _put(es, f"/_ilm/policy/{names['policy']}", files[f"ilm_policy.{names['policy']}.json"])
        _put(es, f"/_component_template/{names['ilm']}",
             files[f"component_template.{names['ilm']}.json"])  # fmt: skip
    else:
        feats.notes.append(
            "no ILM on this cluster: run `shippers retention` (or `shippers run`, which "
            "applies it periodically) to delete indices past the retention window"
        )
    for key, name in names.items():
        if key.startswith("index:"):
            _put(es, f"/_index_template/{name}", files[f"index_template.{name}.json"])
    return feats
