"""The ops endpoint: /healthz (alive), /readyz (sinks ready), /metrics (Prometheus text)."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from shippers import metrics
from shippers.errors import ConfigError
from shippers.ops_server import parse_listen, start_ops_server


@pytest.fixture
def server_factory():
    started = []

    def make(ready=lambda: True):
        s = start_ops_server("127.0.0.1:0", ready=ready)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


def test_healthz_is_alive_even_when_not_ready(server_factory) -> None:
    s = server_factory(ready=lambda: False)
    r = requests.get(f"{s.url}/healthz", timeout=5)
    assert r.status_code == 200 and r.text.strip() == "ok"


def test_readyz_follows_the_ready_callback(server_factory) -> None:
    state = {"ready": True}
    s = server_factory(ready=lambda: state["ready"])
    assert requests.get(f"{s.url}/readyz", timeout=5).status_code == 200
    assert metrics.value("shippers_ready") == 1
    state["ready"] = False
    r = requests.get(f"{s.url}/readyz", timeout=5)
    assert r.status_code == 503 and "not ready" in r.text
    assert metrics.value("shippers_ready") == 0
    state["ready"] = True
    assert requests.get(f"{s.url}/readyz", timeout=5).status_code == 200


def test_readyz_is_503_when_the_check_raises(server_factory) -> None:
    def broken() -> bool:
        raise ConnectionError("es down")

    s = server_factory(ready=broken)
    r = requests.get(f"{s.url}/readyz", timeout=5)
    assert r.status_code == 503 and "ConnectionError" in r.text
    # The server survives the failing check.
    assert requests.get(f"{s.url}/healthz", timeout=5).status_code == 200


def test_metrics_exposes_our_counters_in_prometheus_format(server_factory) -> None:
    s = server_factory()
    before = metrics.value(
        "shippers_events_delivered_total", {"source": "ops-test", "sink": "ndjson"}
    )
    metrics.EVENTS_DELIVERED.labels(source="ops-test", sink="ndjson").inc(7)
    r = requests.get(f"{s.url}/metrics", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    delivered = [
        smp
        for smp in families["shippers_events_delivered"].samples
        if smp.name == "shippers_events_delivered_total" and smp.labels.get("source") == "ops-test"
    ]
    assert [smp.value for smp in delivered] == [before + 7]
    build = families.get("shippers_build") or families["shippers_build_info"]
    assert build.samples[0].labels["version"]
    assert "shippers_ready" in families


def test_unknown_path_is_404(server_factory) -> None:
    s = server_factory()
    assert requests.get(f"{s.url}/nope", timeout=5).status_code == 404


def test_stop_releases_the_port() -> None:
    s = start_ops_server("127.0.0.1:0")
    port = s.port
    s.stop()
    again = start_ops_server(f"127.0.0.1:{port}")
    try:
        assert requests.get(f"{again.url}/healthz", timeout=5).status_code == 200
    finally:
        again.stop()


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:9108", ("127.0.0.1", 9108)),
        (":9108", ("127.0.0.1", 9108)),  # default host is loopback, not all interfaces
        ("9108", ("127.0.0.1", 9108)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:9108", ("::1", 9108)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["host:port", "127.0.0.1:70000", "::1:9108"])
def test_parse_listen_rejects_bad_values_naming_the_key(listen: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_listen(listen)
    assert e.value.path == "metrics.listen" and e.value.value == listen


def test_busy_port_is_a_config_error(server_factory) -> None:
    s = server_factory()
    with pytest.raises(ConfigError, match="cannot listen"):
        start_ops_server(f"127.0.0.1:{s.port}")
