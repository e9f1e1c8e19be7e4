"""The `gelf` sink: ECS documents to Graylog as GELF 1.1 over UDP, TCP (optionally TLS) or HTTP.

The message building lives in `shippers.gelf_codec`; this module only moves bytes. The
transports are our own rather than pygelf's handlers because the sink needs what a
`logging.Handler` does not give: an error the caller sees (pygelf's handlers swallow
send errors in `handleError`, so a record could be acknowledged while lost), blocking
writes on TCP so a slow Graylog slows the pipeline instead of filling memory, and
deterministic chunking with a hard 128-chunk check (see docs/syslog-gelf.md).

Delivery: a record is `done()` only after its bytes were handed to the kernel (UDP, TCP)
or Graylog answered 2xx (HTTP). Transport errors are retried with capped exponential
backoff and jitter, forever — never dropped — until shutdown, when what is left is
completed as failed (not acknowledged upstream). A message that can never be delivered
(too large for 128 chunks, or refused by Graylog with a 4xx) goes to the dead-letter sink.
UDP gives no delivery guarantee at all: that is the protocol, and the docs say so.
"""

from __future__ import annotations

import logging
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import requests

from .. import gelf_codec as codec
from .. import metrics
from ..errors import ConfigError
from ..plugin import Context, Sink
from ..record import DeadLetter, Record
from ..registry import register

__all__ = ["GelfOptions", "GelfSink"]

log = logging.getLogger("shippers.sinks.gelf")

SINK = "gelf"
_TCP_BATCH_BYTES = 1024 * 1024  # frames joined into one sendall


@dataclass
class GelfOptions:
    transport: Literal["udp", "tcp", "http"] = field(
        default="udp", metadata={"doc": "udp (chunked), tcp (NUL-framed) or http (POST /gelf)"}
    )
    host: str = field(default="127.0.0.1", metadata={"doc": "Graylog GELF input host"})
    port: int = field(default=12201, metadata={"doc": "Graylog GELF input port"})
    url: str | None = field(
        default=None, metadata={"doc": "http: full URL (default http://host:port/gelf)"}
    )
    compression: Literal["zlib", "gzip", "none"] = field(
        default="zlib", metadata={"doc": "udp payload compression; http uses gzip unless none"}
    )
    chunk_size: int = field(
        default=8192, metadata={"doc": "udp datagram size incl. the 12-byte chunk header"}
    )
    tls: bool = field(default=False, metadata={"doc": "tcp: speak TLS"})
    tls_ca: str | None = field(default=None, metadata={"doc": "CA bundle to verify Graylog"})
    tls_cert: str | None = field(default=None, metadata={"doc": "client certificate (PEM)"})
    tls_key: str | None = field(default=None, metadata={"doc": "client key (PEM)"})
    tls_verify_hostname: bool = field(default=True, metadata={"doc": "check the cert name"})
    source_host: str = field(
        default_factory=socket.gethostname,
        metadata={"doc": "GELF host when the document names no observer/host"},
    )
    max_term_bytes: int = field(
        default=codec.MAX_TERM_BYTES, metadata={"doc": "longer strings are cut (marked)"}
    )
    max_message_bytes: int = field(
        default=codec.MAX_FRAME_BYTES, metadata={"doc": "GELF message size limit (2 MiB)"}
    )
    timeout_s: float = field(default=30.0, metadata={"doc": "connect / send timeout"})
    retry_initial_s: float = field(default=0.5, metadata={"doc": "first retry delay"})
    retry_max_s: float = field(default=30.0, metadata={"doc": "retry delay cap"})

    def validate(self, path: str) -> None:
        p = f"{path}." if path else ""
        if not 512 <= self.chunk_size <= 65_507:
            raise ConfigError(
                f"{p}chunk_size", "must be 512..65507 (one UDP datagram)", self.chunk_size
            )
        if self.max_term_bytes < 1024:
            raise ConfigError(f"{p}max_term_bytes", "must be at least 1024", self.max_term_bytes)
        if self.max_message_bytes < 64 * 1024:
            raise ConfigError(
                f"{p}max_message_bytes", "must be at least 65536", self.max_message_bytes
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError(f"{p}tls_cert", "tls_cert and tls_key go together", self.tls_cert)


class TransportError(Exception):
    """A retryable failure: the batch is sent again after a backoff."""


class Refused(Exception):
    """Graylog refused one message for good (HTTP 4xx): it goes to the dead-letter sink."""


# -- transports ---------------------------------------------------------------------------
class _Udp:
    def __init__(self, o: GelfOptions):
        self.o = o
        self.addr = (o.host, o.port)
        family = socket.AF_INET6 if ":" in o.host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.ids = codec.MessageIds()

    def prepare(self, payload: bytes) -> list[bytes]:
        """Compress and chunk; raises GelfTooLarge before anything is sent."""
        data = codec.compress(payload, self.o.compression)
        return codec.chunk(data, self.o.chunk_size, self.ids.next())

    def send(self, datagrams: list[bytes]) -> None:
        try:
            for d in datagrams:
                self.sock.sendto(d, self.addr)
        except OSError as e:
            raise TransportError(f"udp send to {self.addr}: {e}") from e

    def close(self) -> None:
        self.sock.close()


class _Tcp:
    def __init__(self, o: GelfOptions):
        self.o = o
        self.sock: socket.socket | None = None
        self.tls: ssl.SSLContext | None = None
        if o.tls:
            ctx = ssl.create_default_context(cafile=o.tls_ca)
            ctx.check_hostname = o.tls_verify_hostname
            if o.tls_cert:
                ctx.load_cert_chain(o.tls_cert, o.tls_key)
            self.tls = ctx

    def _connect(self) -> socket.socket:
        try:
            s = socket.create_connection((self.o.host, self.o.port), timeout=self.o.timeout_s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if self.tls is not None:
                s = self.tls.wrap_socket(s, server_hostname=self.o.host)
        except (OSError, ssl.SSLError) as e:
            raise TransportError(f"tcp connect to {self.o.host}:{self.o.port}: {e}") from e
        log.info("gelf: connected to %s:%d", self.o.host, self.o.port)
        return s

    def _peer_closed(self, s: socket.socket) -> bool:
        """Graylog never writes to us: readable means EOF or reset. Checked before each
        send, because a send into a connection the peer closed still "succeeds" once."""
        try:
            readable, _, _ = select.select([s], [], [], 0)
            if not readable:
                return False
            if isinstance(s, ssl.SSLSocket):
                # TLS 1.3 servers send session tickets after the handshake: readable, but
                # no application data. Only a clean EOF counts as closed.
                s.setblocking(False)
                try:
                    return s.recv(1) == b""
                except ssl.SSLWantReadError:
                    return False
                finally:
                    s.settimeout(self.o.timeout_s)
            return s.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def send(self, frames: list[bytes]) -> None:
        if self.sock is not None and self._peer_closed(self.sock):
            log.warning("gelf: Graylog closed the TCP connection; reconnecting")
            self.close()
        if self.sock is None:
            self.sock = self._connect()
        try:
            buf: list[bytes] = []
            size = 0
            for f in frames:
                buf.append(f)
                size += len(f)
                if size >= _TCP_BATCH_BYTES:
                    self.sock.sendall(b"".join(buf))
                    buf, size = [], 0
            if buf:
                self.sock.sendall(b"".join(buf))
        except (OSError, ssl.SSLError) as e:
            self.close()
            raise TransportError(f"tcp send to {self.o.host}:{self.o.port}: {e}") from e

    def close(self, *, graceful: bool = False) -> None:
        """Close the connection; `graceful` first ends it properly (TLS close_notify, FIN,
        wait briefly for the peer's close). A bare close with unread bytes in our receive
        buffer — TLS 1.3 session tickets — sends a RST, and a RST makes the receiver's
        kernel discard data it has not read yet: the last messages would be lost."""
        s, self.sock = self.sock, None
        if s is None:
            return
        if graceful:
            try:
                s.settimeout(2.0)
                if isinstance(s, ssl.SSLSocket):
                    s = s.unwrap()
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
            except (OSError, ValueError):
                pass
        try:
            s.close()
        except OSError:
            pass


class _Http:
    def __init__(self, o: GelfOptions):
        self.o = o
        self.url = o.url or f"http://{o.host}:{o.port}/gelf"
        self.session = requests.Session()
        if o.tls_ca:
            self.session.verify = o.tls_ca
        if o.tls_cert:
            self.session.cert = (o.tls_cert, str(o.tls_key))

    def send_one(self, payload: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        if self.o.compression != "none":
            payload = codec.compress(payload, "gzip")
            headers["Content-Encoding"] = "gzip"
        try:
            r = self.session.post(self.url, data=payload, headers=headers, timeout=self.o.timeout_s)
        except requests.RequestException as e:
            raise TransportError(f"http POST {self.url}: {e}") from e
        if r.status_code < 300:
            return
        if r.status_code in (408, 429) or r.status_code >= 500:
            raise TransportError(f"http POST {self.url}: {r.status_code}")
        raise Refused(f"gelf http {r.status_code}: {r.text[:200]}")

    def close(self) -> None:
        self.session.close()


# -- the sink -------------------------------------------------------------------------------
@register("sink", "gelf")
class GelfSink(Sink):
    """Sends each record as one GELF message; blocks (retrying) until it is sent."""

    Options = GelfOptions
    name = SINK

    def __init__(self, options: GelfOptions, ctx: Context):
        super().__init__(options, ctx)
        self.o = options
        self._lock = threading.Lock()  # one writer at a time on the connection
        self._udp = _Udp(options) if options.transport == "udp" else None
        self._tcp = _Tcp(options) if options.transport == "tcp" else None
        self._http = _Http(options) if options.transport == "http" else None
        self._healthy = True

    # -- encoding ----------------------------------------------------------------------
    def encode(self, record: Record) -> bytes:
        msg = codec.build_message(
            record.doc,
            record.doc_id,
            source_type=record.source_type,
            default_host=self.o.source_host,
            received_at=record.provenance.received_at,
            max_term_bytes=self.o.max_term_bytes,
            max_message_bytes=self.o.max_message_bytes,
        )
        return codec.encode(msg)

    def _dead_letter(self, record: Record, reason: str) -> None:
        self.ctx.dead_letter.write(
            DeadLetter(
                reason,
                record.raw if record.raw is not None else orjson.dumps(record.doc),
                record.provenance,
                stage="deliver",
                detail={"doc_id": record.doc_id},
            ),
            sink=SINK,
        )
        record.done()

    # -- writing -----------------------------------------------------------------------
    def write(self, records: Iterable[Record]) -> None:
        ready: list[tuple[Record, Any]] = []
        for r in records:
            try:
                payload = self.encode(r)
                unit: Any = self._udp.prepare(payload) if self._udp else payload
            except (codec.GelfTooLarge, orjson.JSONEncodeError, TypeError) as e:
                self._dead_letter(r, f"gelf encode: {e}")
                continue
            ready.append((r, unit))
        if not ready:
            return
        with self._lock:
            if self._http is not None:
                for r, payload in ready:
                    self._deliver([(r, payload)])
            else:
                self._deliver(ready)

    def _send(self, batch: list[tuple[Record, Any]]) -> None:
        if self._udp is not None:
            for _, datagrams in batch:
                self._udp.send(datagrams)
        elif self._tcp is not None:
            self._tcp.send([payload + b"\0" for _, payload in batch])
        else:
            assert self._http is not None
            (_, payload) = batch[0]
            self._http.send_one(payload)

    def _deliver(self, batch: list[tuple[Record, Any]]) -> None:
        """Send with retry until it worked; records are done() only afterwards."""
        delay = self.o.retry_initial_s
        attempt = 0
        while True:
            try:
                self._send(batch)
                break
            except Refused as e:
                self._dead_letter(batch[0][0], str(e))
                return
            except TransportError as e:
                attempt += 1
                self._healthy = False
                if self.ctx.stop.is_set() and attempt > 3:
                    log.error("gelf: giving up at shutdown after %d attempts: %s", attempt, e)
                    for r, _ in batch:
                        r.done(failed=True)
                    return
                sleep = random.uniform(0, delay)  # full jitter
                log.warning("gelf: %s; retry %d in %.2fs", e, attempt, sleep)
                time.sleep(sleep)
                delay = min(self.o.retry_max_s, delay * 2)
        self._healthy = True
        per_source: dict[str, int] = {}
        for r, _ in batch:
            per_source[r.provenance.source] = per_source.get(r.provenance.source, 0) + 1
            r.done()
        for source, n in per_source.items():
            metrics.EVENTS_DELIVERED.labels(source=source, sink=SINK).inc(n)

    def ready(self) -> bool:
        return self._healthy

    def close(self) -> None:
        with self._lock:
            if self._tcp is not None:
                self._tcp.close(graceful=True)
            for t in (self._udp, self._http):
                if t is not None:
                    t.close()
