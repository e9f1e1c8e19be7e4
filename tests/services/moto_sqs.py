"""moto's standalone server (`moto[server]`) as the real SQS peer of the tests, on 127.0.0.1.

Runs `moto_server -H 127.0.0.1 -p PORT` as a separate process, so the shipper under test
talks HTTP to it exactly as to AWS. Usable as a script too:

    python -m tests.services.moto_sqs start   # prints the endpoint, leaves it running
    python -m tests.services.moto_sqs stop
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.services import ServiceUnavailable, free_port, script_main, wait_for_port

__all__ = ["MotoServer", "sqs_client", "start"]

_STATE = Path(tempfile.gettempdir()) / "shippers-moto.json"
_HOW = "pip install 'moto[server]' (provides `moto_server`)"
REGION = "us-east-1"


def _find_moto() -> list[str] | None:
    beside = Path(sys.executable).parent / "moto_server"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("moto_server")
    return [found] if found else None


@dataclass
class MotoServer:
    """A running moto server; `endpoint` is its http://127.0.0.1:PORT URL."""

    proc: subprocess.Popen[bytes] | None
    pid: int
    endpoint: str
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def start(timeout: float = 30.0) -> MotoServer:
    """Start moto on a free loopback port; ServiceUnavailable when it cannot run here."""
    cmd = _find_moto()
    if cmd is None:
        raise ServiceUnavailable(f"`moto_server` not found: {_HOW}")
    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - read back on failure
    try:
        proc = subprocess.Popen(
            [*cmd, "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as e:
        raise ServiceUnavailable(f"cannot run moto_server: {e}; {_HOW}") from None
    server = MotoServer(proc, proc.pid, f"http://127.0.0.1:{port}")
    ok = wait_for_port(port, timeout)
    if ok:
        ok = _probe(server.endpoint, timeout)
    if not ok or proc.poll() is not None:
        server.stop()
        log.seek(0)
        raise ServiceUnavailable(f"moto_server did not start: {log.read()[-2000:]!r}")
    log.close()
    return server


def _probe(endpoint: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    client = sqs_client(endpoint)
    while time.monotonic() < deadline:
        try:
            client.list_queues()
            return True
        except Exception:
            time.sleep(0.2)
    return False


def sqs_client(endpoint: str):  # type: ignore[no-untyped-def]
    """A boto3 SQS client for the test server (moto accepts any credentials)."""
    import boto3

    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def queue_counts(sqs, queue_url: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(visible, in flight) messages of a queue."""
    a = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


def _main(argv: list[str]) -> int:
    return script_main(
        argv,
        "moto_sqs",
        _STATE,
        start,
        lambda s: {"pid": s.pid, "endpoint": s.endpoint},
        lambda st: MotoServer(None, st["pid"], st["endpoint"]),
    )


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
