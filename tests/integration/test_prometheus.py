"""A real Prometheus scrapes a running shipper; its delivered counter matches the output.

`python -m shippers run --config X` runs as a subprocess with `[metrics] listen` set, a
`files` source over PAN-OS and Falcon corpus files and an `ndjson` sink. A `panos-syslog`
listener on 127.0.0.1 (which receives nothing) keeps the process up after the files are
shipped, as a real deployment's long-running source does, so /metrics stays served
whether or not `run` exits once finite sources are drained. Prometheus
(Debian's binary, scraping every second) must then report exactly the number of
documents in the output file for `shippers_events_delivered_total`, and delivered plus
dead-lettered must account for every input line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.golden import CORPUS
from tests.services import free_port

pytestmark = pytest.mark.prometheus

FALCON = sorted((CORPUS / "crowdstrike-fdr").glob("*.log"))
PANOS = sorted((CORPUS / "panw-panos").glob("*.log"))


def _count_lines(paths: list[Path]) -> int:
    """Non-blank lines: what the files source reads as events."""
    return sum(1 for p in paths for line in p.read_bytes().splitlines() if line.strip())


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"shipper exited early ({proc.returncode}) while waiting for {what}"
            )
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def test_prometheus_reports_exact_delivered_count(prometheus, tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "out.ndjson"
    dead = tmp_path / "dead.ndjson"
    config = tmp_path / "shipper.toml"
    config.write_text(
        f"""
state_dir = "{tmp_path / "state"}"
[metrics]
listen = "127.0.0.1:{port}"
[dead_letter]
path = "{dead}"
[[sources]]
type = "files"
paths = {json.dumps([str(p) for p in FALCON])}
format = "falcon"
[[sources]]
type = "files"
paths = {json.dumps([str(p) for p in PANOS])}
format = "panos"
[[sources]]
type = "panos-syslog"
host = "127.0.0.1"
udp_port = 0
tcp_port = 0
[[sinks]]
type = "ndjson"
path = "{out}"
"""
    )
    total = _count_lines(FALCON) + _count_lines(PANOS)
    assert total > 500  # the corpus is there and sizeable

    proc = subprocess.Popen(
        [sys.executable, "-m", "shippers", "run", "--config", str(config)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    target = f"127.0.0.1:{port}"
    try:
        # The shipper's own endpoint first: files shipped, every line accounted for.
        def shipped() -> bool:
            n_out = len(out.read_bytes().splitlines()) if out.exists() else 0
            n_dead = len(dead.read_bytes().splitlines()) if dead.exists() else 0
            return n_out + n_dead == total

        _wait_for(shipped, 60, "all corpus lines delivered or dead-lettered", proc)
        delivered = len(out.read_bytes().splitlines())
        dead_lettered = len(dead.read_bytes().splitlines()) if dead.exists() else 0
        assert delivered > 0
        assert proc.poll() is None, "the shipper must keep serving /metrics after shipping"

        health = requests.get(f"http://{target}/healthz", timeout=5)
        assert health.status_code == 200

        prometheus.scrape([target])
        prometheus.wait_until_up(target, timeout=30)
        job = f'job="shippers", instance="{target}"'

        def prom_delivered() -> float | None:
            v = prometheus.query_value(f"sum(shippers_events_delivered_total{{{job}}})")
            return v if v == delivered else None

        _wait_for(prom_delivered, 30, f"Prometheus delivered == {delivered}", proc)
        assert prometheus.query_value(f"sum(shippers_events_delivered_total{{{job}}})") == delivered

        prom_dead = prometheus.query_value(f"sum(shippers_events_dead_lettered_total{{{job}}})")
        assert (prom_dead or 0) == dead_lettered
        received = prometheus.query_value(f"sum(shippers_events_received_total{{{job}}})")
        assert received == total
        by_sink = prometheus.query(f"sum by (sink) (shippers_events_delivered_total{{{job}}})")
        assert {r["metric"]["sink"]: float(r["value"][1]) for r in by_sink} == {"ndjson": delivered}
        build = prometheus.query(f"shippers_build_info{{{job}}}")
        assert build and build[0]["metric"]["version"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
