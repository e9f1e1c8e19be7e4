"""Consistency of the dashboards with the code they depend on.

Kibana (`dashboards/kibana/*.ndjson`): every line parses; ids are unique; every reference
resolves, and every `indexRefName` / `panelRefName` inside the JSON strings has its
reference; every field a visualization aggregates on, a saved search shows or sorts by,
or a query names exists in our Elasticsearch index templates (`index_templates/`) for
every index the data view matches, with a type valid for the aggregation; the committed
files equal the generator's output.

Grafana (`dashboards/grafana/shippers.json`): every metric a panel or variable queries is
defined in `shippers/metrics.py` (with the suffix its type exposes), and every label a
query groups or filters by is one of that metric's labels (or a target label).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
KIBANA = ROOT / "dashboards" / "kibana"
GRAFANA = ROOT / "dashboards" / "grafana" / "shippers.json"
TEMPLATES = ROOT / "index_templates"

NUMERIC = {
    "long",
    "integer",
    "short",
    "byte",
    "double",
    "float",
    "half_float",
    "scaled_float",
    "unsigned_long",
}
AGG_FIELD_TYPES = {
    "terms": {"keyword", "constant_keyword", "ip", "long", "integer", "short", "boolean"},
    "significant_terms": {"keyword", "ip", "long", "integer"},
    "cardinality": {"keyword", "constant_keyword", "ip", "date", "boolean", *NUMERIC},
    "sum": NUMERIC,
    "avg": NUMERIC,
    "min": NUMERIC | {"date"},
    "max": NUMERIC | {"date"},
    "histogram": NUMERIC,
    "date_histogram": {"date", "date_nanos"},
    "top_hits": {"keyword", "ip", "date", *NUMERIC},
}
SAMPLE_INDEX = {  # an index name the Elasticsearch sink writes, per data-view pattern part
    "falcon": "shippers-falcon-2026.01.31",
    "panos": "shippers-panos-2026.01.31",
}


# --- loading ----------------------------------------------------------------------------
def _objects() -> list[tuple[str, int, dict[str, Any]]]:
    out = []
    for path in sorted(KIBANA.glob("*.ndjson")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert line.strip(), f"{path.name}:{n}: blank line"
            out.append((path.name, n, json.loads(line)))
    return out


OBJECTS = _objects()
BY_KEY = {(o["type"], o["id"]): o for _, _, o in OBJECTS}


def _walk_properties(props: dict[str, Any], prefix: str, out: dict[str, dict[str, Any]]) -> None:
    for name, node in props.items():
        path = f"{prefix}{name}"
        if "properties" in node:
            _walk_properties(node["properties"], f"{path}.", out)
        if "type" in node and node["type"] != "object":
            out[path] = node


def _template_fields(directory: Path = TEMPLATES) -> dict[str, dict[str, Any]] | None:
    """{index template file: {patterns, fields}} from index_templates/, or None if absent."""
    if not directory.is_dir():
        return None
    bodies = {p.name: json.loads(p.read_text()) for p in directory.glob("*.json")}
    components = {}
    for name, body in bodies.items():
        if name.startswith("component_template."):
            components[name.removeprefix("component_template.").removesuffix(".json")] = body
    result = {}
    for name, body in bodies.items():
        if "index_patterns" not in body:
            continue
        fields: dict[str, dict[str, Any]] = {}
        for comp in body.get("composed_of", []):
            mappings = components.get(comp, {}).get("template", {}).get("mappings", {})
            _walk_properties(mappings.get("properties", {}), "", fields)
        _walk_properties(
            body.get("template", {}).get("mappings", {}).get("properties", {}), "", fields
        )
        result[name] = {"patterns": body["index_patterns"], "fields": fields}  # type: ignore[assignment]
    return result or None


def _schema_fields() -> dict[str, dict[str, Any]]:
    from shippers.schema import iter_leaf_fields

    out = {}
    for path, es_type, _ in iter_leaf_fields():
        if es_type == "keyword_noindex":
            out[path] = {"type": "keyword", "index": False, "doc_values": False}
        elif es_type == "match_only_text":
            out[path] = {"type": "match_only_text"}
        elif es_type not in ("vendor", "labels", "none"):
            out[path] = {"type": es_type}
    return out


TEMPLATE_FIELDS = _template_fields()


def fields_for(pattern: str) -> list[dict[str, dict[str, Any]]]:
    """Field mappings of every index a data-view pattern matches (one dict per template)."""
    indices = [ix for ix in SAMPLE_INDEX.values() if fnmatch.fnmatch(ix, pattern)]
    assert indices, f"data view {pattern!r} matches no index the Elasticsearch sink writes"
    if TEMPLATE_FIELDS is None:  # templates not generated yet: the schema they come from
        return [_schema_fields()]
    matched = []
    for ix in indices:
        tpls = [
            t
            for t in TEMPLATE_FIELDS.values()
            if any(fnmatch.fnmatch(ix, p) for p in t["patterns"])
        ]
        assert tpls, f"no index template covers {ix} (data view {pattern!r})"
        matched.extend(t["fields"] for t in tpls)
    return matched


def _view_of(obj: dict[str, Any]) -> dict[str, Any]:
    ss = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    ref = next(r for r in obj["references"] if r["name"] == ss["indexRefName"])
    return BY_KEY[("index-pattern", ref["id"])]


def _kql_fields(query: str) -> list[str]:
    # `field : value`, `field:*`, `field >= 3` — strip quoted values first.
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    return re.findall(r"([A-Za-z_@][\w.@]*)\s*(?::|<=|>=|<|>)", unquoted)


def _check_field(view: dict[str, Any], field: str, *, agg: str | None, where: str) -> None:
    for mapping in fields_for(view["attributes"]["title"]):
        assert field in mapping, f"{where}: field {field!r} not in the index templates"
        m = mapping[field]
        if agg is not None:
            allowed = AGG_FIELD_TYPES[agg]
            assert m["type"] in allowed, f"{where}: {agg} on {field} ({m['type']}) is invalid"
            assert m.get("doc_values", True) and m.get("index", True), (
                f"{where}: {field} is not aggregatable"
            )


# --- NDJSON structure ---------------------------------------------------------------------
def test_every_line_is_a_saved_object_with_unique_id() -> None:
    assert len(OBJECTS) >= 15
    keys = [(o["type"], o["id"]) for _, _, o in OBJECTS]
    assert len(keys) == len(set(keys)), "duplicate saved object ids"
    for name, n, o in OBJECTS:
        assert {"type", "id", "attributes", "references"} <= o.keys(), f"{name}:{n}"
        assert o["type"] in {"index-pattern", "visualization", "search", "dashboard"}, f"{name}:{n}"
        assert o["attributes"].get("title"), f"{name}:{n}: no title"


def test_every_reference_resolves() -> None:
    for name, n, o in OBJECTS:
        names = {r["name"] for r in o["references"]}
        for ref in o["references"]:
            assert (ref["type"], ref["id"]) in BY_KEY, f"{name}:{n}: dangling reference {ref}"
        meta = o["attributes"].get("kibanaSavedObjectMeta", {})
        if meta.get("searchSourceJSON"):
            ss = json.loads(meta["searchSourceJSON"])
            if "indexRefName" in ss:
                assert ss["indexRefName"] in names, f"{name}:{n}: indexRefName without reference"
        if o["type"] == "dashboard":
            panels = json.loads(o["attributes"]["panelsJSON"])
            assert panels
            for p in panels:
                ref_name = f"{p['panelIndex']}:{p['panelRefName']}"
                ref = next((r for r in o["references"] if r["name"] == ref_name), None)
                assert ref is not None, f"{name}:{n}: panel {p['panelIndex']} has no reference"
                assert ref["type"] == p["type"]
            # Every panel fits the 48-column grid and none overlap.
            cells: set[tuple[int, int]] = set()
            for p in panels:
                g = p["gridData"]
                assert g["x"] >= 0 and g["x"] + g["w"] <= 48
                area = {
                    (x, y)
                    for x in range(g["x"], g["x"] + g["w"])
                    for y in range(g["y"], g["y"] + g["h"])
                }
                assert not cells & area, f"{o['id']}: panel {p['panelIndex']} overlaps"
                cells |= area


def test_data_views_match_the_index_names() -> None:
    views = {o["attributes"]["title"]: o for _, _, o in OBJECTS if o["type"] == "index-pattern"}
    assert set(views) == {"shippers-falcon-*", "shippers-panos-*", "shippers-*"}
    for title, view in views.items():
        assert view["attributes"]["timeFieldName"] == "@timestamp"
        _check_field(view, "@timestamp", agg="date_histogram", where=title)


def test_dashboards_exist_for_falcon_panos_and_entities() -> None:
    dashboards = {o["id"]: o for _, _, o in OBJECTS if o["type"] == "dashboard"}
    assert {"shippers-falcon-overview", "shippers-panos-overview", "shippers-entity"} <= set(
        dashboards
    )
    for dash in dashboards.values():  # each dashboard's panels stay on its data view(s)
        for ref in dash["references"]:
            assert _view_of(BY_KEY[(ref["type"], ref["id"])])


# --- fields and types -----------------------------------------------------------------------
VISUALIZATIONS = [o for _, _, o in OBJECTS if o["type"] == "visualization"]
SEARCHES = [o for _, _, o in OBJECTS if o["type"] == "search"]


@pytest.mark.parametrize("vis", VISUALIZATIONS, ids=lambda o: o["id"])
def test_visualization_fields_exist_with_valid_types(vis: dict[str, Any]) -> None:
    view = _view_of(vis)
    state = json.loads(vis["attributes"]["visState"])
    assert state["aggs"], vis["id"]
    metric_ids = {a["id"] for a in state["aggs"] if a["schema"] == "metric"}
    assert metric_ids, f"{vis['id']}: no metric"
    for agg in state["aggs"]:
        field = agg["params"].get("field")
        if agg["type"] == "count":
            continue
        assert field, f"{vis['id']}: {agg['type']} without a field"
        _check_field(view, field, agg=agg["type"], where=f"{vis['id']} agg {agg['id']}")
        if agg["type"] == "terms":
            assert agg["params"]["orderBy"] in metric_ids, f"{vis['id']}: terms ordered by nothing"
    query = json.loads(vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]
    assert query["language"] == "kuery"
    for field in _kql_fields(query["query"]):
        _check_field(view, field, agg=None, where=f"{vis['id']} query")


@pytest.mark.parametrize("search", SEARCHES, ids=lambda o: o["id"])
def test_saved_search_columns_and_sort_exist(search: dict[str, Any]) -> None:
    view = _view_of(search)
    assert search["attributes"]["columns"]
    for col in search["attributes"]["columns"]:
        _check_field(view, col, agg=None, where=f"{search['id']} column")
    for field, direction in search["attributes"]["sort"]:
        assert direction in ("asc", "desc")
        _check_field(view, field, agg="max", where=f"{search['id']} sort")


def test_kql_field_extraction() -> None:
    # The query check is only as good as this parser.
    assert _kql_fields('event.category : "process" and not host.name:"a:b"') == [
        "event.category",
        "host.name",
    ]
    assert _kql_fields("dns.question.name : * or event.severity >= 3") == [
        "dns.question.name",
        "event.severity",
    ]


def test_a_wrong_field_type_is_caught() -> None:
    # Guard against a check that passes everything: sum on a keyword must be refused.
    view = BY_KEY[("index-pattern", "shippers-panos")]
    with pytest.raises(AssertionError, match="invalid"):
        _check_field(view, "network.application", agg="sum", where="probe")
    with pytest.raises(AssertionError, match="not in the index templates"):
        _check_field(view, "network.no_such_field", agg=None, where="probe")


def test_fields_against_freshly_rendered_templates(tmp_path: Path, monkeypatch) -> None:
    # Whatever is committed in index_templates/, the generator's current output must
    # also satisfy every visualization and search (catches a schema change early).
    templates = pytest.importorskip("shippers.templates")
    templates.write_templates(tmp_path)
    fresh = _template_fields(tmp_path)
    assert fresh, "shippers.templates rendered no index template"
    monkeypatch.setattr(sys.modules[__name__], "TEMPLATE_FIELDS", fresh)
    for vis in VISUALIZATIONS:
        test_visualization_fields_exist_with_valid_types(vis)
    for search in SEARCHES:
        test_saved_search_columns_and_sort_exist(search)
    test_data_views_match_the_index_names()


def test_committed_ndjson_equals_generator_output() -> None:
    spec = importlib.util.spec_from_file_location(
        "build_saved_objects", KIBANA / "build_saved_objects.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rendered = module.render()
    committed = {p.name: p.read_text(encoding="utf-8") for p in KIBANA.glob("*.ndjson")}
    assert committed == rendered, "run: python dashboards/kibana/build_saved_objects.py"


# --- Grafana ----------------------------------------------------------------------------------
def _metric_catalog() -> dict[str, tuple[str, set[str]]]:
    """Sample name → (metric type, label names) for every metric in shippers.metrics."""
    from prometheus_client.metrics import MetricWrapperBase

    from shippers import metrics

    suffixes = {
        "counter": ["_total", "_created"],
        "gauge": [""],
        "histogram": ["_bucket", "_sum", "_count", "_created"],
        "summary": ["", "_sum", "_count", "_created"],
        "info": ["_info"],
    }
    out: dict[str, tuple[str, set[str]]] = {}
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            for family in obj.describe():
                labels = set(obj._labelnames)
                if family.type == "info":
                    labels |= {"version"}
                for suffix in suffixes[family.type]:
                    extra = {"le"} if suffix == "_bucket" else set()
                    out[family.name + suffix] = (family.type, labels | extra)
    return out


def _grafana_queries(node: Any) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                found.append(value)
            elif key == "query" and isinstance(value, (str, dict)):
                q = value if isinstance(value, str) else value.get("query", "")
                if isinstance(q, str) and "shippers_" in q:
                    found.append(q)
            else:
                found.extend(_grafana_queries(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_grafana_queries(item))
    return found


TARGET_LABELS = {"instance", "job"}


def test_grafana_queries_use_defined_metrics_and_labels() -> None:
    dash = json.loads(GRAFANA.read_text(encoding="utf-8"))
    catalog = _metric_catalog()
    queries = _grafana_queries(dash)
    assert len(queries) >= 15
    used = set()
    for q in queries:
        names = re.findall(r"\b(shippers_[a-z0-9_]+)", q)
        assert names, f"query uses none of our metrics: {q}"
        for name in names:
            assert name in catalog, f"{name} (in {q!r}) is not defined in shippers/metrics.py"
            used.add(name)
        labels = set(catalog[names[0]][1]) | TARGET_LABELS
        for m in re.finditer(r"\b(?:by|without)\s*\(([^)]*)\)", q):
            for label in filter(None, (x.strip() for x in m.group(1).split(","))):
                assert label in labels, f"groups by unknown label {label!r}: {q}"
        for sel in re.findall(r"shippers_[a-z0-9_]+\{([^}]*)\}", q):
            for label in re.findall(r"([a-z_]+)\s*(?:=~|!=|!~|=)", sel):
                assert label in labels, f"filters on unknown label {label!r}: {q}"
    # The panel groups: throughput, lag, errors, SQS.
    for must in (
        "shippers_events_delivered_total",
        "shippers_event_lag_seconds_bucket",
        "shippers_events_dead_lettered_total",
        "shippers_sqs_messages_total",
    ):
        assert must in used, f"no panel shows {must}"


def test_grafana_panels_are_well_formed() -> None:
    dash = json.loads(GRAFANA.read_text(encoding="utf-8"))
    assert dash["uid"] and dash["title"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        if p["type"] == "row":
            continue
        assert p["targets"], p["title"]
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
    variables = {v["name"] for v in dash["templating"]["list"]}
    assert {"datasource", "instance"} <= variables


def test_grafana_metric_check_catches_an_unknown_metric() -> None:
    assert "shippers_events_delivered_total" in _metric_catalog()
    assert "shippers_events_delivered" not in _metric_catalog()  # counters expose _total
    assert "shippers_no_such_metric_total" not in _metric_catalog()
