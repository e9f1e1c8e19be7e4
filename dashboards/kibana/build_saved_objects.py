"""Generate the Kibana saved objects (`*.ndjson` beside this file).

Kibana stores a visualization's definition and its search source as JSON *strings* inside
the saved object's JSON; editing those by hand is error-prone, so the objects are written
here as Python data and serialized. `tests/unit/test_dashboards.py` checks that the
committed NDJSON equals this script's output, that every line parses, that every
reference resolves, and that every field used exists in our index templates with a type
the aggregation accepts.

Run after editing:  python dashboards/kibana/build_saved_objects.py

Legacy (aggregation-based) visualizations are used rather than Lens: their field
references are plain `params.field` values, which makes the consistency test exact, and
Kibana 8 still imports and renders them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# Versions the objects are written for. Kibana runs its migrations from these versions
# up on import, so the same files import into any later 8.x.
CORE_VERSION = "8.8.0"
TYPE_VERSION = {
    "index-pattern": "8.0.0",
    "search": "8.0.0",
    "visualization": "8.5.0",
    "dashboard": "8.7.0",
}

# Data views: one per index pattern of the Elasticsearch sink's indices
# (shippers-falcon-YYYY.MM.DD, shippers-panos-YYYY.MM.DD) and one across both.
DATA_VIEWS = {
    "shippers-falcon": ("shippers-falcon-*", "shippers: Falcon"),
    "shippers-panos": ("shippers-panos-*", "shippers: PAN-OS"),
    "shippers-all": ("shippers-*", "shippers: all sources"),
}

INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


def _saved(
    type_: str, id_: str, attributes: dict[str, Any], references: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "attributes": attributes,
        "coreMigrationVersion": CORE_VERSION,
        "id": id_,
        "references": references,
        "type": type_,
        "typeMigrationVersion": TYPE_VERSION[type_],
    }


def data_view(id_: str) -> dict[str, Any]:
    pattern, name = DATA_VIEWS[id_]
    return _saved(
        "index-pattern",
        id_,
        {
            "allowNoIndex": True,  # importable before the first index exists
            "fieldAttrs": "{}",
            "fieldFormatMap": "{}",
            "fields": "[]",
            "name": name,
            "runtimeFieldMap": "{}",
            "sourceFilters": "[]",
            "timeFieldName": "@timestamp",
            "title": pattern,
        },
        [],
    )


def _search_source(query: str) -> str:
    return _dumps(
        {
            "filter": [],
            "indexRefName": INDEX_REF,
            "query": {"language": "kuery", "query": query},
        }
    )


# --- aggregations ---------------------------------------------------------------------
def count(id_: str = "1") -> dict[str, Any]:
    return {"enabled": True, "id": id_, "params": {}, "schema": "metric", "type": "count"}


def metric(type_: str, field: str, id_: str) -> dict[str, Any]:
    return {
        "enabled": True,
        "id": id_,
        "params": {"field": field},
        "schema": "metric",
        "type": type_,
    }


def terms(field: str, id_: str, schema: str, size: int = 10, order_by: str = "1") -> dict[str, Any]:
    return {
        "enabled": True,
        "id": id_,
        "params": {
            "field": field,
            "missingBucket": False,
            "missingBucketLabel": "Missing",
            "order": "desc",
            "orderBy": order_by,
            "otherBucket": False,
            "otherBucketLabel": "Other",
            "size": size,
        },
        "schema": schema,
        "type": "terms",
    }


def date_histogram(id_: str = "2") -> dict[str, Any]:
    return {
        "enabled": True,
        "id": id_,
        "params": {
            "drop_partials": False,
            "extended_bounds": {},
            "field": "@timestamp",
            "interval": "auto",
            "min_doc_count": 1,
            "scaleMetricValues": False,
            "useNormalizedEsInterval": True,
        },
        "schema": "segment",
        "type": "date_histogram",
    }


# --- visualization types ----------------------------------------------------------------
def _bar_params(y_title: str) -> dict[str, Any]:
    return {
        "addLegend": True,
        "addTimeMarker": False,
        "addTooltip": True,
        "categoryAxes": [
            {
                "id": "CategoryAxis-1",
                "labels": {"filter": True, "show": True, "truncate": 100},
                "position": "bottom",
                "scale": {"type": "linear"},
                "show": True,
                "style": {},
                "title": {},
                "type": "category",
            }
        ],
        "grid": {"categoryLines": False},
        "labels": {"show": False},
        "legendPosition": "right",
        "seriesParams": [
            {
                "data": {"id": "1", "label": y_title},
                "drawLinesBetweenPoints": True,
                "lineWidth": 2,
                "mode": "stacked",
                "show": True,
                "showCircles": True,
                "type": "histogram",
                "valueAxis": "ValueAxis-1",
            }
        ],
        "thresholdLine": {
            "color": "#E7664C",
            "show": False,
            "style": "full",
            "value": 10,
            "width": 1,
        },
        "times": [],
        "type": "histogram",
        "valueAxes": [
            {
                "id": "ValueAxis-1",
                "labels": {"filter": False, "rotate": 0, "show": True, "truncate": 100},
                "name": "LeftAxis-1",
                "position": "left",
                "scale": {"mode": "normal", "type": "linear"},
                "show": True,
                "style": {},
                "title": {"text": y_title},
                "type": "value",
            }
        ],
    }


_TABLE_PARAMS = {
    "percentageCol": "",
    "perPage": 10,
    "showMetricsAtAllLevels": False,
    "showPartialRows": False,
    "showTotal": False,
    "totalFunc": "sum",
}

_PIE_PARAMS = {
    "addLegend": True,
    "addTooltip": True,
    "isDonut": True,
    "labels": {"last_level": True, "show": False, "truncate": 100, "values": True},
    "legendPosition": "right",
    "type": "pie",
}


def visualization(
    id_: str,
    title: str,
    view: str,
    vis_type: str,
    aggs: list[dict[str, Any]],
    *,
    query: str = "",
    description: str = "",
    y_title: str = "Count",
) -> dict[str, Any]:
    params = {
        "histogram": lambda: _bar_params(y_title),
        "table": lambda: dict(_TABLE_PARAMS),
        "pie": lambda: dict(_PIE_PARAMS),
    }[vis_type]()
    vis_state = {"aggs": aggs, "params": params, "title": title, "type": vis_type}
    return _saved(
        "visualization",
        id_,
        {
            "description": description,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source(query)},
            "title": title,
            "uiStateJSON": "{}",
            "version": 1,
            "visState": _dumps(vis_state),
        },
        [{"id": view, "name": INDEX_REF, "type": "index-pattern"}],
    )


def saved_search(
    id_: str, title: str, view: str, columns: list[str], *, query: str = "", description: str = ""
) -> dict[str, Any]:
    return _saved(
        "search",
        id_,
        {
            "columns": columns,
            "description": description,
            "grid": {},
            "hideChart": False,
            "isTextBasedQuery": False,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source(query)},
            "sort": [["@timestamp", "desc"]],
            "title": title,
        },
        [{"id": view, "name": INDEX_REF, "type": "index-pattern"}],
    )


def dashboard(
    id_: str, title: str, description: str, panels: list[tuple[dict[str, Any], int, int]]
) -> dict[str, Any]:
    """`panels`: (saved object, width, height) laid out left to right on a 48-column grid."""
    out_panels = []
    refs = []
    x = y = row_h = 0
    for i, (obj, w, h) in enumerate(panels):
        if x + w > 48:
            x, y, row_h = 0, y + row_h, 0
        pid = str(i + 1)
        out_panels.append(
            {
                "embeddableConfig": {"enhancements": {}},
                "gridData": {"h": h, "i": pid, "w": w, "x": x, "y": y},
                "panelIndex": pid,
                "panelRefName": f"panel_{pid}",
                "type": obj["type"],
                "version": CORE_VERSION,
            }
        )
        refs.append({"id": obj["id"], "name": f"{pid}:panel_{pid}", "type": obj["type"]})
        x += w
        row_h = max(row_h, h)
    return _saved(
        "dashboard",
        id_,
        {
            "description": description,
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": _dumps(
                    {"filter": [], "query": {"language": "kuery", "query": ""}}
                )
            },
            "optionsJSON": _dumps(
                {"hidePanelTitles": False, "syncColors": False, "useMargins": True}
            ),
            "panelsJSON": _dumps(out_panels),
            "refreshInterval": {"pause": True, "value": 0},
            "timeFrom": "now-24h",
            "timeRestore": True,
            "timeTo": "now",
            "title": title,
            "version": 1,
        },
        refs,
    )


# --- the objects ------------------------------------------------------------------------
def falcon_objects() -> list[dict[str, Any]]:
    v = "shippers-falcon"
    over_time = visualization(
        "shippers-falcon-events-over-time",
        "Falcon: events over time by category",
        v,
        "histogram",
        [count(), date_histogram("2"), terms("event.category", "3", "group", size=8)],
    )
    process = visualization(
        "shippers-falcon-process-by-host",
        "Falcon: process activity by host",
        v,
        "table",
        [
            count(),
            terms("host.name", "2", "bucket", size=20),
            terms("process.name", "3", "bucket", size=5),
            metric("cardinality", "process.command_line", "4"),
        ],
        query='event.category : "process"',
        description="Process events per host, top process names, distinct command lines.",
    )
    top_procs = visualization(
        "shippers-falcon-top-processes",
        "Falcon: top processes",
        v,
        "pie",
        [count(), terms("process.name", "2", "segment", size=15)],
        query='event.category : "process"',
    )
    network = visualization(
        "shippers-falcon-network-by-host",
        "Falcon: network activity by host",
        v,
        "table",
        [
            count(),
            terms("host.name", "2", "bucket", size=20),
            terms("destination.port", "3", "bucket", size=5),
            metric("cardinality", "destination.ip", "4"),
        ],
        query='event.category : "network"',
        description="Network connections per host and destination port; distinct peers.",
    )
    dns = visualization(
        "shippers-falcon-dns-by-host",
        "Falcon: DNS activity by host",
        v,
        "table",
        [
            count(),
            terms("host.name", "2", "bucket", size=20),
            terms("dns.question.name", "3", "bucket", size=10),
        ],
        query="dns.question.name : *",
    )
    alerts = visualization(
        "shippers-falcon-alerts-by-host",
        "Falcon: alerts by host",
        v,
        "histogram",
        [
            count(),
            terms("host.name", "2", "segment", size=20),
            terms("event.action", "3", "group", size=10),
        ],
        query='event.kind : "alert"',
    )
    events = saved_search(
        "shippers-falcon-events",
        "Falcon: events",
        v,
        [
            "host.name",
            "event.action",
            "process.name",
            "process.command_line",
            "user.name",
            "destination.ip",
            "dns.question.name",
        ],
    )
    dash = dashboard(
        "shippers-falcon-overview",
        "Falcon overview",
        "CrowdStrike Falcon telemetry shipped by shippers: process, network and DNS "
        "activity by host.",
        [
            (over_time, 48, 12),
            (process, 24, 15),
            (top_procs, 24, 15),
            (network, 24, 15),
            (dns, 24, 15),
            (alerts, 48, 12),
            (events, 48, 15),
        ],
    )
    return [over_time, process, top_procs, network, dns, alerts, events, dash]


# Threat logs carry `event.category: network` too (with intrusion_detection); traffic
# panels leave the alerts out so session counts are sessions.
TRAFFIC = 'event.category : "network" and not event.kind : "alert"'


def panos_objects() -> list[dict[str, Any]]:
    v = "shippers-panos"
    traffic_time = visualization(
        "shippers-panos-traffic-over-time",
        "PAN-OS: traffic bytes over time by action",
        v,
        "histogram",
        [
            metric("sum", "network.bytes", "1"),
            date_histogram("2"),
            terms("event.action", "3", "group", size=8),
        ],
        query=TRAFFIC,
        y_title="Bytes",
    )
    zones = visualization(
        "shippers-panos-traffic-by-zone",
        "PAN-OS: traffic by zone",
        v,
        "table",
        [
            metric("sum", "network.bytes", "1"),
            terms("observer.ingress.zone", "2", "bucket", size=10),
            terms("observer.egress.zone", "3", "bucket", size=10),
            count("4"),
        ],
        query=TRAFFIC,
        description="Bytes and sessions from ingress zone to egress zone.",
    )
    apps = visualization(
        "shippers-panos-traffic-by-app",
        "PAN-OS: traffic by application",
        v,
        "histogram",
        [
            metric("sum", "network.bytes", "1"),
            terms("network.application", "2", "segment", size=20),
        ],
        query=TRAFFIC,
        y_title="Bytes",
    )
    severity = visualization(
        "shippers-panos-threats-by-severity",
        "PAN-OS: threats by severity",
        v,
        "pie",
        [count(), terms("log.level", "2", "segment", size=10)],
        query='event.category : "intrusion_detection"',
    )
    threat_hosts = visualization(
        "shippers-panos-threats-by-source",
        "PAN-OS: threats by source and destination",
        v,
        "table",
        [
            count(),
            terms("log.level", "2", "bucket", size=5),
            terms("source.ip", "3", "bucket", size=10),
            terms("destination.ip", "4", "bucket", size=10),
        ],
        query='event.category : "intrusion_detection"',
    )
    talkers = visualization(
        "shippers-panos-top-talkers",
        "PAN-OS: top talkers",
        v,
        "table",
        [
            metric("sum", "network.bytes", "1"),
            terms("source.ip", "2", "bucket", size=20),
            metric("cardinality", "destination.ip", "3"),
        ],
        query=TRAFFIC,
    )
    events = saved_search(
        "shippers-panos-events",
        "PAN-OS: events",
        v,
        [
            "observer.hostname",
            "event.action",
            "source.ip",
            "destination.ip",
            "destination.port",
            "network.application",
            "rule.name",
            "log.level",
        ],
    )
    dash = dashboard(
        "shippers-panos-overview",
        "PAN-OS overview",
        "Palo Alto Networks firewall logs shipped by shippers: traffic by zone and "
        "application, threats by severity.",
        [
            (traffic_time, 48, 12),
            (zones, 24, 15),
            (apps, 24, 15),
            (severity, 16, 15),
            (threat_hosts, 32, 15),
            (talkers, 24, 15),
            (events, 24, 15),
        ],
    )
    return [traffic_time, zones, apps, severity, threat_hosts, talkers, events, dash]


def entity_objects() -> list[dict[str, Any]]:
    v = "shippers-all"
    timeline = saved_search(
        "shippers-entity-timeline",
        "Entity: timeline across Falcon and PAN-OS",
        v,
        [
            "event.dataset",
            "host.name",
            "user.name",
            "source.ip",
            "destination.ip",
            "destination.port",
            "event.action",
            "process.name",
            "network.application",
            "dns.question.name",
        ],
        description='Filter with e.g. related.ip : "10.0.0.5" or related.user : "alice".',
    )
    by_source = visualization(
        "shippers-entity-events-by-source",
        "Entity: events over time by source",
        v,
        "histogram",
        [count(), date_histogram("2"), terms("event.dataset", "3", "group", size=5)],
    )
    ips = visualization(
        "shippers-entity-ips",
        "Entity: IPs seen by both sources",
        v,
        "table",
        [
            count(),
            terms("related.ip", "2", "bucket", size=20),
            terms("event.dataset", "3", "bucket", size=3),
        ],
    )
    users = visualization(
        "shippers-entity-users",
        "Entity: users",
        v,
        "table",
        [
            count(),
            terms("related.user", "2", "bucket", size=20),
            terms("event.dataset", "3", "bucket", size=3),
        ],
    )
    hosts = visualization(
        "shippers-entity-hosts",
        "Entity: hosts",
        v,
        "table",
        [
            count(),
            terms("related.hosts", "2", "bucket", size=20),
            terms("event.dataset", "3", "bucket", size=3),
        ],
    )
    dash = dashboard(
        "shippers-entity",
        "Entity view: one IP, host or user across Falcon and PAN-OS",
        'Type the entity into the query bar, e.g. related.ip : "10.0.0.5", '
        'related.user : "alice" or host.name : "WIN-01" — every panel then shows that '
        "entity's endpoint and firewall activity side by side.",
        [
            (by_source, 48, 12),
            (ips, 16, 15),
            (users, 16, 15),
            (hosts, 16, 15),
            (timeline, 48, 20),
        ],
    )
    return [by_source, ips, users, hosts, timeline, dash]


FILES = {
    "data_views.ndjson": lambda: [data_view(i) for i in DATA_VIEWS],
    "falcon_overview.ndjson": falcon_objects,
    "panos_overview.ndjson": panos_objects,
    "entity_view.ndjson": entity_objects,
}


def render() -> dict[str, str]:
    """File name → NDJSON text (one saved object per line, keys sorted)."""
    return {
        name: "".join(json.dumps(o, sort_keys=True, ensure_ascii=False) + "\n" for o in make())
        for name, make in FILES.items()
    }


def main() -> None:
    for name, text in render().items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
