"""A real Prometheus server (Debian's `prometheus` package) on 127.0.0.1 for the tests.

Started with a temporary config and storage directory; it scrapes every second the
targets listed in a `file_sd` JSON file, so one server (a session fixture) can scrape
whatever shipper process a test starts: `handle.scrape(["127.0.0.1:PORT"])` rewrites the
file and Prometheus picks the change up (inotify) within a second or two.

As a script, starts Prometheus scraping the given targets and prints its URL:
    python -m tests.services.prometheus 127.0.0.1:9108
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.services import ServiceUnavailable, free_port, wait_for_port

__all__ = ["Prometheus", "start"]

HOW_TO_ENABLE = (
    "install Debian's prometheus package (apt-get install prometheus) or set PROMETHEUS_BIN"
)

CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: shippers
    file_sd_configs:
      - files: ["{targets}"]
        refresh_interval: 1s
"""


def _binary() -> str:
    env = os.environ.get("PROMETHEUS_BIN")
    if env:
        return env
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if not found:
        raise ServiceUnavailable(HOW_TO_ENABLE)
    return found


@dataclass
class Prometheus:
    """A running Prometheus: its URL, query helpers and the scrape target file."""

    url: str
    proc: subprocess.Popen[bytes]
    workdir: Path
    targets_file: Path
    log_path: Path
    _tmp: Any = field(repr=False, default=None)

    def scrape(self, targets: list[str]) -> None:
        """Replace the scraped targets (job `shippers`)."""
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": targets, "labels": {}}]))
        tmp.replace(self.targets_file)  # atomic: Prometheus never reads a half file

    def api(self, path: str, **params: str) -> Any:
        r = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=5)
        r.raise_for_status()
        body = r.json()
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus API error: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; the `result` vector."""
        data = self.api("query", query=expr)
        return list(data["result"])

    def query_value(self, expr: str) -> float | None:
        """The single value of an instant query, or None when the result is empty."""
        result = self.query(expr)
        if not result:
            return None
        if len(result) != 1:
            raise AssertionError(f"{expr!r} returned {len(result)} series: {result}")
        return float(result[0]["value"][1])

    def target_health(self, target: str) -> str | None:
        """'up' / 'down' / 'unknown' for an active target, None when not (yet) known."""
        for t in self.api("targets", state="active")["activeTargets"]:
            if t["labels"].get("instance") == target:
                return str(t["health"])
        return None

    def wait_until_up(self, target: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        health = None
        while time.monotonic() < deadline:
            health = self.target_health(target)
            if health == "up":
                return
            time.sleep(0.3)
        raise TimeoutError(f"target {target} not up after {timeout}s (health: {health})")

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()


def start(targets: list[str] | None = None, timeout: float = 30.0) -> Prometheus:
    """Start Prometheus on a free 127.0.0.1 port; raises ServiceUnavailable when impossible."""
    binary = _binary()
    tmp = tempfile.TemporaryDirectory(prefix="shippers-prometheus-")
    work = Path(tmp.name)
    targets_file = work / "targets.json"
    targets_file.write_text(json.dumps([{"targets": targets or [], "labels": {}}]))
    config = work / "prometheus.yml"
    config.write_text(CONFIG.format(targets=targets_file))
    port = free_port()
    log_path = work / "prometheus.log"
    cmd = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={work / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1h",
        "--log.level=warn",
    ]
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=work)
        except OSError as e:
            tmp.cleanup()
            raise ServiceUnavailable(f"cannot run {binary}: {e}; {HOW_TO_ENABLE}") from None
    handle = Prometheus(f"http://127.0.0.1:{port}", proc, work, targets_file, log_path, tmp)
    if not wait_for_port(port, timeout) or not _ready(handle, timeout):
        tail = handle.log_tail()
        handle.stop()
        raise ServiceUnavailable(f"prometheus did not become ready on port {port}: {tail}")
    return handle


def _ready(handle: Prometheus, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if handle.proc.poll() is not None:
            return False
        try:
            if requests.get(f"{handle.url}/-/ready", timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.2)
    return False


def main(argv: list[str]) -> int:
    try:
        prom = start(argv)
    except ServiceUnavailable as e:
        print(f"prometheus unavailable: {e}", file=sys.stderr)
        return 1
    print(prom.url, flush=True)
    try:
        prom.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        prom.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
