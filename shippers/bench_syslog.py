"""Syslog receive benchmark: lines/s the panos-syslog source takes in over TCP.

Measured against a baseline in the same run on the same machine: a bare socket reader
that only counts newlines. The ratio says how much the source's framing, header parse and
batching cost, independent of how fast the machine is. Normalization is not included
(`bench_normalize` measures that).
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .plugin import Context, RawBatch
from .sinks.dead_letter import DeadLetterSink
from .sources.panos_syslog import PanosSyslogOptions, PanosSyslogSource

__all__ = ["run_syslog_bench"]

_LINE = (
    b"<14>Nov 30 16:09:08 PA-220 1,2018/11/30 16:09:07,012801096514,TRAFFIC,end,2049,"
    b"2018/11/30 16:09:07,192.168.15.207,175.16.199.1,192.168.1.63,175.16.199.1,"
    b"new_outbound_from_trust,,,apple-maps,vsys1,trust,untrust,ethernet1/2,ethernet1/1,"
    b"send_to_mac,2018/11/30 16:09:07,22751,1,55113,443,16418,443,0x400053,tcp,allow,7734,"
    b"1758,5976,36,2018/11/30 15:59:04,586,computer-and-internet-info,0,32091112,0x0,"
    b"192.168.0.0-192.168.255.255,United States,0,16,20,tcp-fin,0,0,0,0,,PA-220,"
    b"from-policy,,,0,,0,,N/A,0,0,0,0\n"
)


def _payload(lines: int) -> bytes:
    return _LINE * lines


def _send(addr: tuple[str, int], payload: bytes, senders: int) -> None:
    part = len(payload) // senders // len(_LINE) * len(_LINE)

    def one(data: bytes) -> None:
        with socket.create_connection(addr) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass

    threads = [
        threading.Thread(target=one, args=(payload[i * part : (i + 1) * part],))
        for i in range(senders)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _baseline(payload: bytes, senders: int) -> float:
    """Seconds for a bare reader (recv + count newlines) to take in `payload`."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(senders)
    expected = payload.count(b"\n") // senders * senders
    counted = [0]
    lock = threading.Lock()

    def serve(conn: socket.socket) -> None:
        n = 0
        with conn:
            while data := conn.recv(256 * 1024):
                n += data.count(b"\n")
        with lock:
            counted[0] += n

    def accept() -> None:
        threads = []
        for _ in range(senders):
            conn, _ = ls.accept()
            t = threading.Thread(target=serve, args=(conn,))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()

    acceptor = threading.Thread(target=accept)
    acceptor.start()
    start = time.perf_counter()
    _send(ls.getsockname(), payload, senders)
    acceptor.join()
    elapsed = time.perf_counter() - start
    ls.close()
    assert counted[0] == expected, (counted[0], expected)
    return elapsed


def _source(payload: bytes, senders: int) -> float:
    """Seconds for the panos-syslog source to frame and emit every line of `payload`."""
    expected = payload.count(b"\n") // senders * senders
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(dead_letter=DeadLetterSink(Path(tmp) / "dead.ndjson"), state_dir=Path(tmp))
        src = PanosSyslogSource(
            PanosSyslogOptions(host="127.0.0.1", udp_port=None, tcp_port=0, batch_size=2000), ctx
        )
        got = [0]
        lock = threading.Lock()
        all_in = threading.Event()

        def emit(batch: RawBatch) -> None:
            with lock:
                got[0] += len(batch.items)
                if got[0] >= expected:
                    all_in.set()

        runner = threading.Thread(target=src.run, args=(emit,), daemon=True)
        runner.start()
        src.ready.wait(10)
        start = time.perf_counter()
        _send(src.addresses["tcp"], payload, senders)
        all_in.wait(300)
        elapsed = time.perf_counter() - start
        ctx.stop.set()
        runner.join(30)
        ctx.dead_letter.close()
    if got[0] != expected:
        raise RuntimeError(f"syslog bench: {got[0]} of {expected} lines arrived")
    return elapsed


def run_syslog_bench(lines: int = 200_000, senders: int = 4) -> dict[str, Any]:
    """Receive rate of the source and of a bare socket reader, over TCP on 127.0.0.1."""
    payload = _payload(lines)
    n = payload.count(b"\n") // senders * senders
    base = _baseline(payload, senders)
    src = _source(payload, senders)
    return {
        "lines": n,
        "senders": senders,
        "bytes_per_line": len(_LINE),
        "baseline_lines_per_s": round(n / base),
        "source_lines_per_s": round(n / src),
        "source_vs_baseline": round(base / src, 3),
    }


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(run_syslog_bench(), indent=2))
