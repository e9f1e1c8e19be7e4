"""A fault-injecting HTTP reverse proxy on 127.0.0.1, in front of Elasticsearch or S3.

The proxy is a legitimate fault injector: it sits in the network path exactly where a load
balancer or a flaky link would, and the shipper talks plain HTTP through it. Nothing of the
shipper is mocked. What it can do, switched on and off by the soak driver:

- `bulk_429`: answer a fraction of `POST /_bulk` requests with 429
  (`es_rejected_execution_exception`) *without forwarding them* — a whole-request rejection
  as a saturated cluster or a rate-limiting gateway sends.
- `s3_503` / `s3_truncate`: answer a fraction of S3 object GETs of one bucket with 503
  SlowDown (the SDK retries these), or forward them and cut the body in the middle
  (headers promise the full length; the reader sees an incomplete body — not retried by the
  SDK, so the shipper's own redelivery path has to recover).
- `hold()` / `wait_drained()` / `drop_held()` / `release()`: stop forwarding new requests
  (they wait), let the ones already forwarded finish, then either drop the waiting ones
  (their client is about to be SIGKILLed: forwarding them later would create documents
  no process lifetime ever counted) or let them through. This is what makes the metric
  comparison exact: when the shipper is killed, every request Elasticsearch processed
  was answered and counted.
- Upstream down (Elasticsearch stopped): 502 Bad Gateway, as nginx/HAProxy answer.

Per-request fault decisions come from a seeded `random.Random`; which request draws which
number depends on thread timing, so the *rates* are reproducible, not the exact requests.
"""

from __future__ import annotations

import http.client
import random
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FaultProxy", "Faults"]

_HOP = frozenset(
    ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
     "upgrade", "expect", "content-length"]
)  # fmt: skip
_ES_429 = (
    b'{"error":{"root_cause":[{"type":"es_rejected_execution_exception","reason":"rejected '
    b'by the soak fault proxy"}],"type":"es_rejected_execution_exception","reason":"rejected '
    b'by the soak fault proxy"},"status":429}'
)
_S3_503 = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate (soak fault proxy).</Message></Error>"
)


@dataclass
class Faults:
    """Fault rates (0..1) currently in force; the driver changes them between phases."""

    bulk_429: float = 0.0
    s3_503: float = 0.0
    s3_truncate: float = 0.0
    s3_bucket: str = ""  # only object GETs of this bucket are faulted


@dataclass
class _State:
    faults: Faults = field(default_factory=Faults)
    holding: bool = False
    generation: int = 0  # bumped by drop_held(): waiting requests of older ones are dropped
    inflight: int = 0
    counts: Counter[str] = field(default_factory=Counter)


class FaultProxy:
    """`FaultProxy(upstream_url, seed).start()`; `url` is the proxy's address."""

    def __init__(self, upstream: str, seed: int, name: str):
        u = urlsplit(upstream)
        self.upstream_host = u.hostname or "127.0.0.1"
        self.upstream_port = int(u.port or 80)
        self.name = name
        self.rng = random.Random(seed)
        self.state = _State()
        self.cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        handler = _make_handler(self)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name=f"proxy-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- controls ----------------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        return self.state.faults

    def set_faults(self, **rates: Any) -> None:
        with self.cond:
            for k, v in rates.items():
                setattr(self.state.faults, k, v)

    def counts(self) -> dict[str, int]:
        with self.cond:
            return dict(self.state.counts)

    def hold(self) -> None:
        with self.cond:
            self.state.holding = True

    def wait_drained(self, timeout: float) -> bool:
        """True once no forwarded request is in flight (new ones wait while holding)."""
        with self.cond:
            return self.cond.wait_for(lambda: self.state.inflight == 0, timeout)

    def drop_held(self) -> None:
        """Requests waiting now are answered by closing their connection, never forwarded."""
        with self.cond:
            self.state.generation += 1
            self.cond.notify_all()

    def release(self) -> None:
        with self.cond:
            self.state.holding = False
            self.cond.notify_all()

    # -- used by the handler -----------------------------------------------------------------
    def admit(self) -> bool:
        """Wait while holding; False when the request was dropped meanwhile."""
        with self.cond:
            gen = self.state.generation
            while self.state.holding and self.state.generation == gen:
                self.cond.wait(0.5)
            if self.state.generation != gen:
                self.state.counts["dropped_held"] += 1
                return False
            self.state.inflight += 1
            return True

    def done(self) -> None:
        with self.cond:
            self.state.inflight -= 1
            self.cond.notify_all()

    def draw(self, kind: str, rate: float) -> bool:
        if rate <= 0:
            return False
        with self.cond:
            hit = self.rng.random() < rate
            if hit:
                self.state.counts[kind] += 1
            return hit

    def count(self, kind: str) -> None:
        with self.cond:
            self.state.counts[kind] += 1


def _make_handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        upstream: http.client.HTTPConnection | None = None

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the soak prints its own summary

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                out: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(out)
                    out.append(self.rfile.read(size))
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _reply(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response_only(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _is_object_get(self) -> bool:
            u = urlsplit(self.path)
            if self.command != "GET" or u.query:
                return False
            parts = u.path.lstrip("/").split("/", 1)
            bucket = proxy.faults.s3_bucket
            return len(parts) == 2 and bool(parts[1]) and bool(bucket) and parts[0] == bucket

        def _handle(self) -> None:
            body = self._read_body()
            f = proxy.faults
            if (
                self.command == "POST"
                and urlsplit(self.path).path.endswith("/_bulk")
                and proxy.draw("bulk_429", f.bulk_429)
            ):
                self._reply(429, _ES_429, "application/json")
                return
            object_get = self._is_object_get()
            if object_get and proxy.draw("s3_503", f.s3_503):
                self._reply(503, _S3_503, "application/xml")
                return
            truncate = object_get and proxy.draw("s3_truncate", f.s3_truncate)
            if not proxy.admit():
                self.close_connection = True
                self._abort_socket()
                return
            try:
                self._forward(body, truncate)
            finally:
                proxy.done()

        def _forward(self, body: bytes, truncate: bool) -> None:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            if body or self.command in ("POST", "PUT"):
                headers["Content-Length"] = str(len(body))
            try:
                if self.upstream is None:
                    self.upstream = http.client.HTTPConnection(
                        proxy.upstream_host, proxy.upstream_port, timeout=120
                    )
                self.upstream.request(self.command, self.path, body=body, headers=headers)
                resp = self.upstream.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as e:
                # Upstream down or the kept-alive connection went stale: 502, as a real
                # gateway answers. The client retries; nothing was processed upstream
                # (the driver only stops Elasticsearch after draining this proxy).
                if self.upstream is not None:
                    self.upstream.close()
                    self.upstream = None
                proxy.count("upstream_error")
                self._reply(502, f"bad gateway: {type(e).__name__}".encode(), "text/plain")
                return
            if resp.will_close:
                self.upstream.close()
                self.upstream = None
            self.send_response_only(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in _HOP:
                    self.send_header(k, v)
            if self.command == "HEAD":
                length = resp.getheader("Content-Length")
                if length is not None:
                    self.send_header("Content-Length", length)
                self.end_headers()
                return
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if truncate and resp.status == 200 and len(data) > 64:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self._abort_socket()
                return
            self.wfile.write(data)

        def _abort_socket(self) -> None:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

    return Handler
