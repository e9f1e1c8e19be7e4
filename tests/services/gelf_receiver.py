"""A GELF receiver that implements the spec as Graylog's inputs do, for the integration tests.

Written from the GELF 1.1 specification, independently of `shippers.gelf_codec`, so the
round-trip tests check our sender against the spec and not against itself:
- UDP: a datagram is a whole message or a chunk (`0x1e 0x0f`, 8-byte message id, sequence
  number, sequence count ≤ 128); chunks are reassembled by id in any order, duplicates
  ignored, incomplete messages expire after 5 s (counted); payloads are zlib, gzip or plain
  JSON, recognised by their first bytes.
- TCP: messages are uncompressed JSON terminated by a NUL byte (optionally over TLS); a
  frame over 2 MiB is refused (counted) as Graylog's default `max_message_size` does.
- HTTP: `POST /gelf` with one JSON message, optionally `Content-Encoding: gzip|deflate`;
  answers 202 Accepted. `fail_http(n)` makes the next n requests answer 503.
Every decoded message is checked (version 1.1, host, short_message, field names
`^[\\w\\.\\-]*$`, no `_id`, values string or number); violations land in `errors`.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["GelfReceiver", "decode_payload", "start"]

_FIELD = re.compile(r"^[\w\.\-]*$", re.ASCII)
_MAX_TCP_FRAME = 2 * 1024 * 1024
_CHUNK_TIMEOUT_S = 5.0


def decode_payload(data: bytes) -> dict[str, Any]:
    """A (possibly compressed) GELF payload → the JSON object."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    elif len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0:
        data = zlib.decompress(data)
    obj = json.loads(data)
    if not isinstance(obj, dict):
        raise ValueError("GELF payload is not a JSON object")
    return obj


def check_message(msg: dict[str, Any]) -> list[str]:
    """Spec violations of one decoded message."""
    errors = []
    if msg.get("version") != "1.1":
        errors.append(f"version is {msg.get('version')!r}")
    for key in ("host", "short_message"):
        if not isinstance(msg.get(key), str) or not msg[key].strip():
            errors.append(f"{key} missing or empty")
    if "timestamp" in msg and not isinstance(msg["timestamp"], (int, float)):
        errors.append("timestamp is not a number")
    if "level" in msg and not isinstance(msg["level"], int):
        errors.append("level is not an integer")
    for k, v in msg.items():
        if k in ("version", "host", "short_message", "full_message", "timestamp", "level"):
            continue
        if not k.startswith("_"):
            errors.append(f"unknown top-level field {k!r}")
        if k == "_id":
            errors.append("_id is not allowed")
        if not _FIELD.match(k):
            errors.append(f"bad field name {k!r}")
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            errors.append(f"field {k!r} has a non string/number value {type(v).__name__}")
    return errors


@dataclass
class _Partial:
    count: int
    first_seen: float
    parts: dict[int, bytes] = field(default_factory=dict)


class GelfReceiver:
    """UDP + TCP (+TLS) + HTTP GELF inputs on 127.0.0.1, each on its own free port."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.messages: list[tuple[str, dict[str, Any]]] = []  # (transport, message)
        self.errors: list[str] = []
        self.chunks_received = 0
        self.chunked_messages = 0
        self.max_chunks_seen = 0
        self.expired = 0
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._partials: dict[bytes, _Partial] = {}
        self._http_failures = 0
        self._tls = tls
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []

        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
            if opt is None:
                continue
            try:
                self.udp.setsockopt(socket.SOL_SOCKET, opt, 32 * 1024 * 1024)
                break
            except OSError:
                continue
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        self.udp_port = self.udp.getsockname()[1]

        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(64)
        self.tcp.settimeout(0.2)
        self.tcp_port = self.tcp.getsockname()[1]

        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/gelf":
                    self._answer(404)
                    return
                with receiver._lock:
                    if receiver._http_failures > 0:
                        receiver._http_failures -= 1
                        self._answer(503)
                        return
                enc = (self.headers.get("Content-Encoding") or "").lower()
                try:
                    if enc == "gzip":
                        body = gzip.decompress(body)
                    elif enc == "deflate":
                        body = zlib.decompress(body)
                    receiver._accept("http", json.loads(body))
                except Exception as e:
                    receiver._error(f"http: undecodable body: {e}")
                    self._answer(400)
                    return
                self._answer(202)

            def _answer(self, code: int) -> None:
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.http_port = self.http.server_address[1]
        self.url = f"http://127.0.0.1:{self.http_port}/gelf"

        for target in (self._udp_loop, self._tcp_loop, self.http.serve_forever):
            t = threading.Thread(target=target, daemon=True, name="gelf-receiver")
            t.start()
            self._threads.append(t)

    # -- bookkeeping -------------------------------------------------------------------
    def _accept(self, transport: str, msg: Any) -> None:
        if not isinstance(msg, dict):
            self._error(f"{transport}: message is not an object")
            return
        for e in check_message(msg):
            self._error(f"{transport}: {e} in {str(msg)[:200]}")
        with self._lock:
            self.messages.append((transport, msg))
            self._lock.notify_all()

    def _error(self, text: str) -> None:
        with self._lock:
            self.errors.append(text)
            self._lock.notify_all()

    def wait_for(self, n: int, timeout: float = 30.0) -> bool:
        """Block until at least n messages arrived (or timeout); True when they did."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def fail_http(self, n: int) -> None:
        with self._lock:
            self._http_failures = n

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.errors.clear()

    # -- UDP -----------------------------------------------------------------------------
    def _udp_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self.udp.recvfrom(65536)
            except TimeoutError:
                self._expire()
                continue
            except OSError:
                return
            try:
                payload = self._reassemble(data)
                if payload is not None:
                    self._accept("udp", decode_payload(payload))
            except Exception as e:
                self._error(f"udp: {type(e).__name__}: {e}")

    def _reassemble(self, data: bytes) -> bytes | None:
        if data[:2] != b"\x1e\x0f":
            return data
        if len(data) < 12:
            raise ValueError("chunk shorter than its header")
        msg_id, seq, count = data[2:10], data[10], data[11]
        if count == 0 or count > 128 or seq >= count:
            raise ValueError(f"bad chunk header seq={seq} count={count}")
        self.chunks_received += 1
        p = self._partials.get(msg_id)
        if p is None:
            p = self._partials[msg_id] = _Partial(count, time.monotonic())
        if p.count != count:
            raise ValueError("chunk count differs between chunks of one message")
        p.parts.setdefault(seq, data[12:])
        if len(p.parts) < count:
            return None
        del self._partials[msg_id]
        self.chunked_messages += 1
        self.max_chunks_seen = max(self.max_chunks_seen, count)
        return b"".join(p.parts[i] for i in range(count))

    def _expire(self) -> None:
        now = time.monotonic()
        for k, p in list(self._partials.items()):
            if now - p.first_seen > _CHUNK_TIMEOUT_S:
                del self._partials[k]
                self.expired += 1
                self._error(f"udp: message {k.hex()} expired with {len(p.parts)}/{p.count} chunks")

    # -- TCP -----------------------------------------------------------------------------
    def _tcp_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._tcp_conn, args=(conn,), daemon=True)
            t.start()

    def _tcp_conn(self, conn: socket.socket) -> None:
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError) as e:
            self._error(f"tcp: TLS handshake failed: {e}")
            conn.close()
            return
        self._conns.append(conn)
        conn.settimeout(0.2)
        buf = bytearray()
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(1 << 16)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    if buf:
                        self._error(f"tcp: {len(buf)} bytes without a NUL terminator at EOF")
                    return
                buf += data
                while True:
                    nul = buf.find(b"\0")
                    if nul < 0:
                        if len(buf) > _MAX_TCP_FRAME:
                            self._error("tcp: frame over 2 MiB")
                            return
                        break
                    frame = bytes(buf[:nul])
                    del buf[: nul + 1]
                    if len(frame) > _MAX_TCP_FRAME:
                        self._error("tcp: frame over 2 MiB")
                        continue
                    try:
                        self._accept("tcp", json.loads(frame))
                    except ValueError as e:
                        self._error(f"tcp: bad JSON: {e}")

    def drop_tcp_connections(self) -> None:
        """Close every open TCP connection (the sender must notice and reconnect)."""
        for c in self._conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._conns.clear()

    def stop(self) -> None:
        self._stop.set()
        self.http.shutdown()
        self.http.server_close()
        self.udp.close()
        self.tcp.close()
        for t in self._threads:
            t.join(timeout=5)


def start(tls: ssl.SSLContext | None = None) -> GelfReceiver:
    """Start a receiver (in this process, on threads) on free 127.0.0.1 ports."""
    return GelfReceiver(tls)
