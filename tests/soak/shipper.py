"""The shipper under test as a subprocess (`python -m shippers run --config X.toml`), its
config, its /metrics and its PAN-OS syslog senders."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import requests

__all__ = ["Shipper", "SyslogSender", "parse_metrics", "write_config"]

ROOT = Path(__file__).resolve().parents[2]


def _toml(value: Any) -> str:
    return orjson.dumps(value).decode()  # JSON strings, numbers, arrays are valid TOML


def write_config(
    path: Path,
    work: Path,
    *,
    source: dict[str, Any],
    es: dict[str, Any],
    archive: dict[str, Any] | None,
    syslog_port: int,
    ops_port: int,
) -> None:
    lines = [
        f"state_dir = {_toml(str(work / 'state'))}",
        "[pipeline]",
        "workers = 2",
        "grace_period_s = 30.0",
        "[dead_letter]",
        f"path = {_toml(str(work / 'dead-letter.ndjson'))}",
        "[metrics]",
        f'listen = "127.0.0.1:{ops_port}"',
        "[[sources]]",
        'type = "falcon-fdr"',
        *(f"{k} = {_toml(v)}" for k, v in source.items()),
        "[[sources]]",
        'type = "panos-syslog"',
        'host = "127.0.0.1"',
        f"tcp_port = {syslog_port}",
        # UDP is not fed (UDP loss is counted, not prevented); port 0 keeps 5514 free
        "udp_port = 0",
        "[[sinks]]",
        'type = "elasticsearch"',
        *(f"{k} = {_toml(v)}" for k, v in es.items()),
    ]
    if archive is not None:
        lines += [
            "[[sinks]]",
            'type = "archive"',
            *(f"{k} = {_toml(v)}" for k, v in archive.items()),
        ]
    path.write_text("\n".join(lines) + "\n")


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text → {'name{labels}': value} (counters and gauges as exposed)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, val = line.rpartition(" ")
        try:
            out[key] = float(val)
        except ValueError:
            continue
    return out


class Shipper:
    """Start, SIGKILL, SIGTERM and scrape one shipper config; lifetimes are counted."""

    def __init__(self, config: Path, log: Path, ops_port: int):
        self.config = config
        self.log = log
        self.ops_url = f"http://127.0.0.1:{ops_port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONPATH": str(ROOT),
        }
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "shippers", "run", "--config", str(self.config)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.starts += 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"shipper exited {self.proc.returncode}:\n{self.tail()}")
            try:
                if requests.get(f"{self.ops_url}/healthz", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"shipper ops endpoint not up:\n{self.tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def scrape(self) -> dict[str, float]:
        r = requests.get(f"{self.ops_url}/metrics", timeout=10)
        r.raise_for_status()
        return parse_metrics(r.text)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 90) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            return -9

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""


class SyslogSender(threading.Thread):
    """Sends PAN-OS lines newline-framed over one TCP connection, in the background (a
    send may block for as long as the shipper applies back-pressure)."""

    def __init__(self, port: int, lines: list[bytes]):
        super().__init__(name="syslog-sender", daemon=True)
        self.port = port
        self.lines = lines
        self.error: str | None = None

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while True:  # only connecting is retried: a resend could duplicate lines
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    self.error = f"connect: {type(e).__name__}: {e}"
                    return
                time.sleep(0.5)
        try:
            with s:
                s.settimeout(None)  # back-pressure may stall us for a long time
                s.sendall(b"".join(ln + b"\n" for ln in self.lines))
                s.shutdown(socket.SHUT_WR)
                # The receiver closes its side once it has read everything.
                s.settimeout(120)
                while s.recv(4096):
                    pass
        except OSError as e:
            self.error = f"send: {type(e).__name__}: {e}"
