"""Real servers for the integration tests, started by the test run on 127.0.0.1.

Each service module exposes a `start()` that returns a handle with a `.stop()` and raises
`ServiceUnavailable(how_to_enable)` when the server cannot be started here. `require()`
turns that into a skip on a developer machine and a failure in CI (`CI` set), so a
missing service can never make CI green by skipping.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


class ServiceUnavailable(RuntimeError):
    """The service cannot run here; the message says how to enable it."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require(name: str, start: Callable[[], T]) -> T:
    """Start a service, or skip (developer machine) / fail (CI) with the reason."""
    try:
        return start()
    except ServiceUnavailable as e:
        msg = f"{name} unavailable: {e}"
        if in_ci():
            pytest.fail(f"{msg} (CI is set: integration services must run)", pytrace=False)
        pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.2)
    return False


def script_main(
    argv: list[str],
    module: str,
    state: Path,
    start: Callable[[], T],
    to_state: Callable[[T], dict[str, Any]],
    from_state: Callable[[dict[str, Any]], Any],
) -> int:
    """`python -m tests.services.<module> start|stop` for a server started by `start()`.

    `start` prints the endpoint and records the server in a state file (`to_state`);
    `stop` rebuilds a handle from that file (`from_state`) and stops it.
    """
    cmd = argv[0] if argv else ""
    if cmd == "start":
        server = start()
        st = to_state(server)
        state.write_text(json.dumps(st))
        print(st["endpoint"])
        return 0
    if cmd == "stop":
        if not state.exists():
            print("not running", file=sys.stderr)
            return 1
        from_state(json.loads(state.read_text())).stop()
        state.unlink()
        return 0
    print(f"usage: python -m tests.services.{module} start|stop", file=sys.stderr)
    return 2
