"""The operations HTTP endpoint: `/metrics`, `/healthz`, `/readyz`.

- `/metrics` — Prometheus text exposition of the default registry (every metric of
  `shippers.metrics` plus the client's process/platform collectors).
- `/healthz` — 200 while the process is alive and serving: a liveness probe. It does not
  look at the sinks on purpose: restarting a shipper because Elasticsearch is down would
  only add a restart loop to the outage.
- `/readyz` — 200 when `ready()` says every sink is reachable and not backlogged, 503
  otherwise (also when `ready()` raises): what a load balancer or an orchestrator uses
  to stop sending syslog traffic to a struggling instance.

The server uses the standard library's threading HTTP server in a daemon thread: a
scrape every few seconds needs nothing more, and a hung client cannot block the pipeline.
It binds 127.0.0.1 unless the configuration names another address: metrics reveal
hostnames and queue names and should not be world-readable by accident.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from . import metrics
from .errors import ConfigError

__all__ = ["DEFAULT_HOST", "OpsServer", "parse_listen", "start_ops_server"]

log = logging.getLogger("shippers.ops")

DEFAULT_HOST = "127.0.0.1"


def parse_listen(listen: str, key: str = "metrics.listen") -> tuple[str, int]:
    """`host:port`, `[v6]:port`, `:port` or `port` → (host, port); host defaults to 127.0.0.1."""
    text = listen.strip()
    host, sep, port_s = text.rpartition(":")
    if not sep:
        host, port_s = "", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(key, "an IPv6 address must be in brackets, e.g. [::1]:9108", listen)
    try:
        port = int(port_s)
    except ValueError:
        raise ConfigError(key, "expected host:port", listen) from None
    if not 0 <= port <= 65535:
        raise ConfigError(key, "port must be 0..65535", listen)
    return host or DEFAULT_HOST, port


def _evaluate(ready: Callable[[], bool]) -> tuple[bool, str]:
    """Call the readiness check; an exception means not ready (and is logged, not raised)."""
    try:
        ok = bool(ready())
        reason = "ready" if ok else "not ready: a sink is unreachable or backlogged"
    except Exception as e:
        log.warning("readiness check failed: %s: %s", type(e).__name__, e)
        ok, reason = False, f"not ready: readiness check failed: {type(e).__name__}"
    metrics.READY.set(1 if ok else 0)
    return ok, reason


def _handler(ready: Callable[[], bool]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "shippers-ops"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                # Refresh the readiness gauge so Prometheus sees what /readyz would say.
                _evaluate(ready)
                self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200, b"ok\n")
            elif path == "/readyz":
                ok, reason = _evaluate(ready)
                self._send(200 if ok else 503, reason.encode() + b"\n")
            else:
                self._send(404, b"not found: try /metrics, /healthz or /readyz\n")

        def do_HEAD(self) -> None:
            self.do_GET()

        def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # One access line per scrape would drown the useful logs; keep it at DEBUG.
            log.debug("ops %s - %s", self.address_string(), format % args)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@dataclass
class OpsServer:
    """A running ops endpoint; `stop()` closes the socket and joins the thread."""

    host: str
    port: int
    _server: ThreadingHTTPServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_ops_server(listen: str, ready: Callable[[], bool] = lambda: True) -> OpsServer:
    """Serve /metrics, /healthz and /readyz on `listen` ("host:port"; port 0 = any free)."""
    host, port = parse_listen(listen)
    server_cls = _Server
    if ":" in host:
        import socket

        class _Server6(_Server):
            address_family = socket.AF_INET6

        server_cls = _Server6
    try:
        server = server_cls((host, port), _handler(ready))
    except OSError as e:
        raise ConfigError("metrics.listen", f"cannot listen: {e.strerror}", listen) from None
    bound_port = int(server.server_address[1])
    # A short poll interval makes stop() (which waits for the serve loop) prompt on SIGTERM.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="ops-http", daemon=True
    )
    thread.start()
    log.info("ops endpoint listening on %s:%d (/metrics, /healthz, /readyz)", host, bound_port)
    return OpsServer(host, bound_port, server, thread)
