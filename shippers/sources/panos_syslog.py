"""The `panos-syslog` source: a syslog receiver for PAN-OS firewalls (UDP, TCP, TLS).

Threads, one per TCP connection, because back-pressure must reach the sender: when the
sinks are slow the pipeline's `emit` blocks, the connection thread stops calling `recv`,
the kernel buffers fill and the firewall's TCP sender stalls — nothing is lost. UDP has no
such lever, so a reader thread moves datagrams into a bounded queue that an emitter thread
drains; when the queue is full the datagram is dropped and *counted*
(`shippers_udp_datagrams_dropped_total`), as are the drops the kernel reports for the
socket (receive buffer overflow), so UDP loss is never silent.

Each emitted batch holds messages of one peer and one syslog-header hostname, so the
batch's `enrich` can set `observer.hostname` (from the header, where the CSV's Device Name
is missing). `log.source.address` is the peer IP: the pipeline writes it from
`Provenance.peer` (the enrich sets the same when missing); the port is in
`Provenance.location` (`tcp://ip:port`).
Syslog has nothing upstream to acknowledge; each batch still carries an `Ack` so the
source can count what was delivered and what was still in flight at shutdown.
"""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .. import metrics
from ..errors import ConfigError
from ..plugin import Context, Emit, RawBatch, Source
from ..record import Ack, DeadLetter, Provenance
from ..registry import register
from ..syslog_header import parse_syslog
from .syslog_framing import FrameDecoder, FramingError, OversizedLine, strip_message
from .udp_drops import kernel_udp_drops

__all__ = ["PanosSyslogOptions", "PanosSyslogSource"]

log = logging.getLogger("shippers.sources.panos_syslog")

SOURCE_ID = "panos-syslog"
_POLL_S = 0.25  # how often blocked socket calls look at the stop flag
_RECV_BYTES = 256 * 1024
_STOP_DRAIN_BYTES = 16 * 1024 * 1024  # read at most this much more from a socket at stop


@dataclass
class PanosSyslogOptions:
    host: str = field(default="0.0.0.0", metadata={"doc": "address to listen on"})
    udp_port: int | None = field(
        default=5514, metadata={"doc": "UDP port (0 = any free port, unset = no UDP)"}
    )
    tcp_port: int | None = field(
        default=5514, metadata={"doc": "plain TCP port (0 = any free port, unset = none)"}
    )
    tls_port: int | None = field(
        default=None, metadata={"doc": "TLS port (needs tls_cert and tls_key); unset = none"}
    )
    tls_cert: str | None = field(default=None, metadata={"doc": "server certificate (PEM)"})
    tls_key: str | None = field(default=None, metadata={"doc": "server private key (PEM)"})
    tls_client_ca: str | None = field(
        default=None, metadata={"doc": "CA bundle; when set, clients must present a cert"}
    )
    max_message_bytes: int = field(
        default=64 * 1024, metadata={"doc": "longer messages are dead-lettered"}
    )
    batch_size: int = field(default=500, metadata={"doc": "max messages per emitted batch"})
    udp_queue: int = field(
        default=50_000,
        metadata={"doc": "datagrams buffered between the UDP reader and the pipeline"},
    )
    udp_rcvbuf_bytes: int = field(
        default=8 * 1024 * 1024, metadata={"doc": "SO_RCVBUF asked for the UDP socket"}
    )
    max_connections: int = field(default=1024, metadata={"doc": "concurrent TCP/TLS peers"})
    format: Literal["panos"] = field(default="panos", metadata={"doc": "normalizer to use"})

    def validate(self, path: str) -> None:
        p = f"{path}." if path else ""
        if self.udp_port is None and self.tcp_port is None and self.tls_port is None:
            raise ConfigError(f"{p}udp_port", "no listener: set udp_port, tcp_port or tls_port")
        if self.tls_port is not None and not (self.tls_cert and self.tls_key):
            raise ConfigError(f"{p}tls_cert", "tls_port needs tls_cert and tls_key", None)
        if self.max_message_bytes < 256:
            raise ConfigError(
                f"{p}max_message_bytes", "must be at least 256", self.max_message_bytes
            )
        if self.batch_size < 1:
            raise ConfigError(f"{p}batch_size", "must be at least 1", self.batch_size)
        if self.udp_queue < 1:
            raise ConfigError(f"{p}udp_queue", "must be at least 1", self.udp_queue)


def _address(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def make_enrich(peer: str, hostname: str | None) -> Callable[[dict[str, Any]], None]:
    """Per-batch enrichment: the peer IP as `log.source.address`, the header hostname as
    `observer.hostname` unless the normalizer found one in the CSV (Device Name)."""

    def enrich(doc: dict[str, Any]) -> None:
        log_ = doc.setdefault("log", {})
        log_.setdefault("source", {}).setdefault("address", peer)
        if hostname:
            doc.setdefault("observer", {}).setdefault("hostname", hostname)

    return enrich


def header_hostname(msg: bytes) -> str | None:
    """The syslog header's HOSTNAME, parsed from the bytes before the CSV (cheap)."""
    comma = msg.find(b",", 0, 512)
    head = msg[: comma if comma >= 0 else 512]
    try:
        return parse_syslog(head.decode("utf-8", "replace") + ",").hostname
    except Exception:  # a header we cannot read must never cost the message
        return None


class _Counters:
    """What the source saw; read by tests and logged at close."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received = 0
        self.delivered = 0
        self.failed = 0
        self.dead_lettered = 0
        self.udp_dropped_queue = 0
        self.udp_dropped_kernel = 0
        self.connections = 0
        self.tls_handshake_failures = 0
        self.in_flight = 0

    def as_dict(self) -> dict[str, int]:
        with self.lock:
            return {k: v for k, v in vars(self).items() if isinstance(v, int)}


@register("source", "panos-syslog")
class PanosSyslogSource(Source):
    """Receives PAN-OS syslog over UDP, TCP (newline or octet-counted) and TLS."""

    Options = PanosSyslogOptions
    name = SOURCE_ID

    def __init__(self, options: PanosSyslogOptions, ctx: Context):
        super().__init__(options, ctx)
        self.opts = options
        self.stats = _Counters()
        self.ready = threading.Event()  # set once every listener is bound
        self.addresses: dict[str, tuple[str, int]] = {}  # "udp" | "tcp" | "tls" → bound
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._conn_threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._udp_queue: queue.Queue[tuple[bytes, tuple[str, int], float]] = queue.Queue(
            maxsize=options.udp_queue
        )
        self._udp_reader_done = threading.Event()
        self._kernel_drops_seen = 0

    # -- lifecycle -------------------------------------------------------------------
    def run(self, emit: Emit, *, once: bool = False) -> None:
        """Listen until `ctx.stop`. `once` has no end to reach on a listener: ignored."""
        if once:
            log.warning("panos-syslog is a listener: --once is ignored, stop with SIGTERM")
        self._emit_fn: Emit = emit
        try:
            self._bind()
        except OSError:
            self._close_sockets()
            raise
        self.ready.set()
        try:
            self.ctx.stop.wait()
        finally:
            self._close_sockets()
            for t in self._threads:
                t.join()
            with self._lock:
                conns = list(self._conn_threads)
            for t in conns:
                t.join()

    def close(self) -> None:
        s = self.stats.as_dict()
        if s["in_flight"]:
            log.warning("panos-syslog: %d batches still in flight at shutdown", s["in_flight"])
        log.info("panos-syslog stopped: %s", s)

    # -- setup -----------------------------------------------------------------------
    def _bind(self) -> None:
        o = self.opts
        family = socket.AF_INET6 if ":" in o.host else socket.AF_INET
        if o.udp_port is not None:
            # Not in `_sockets`: the reader closes it itself, after draining it at stop.
            us = socket.socket(family, socket.SOCK_DGRAM)
            _set_rcvbuf(us, o.udp_rcvbuf_bytes)
            us.bind((o.host, o.udp_port))
            us.settimeout(_POLL_S)
            self.addresses["udp"] = us.getsockname()[:2]
            self._spawn(self._udp_reader, us, name="syslog-udp-read")
            self._spawn(self._udp_emitter, name="syslog-udp-emit")
        if o.tcp_port is not None:
            self.addresses["tcp"] = self._listen(family, o.tcp_port, None)
        if o.tls_port is not None:
            self.addresses["tls"] = self._listen(family, o.tls_port, self._tls_context())

    def _tls_context(self) -> ssl.SSLContext:
        o = self.opts
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(o.tls_cert), str(o.tls_key))
        if o.tls_client_ca:
            ctx.load_verify_locations(o.tls_client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def _listen(self, family: int, port: int, tls: ssl.SSLContext | None) -> tuple[str, int]:
        ls = socket.socket(family, socket.SOCK_STREAM)
        self._sockets.append(ls)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((self.opts.host, port))
        ls.listen(512)
        ls.settimeout(_POLL_S)
        self._spawn(self._acceptor, ls, tls, name=f"syslog-{'tls' if tls else 'tcp'}-accept")
        return ls.getsockname()[:2]

    def _spawn(self, target: Callable[..., None], *args: Any, name: str) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _close_sockets(self) -> None:
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass

    # -- emitting --------------------------------------------------------------------
    def _emit(self, emit: Emit, frames: list[tuple[bytes, Provenance]], address: str) -> None:
        """Emit messages of one peer, one batch per header hostname (for `enrich`)."""
        groups: dict[str | None, list[tuple[bytes, Provenance]]] = {}
        for item in frames:
            groups.setdefault(header_hostname(item[0]), []).append(item)
        for hostname, items in groups.items():
            for i in range(0, len(items), self.opts.batch_size):
                part = items[i : i + self.opts.batch_size]
                ack = Ack(f"syslog {address}", on_complete=self._settled(len(part)))
                with self.stats.lock:
                    self.stats.received += len(part)
                    self.stats.in_flight += 1
                peer = part[0][1].peer or ""
                emit(RawBatch(self.opts.format, part, ack, make_enrich(peer, hostname)))
                ack.seal()

    def _settled(self, n: int) -> Callable[[bool], None]:
        def on_complete(failed: bool) -> None:
            with self.stats.lock:
                self.stats.in_flight -= 1
                if failed:
                    self.stats.failed += n
                else:
                    self.stats.delivered += n

        return on_complete

    def _dead_letter(self, frame: OversizedLine | FramingError, prov: Provenance) -> None:
        if isinstance(frame, OversizedLine):
            letter = DeadLetter(
                f"message too long: {frame.length} bytes exceeds max_message_bytes "
                f"{self.opts.max_message_bytes}; first {len(frame.head)} bytes kept",
                frame.head,
                prov,
                stage="source",
                detail={"length": frame.length},
            )
        else:
            letter = DeadLetter(f"framing error: {frame.reason}", frame.data, prov, stage="source")
        self.ctx.dead_letter.write(letter)
        with self.stats.lock:
            self.stats.dead_lettered += 1

    # -- TCP / TLS -------------------------------------------------------------------
    def _acceptor(self, ls: socket.socket, tls: ssl.SSLContext | None) -> None:
        while not self.ctx.stop.is_set():
            try:
                conn, addr = ls.accept()
            except TimeoutError:
                continue
            except OSError:
                if self.ctx.stop.is_set():
                    return
                log.exception("accept failed")
                time.sleep(_POLL_S)
                continue
            with self._lock:
                self._conn_threads = {t for t in self._conn_threads if t.is_alive()}
                too_many = len(self._conn_threads) >= self.opts.max_connections
            if too_many:
                log.warning("syslog: refusing %s: max_connections reached", addr)
                conn.close()
                continue
            t = threading.Thread(
                target=self._serve, args=(conn, addr, tls), name=f"syslog-conn-{addr}", daemon=True
            )
            with self._lock:
                self._conn_threads.add(t)
            t.start()

    def _serve(
        self, conn: socket.socket, addr: tuple[Any, ...], tls: ssl.SSLContext | None
    ) -> None:
        ip, port = str(addr[0]), int(addr[1])
        address = _address(ip, port)
        location = f"{'tls' if tls else 'tcp'}://{address}"
        with self.stats.lock:
            self.stats.connections += 1
        try:
            conn.settimeout(_POLL_S)
            sock: socket.socket = conn
            if tls is not None:
                try:
                    sock = self._handshake(conn, tls)
                except (OSError, ssl.SSLError) as e:
                    with self.stats.lock:
                        self.stats.tls_handshake_failures += 1
                    log.warning("syslog TLS handshake with %s failed: %s", address, e)
                    return
            self._read_stream(sock, ip, address, location)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _handshake(self, conn: socket.socket, tls: ssl.SSLContext) -> ssl.SSLSocket:
        conn.settimeout(10.0)  # a peer that never finishes the handshake must not pin us
        s = tls.wrap_socket(conn, server_side=True)
        s.settimeout(_POLL_S)
        return s

    def _read_stream(self, sock: socket.socket, ip: str, address: str, location: str) -> None:
        """Read, frame and emit until EOF or stop; `emit` blocking is the back-pressure."""
        decoder = FrameDecoder(self.opts.max_message_bytes)
        stopping_budget = _STOP_DRAIN_BYTES
        while True:
            if self.ctx.stop.is_set():
                # Take what the peer already sent (bounded), then close.
                sock.settimeout(0.05)
                if stopping_budget <= 0:
                    break
            try:
                data = sock.recv(_RECV_BYTES)
            except TimeoutError:
                if self.ctx.stop.is_set():
                    break
                continue
            except (ConnectionError, ssl.SSLError, OSError) as e:
                log.info("syslog connection %s ended: %s", address, e)
                break
            if not data:
                break
            if self.ctx.stop.is_set():
                stopping_budget -= len(data)
            self._handle(decoder.feed(data), ip, address, location)
        self._handle(decoder.finish(), ip, address, location)

    def _handle(
        self,
        frames: list[bytes | OversizedLine | FramingError],
        ip: str,
        address: str,
        location: str,
    ) -> None:
        if not frames:
            return
        items: list[tuple[bytes, Provenance]] = []
        now = time.time()
        for f in frames:
            prov = Provenance(SOURCE_ID, location, None, now, ip)
            if isinstance(f, bytes):
                items.append((f, prov))
            else:
                self._dead_letter(f, prov)
        if items:
            self._emit(self._emit_fn, items, address)

    # -- UDP -------------------------------------------------------------------------
    def _udp_reader(self, us: socket.socket) -> None:
        """Socket → bounded queue, never blocking on the pipeline: full queue = counted drop."""
        put = self._udp_queue.put_nowait
        bufsize = max(65536, self.opts.max_message_bytes + 1)
        last_check = time.monotonic()
        try:
            while not self.ctx.stop.is_set():
                try:
                    data, addr = us.recvfrom(bufsize)
                except TimeoutError:
                    self._count_kernel_drops(us)
                    continue
                except OSError:
                    if self.ctx.stop.is_set():
                        break
                    raise
                try:
                    put((data, addr[:2], time.time()))
                except queue.Full:
                    self._count_udp_drop()
                if time.monotonic() - last_check > 1.0:
                    self._count_kernel_drops(us)
                    last_check = time.monotonic()
            # Drain what the kernel already holds, then account for its drops one last time.
            us.setblocking(False)
            while True:
                try:
                    data, addr = us.recvfrom(bufsize)
                except OSError:
                    break
                try:
                    put((data, addr[:2], time.time()))
                except queue.Full:
                    self._count_udp_drop()
            self._count_kernel_drops(us)
        finally:
            us.close()
            self._udp_reader_done.set()

    def _count_udp_drop(self) -> None:
        metrics.UDP_DATAGRAMS_DROPPED.inc()
        with self.stats.lock:
            self.stats.udp_dropped_queue += 1
            if self.stats.udp_dropped_queue in (1, 100, 10_000) or not (
                self.stats.udp_dropped_queue % 100_000
            ):
                log.warning(
                    "syslog UDP queue full: %d datagrams dropped so far",
                    self.stats.udp_dropped_queue,
                )

    def _count_kernel_drops(self, us: socket.socket) -> None:
        """Datagrams the kernel dropped (receive buffer full) also count as dropped."""
        try:
            total = kernel_udp_drops(us)
        except OSError:
            return
        if total is None:
            return
        with self.stats.lock:
            delta = total - self._kernel_drops_seen
            if delta <= 0:
                return
            self._kernel_drops_seen = total
            self.stats.udp_dropped_kernel += delta
        metrics.UDP_DATAGRAMS_DROPPED.inc(delta)
        log.warning("syslog UDP: kernel dropped %d datagrams (receive buffer full)", delta)

    def _udp_emitter(self) -> None:
        q = self._udp_queue
        max_bytes = self.opts.max_message_bytes
        while True:
            try:
                first = q.get(timeout=_POLL_S)
            except queue.Empty:
                if self._udp_reader_done.is_set():
                    return
                continue
            pending = [first]
            while len(pending) < self.opts.batch_size:
                try:
                    pending.append(q.get_nowait())
                except queue.Empty:
                    break
            by_peer: dict[str, list[tuple[bytes, Provenance]]] = {}
            for data, (ip, port), at in pending:
                address = _address(ip, port)
                prov = Provenance(SOURCE_ID, f"udp://{address}", None, at, ip)
                msg = strip_message(data)
                if len(msg) > max_bytes:
                    self._dead_letter(OversizedLine(msg[:4096], len(msg)), prov)
                    continue
                if msg.strip():
                    by_peer.setdefault(address, []).append((msg, prov))
            for address, items in by_peer.items():
                self._emit(self._emit_fn, items, address)


def _set_rcvbuf(s: socket.socket, size: int) -> None:
    """Ask for a large receive buffer; as root, past net.core.rmem_max (SO_RCVBUFFORCE)."""
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    if force is not None:
        try:
            s.setsockopt(socket.SOL_SOCKET, force, size)
            return
        except OSError:
            pass
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    except OSError:
        log.warning("could not set SO_RCVBUF=%d", size)
