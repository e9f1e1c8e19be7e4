"""A local stand-in for CrowdStrike's Falcon Event Streams API, for the `falcon_api` tests.

It implements the endpoints as CrowdStrike's SDKs and integrations document them
(../shared/reference/falcon-event-streams.md), on 127.0.0.1 in a thread:

- `POST /oauth2/token` (form client_id, client_secret[, member_cid]) → 201
  `{"access_token", "expires_in", "token_type": "bearer"}`; expired or revoked tokens get 401.
- `GET /sensors/entities/datafeed/v2?appId=…&format=json` (Bearer) → one resource per
  partition: `dataFeedURL`, `sessionToken{token, expiration}`, `refreshActiveSessionURL`,
  `refreshActiveSessionInterval`. Each discover issues a new session per (appId, partition).
- `GET /sensors/entities/datafeed/v1/<p>?appId=…[&offset=N]` with `Authorization: Token …`:
  chunked newline-delimited JSON, starting at offset N (inclusive), kept open and fed as
  events are published. Ends (cleanly) when the session expires; 401 for a bad token.
- `POST /sensors/entities/datafeed-actions/v1/<p>?action_name=refresh_active_stream_session
  &appId=…` (Bearer) extends the session by its interval; 404 when it has expired.

Test knobs: short `token_ttl_s` / `session_interval_s`, `drop()` (abort open streams, by
default in the middle of a line), `expire_sessions()`, `rate_limit_discover()` (429 with
Retry-After; a discover that comes back too early is recorded as a violation),
`empty_discovers()`, `revoke_tokens()`, `overlap` (re-send events before the requested
offset, like a server with the "plus one" problem), `feed_host` (hand out URLs on another
host). Everything the server saw is recorded for assertions (`connects`, `refreshes`, ...).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["Connect", "FalconAPI", "start"]

FEED_PATH = "/sensors/entities/datafeed/v1/"
REFRESH_PATH = "/sensors/entities/datafeed-actions/v1/"
DISCOVER_PATH = "/sensors/entities/datafeed/v2"
CID = "0123456789abcdef0123456789abcdef"


@dataclass
class Connect:
    """One stream connection as the server saw it."""

    partition: int
    app_id: str
    offset: int | None  # the requested offset (None: not given)
    status: int = 200
    ended: str = ""  # why it ended: session_expired, dropped, server_stop, client_gone
    at: float = field(default_factory=time.monotonic)  # when the request arrived


@dataclass
class _Session:
    token: str
    expires_at: float
    interval: float


@dataclass
class _Conn:
    partition: int
    app_id: str
    drop: bool = False
    partial: bool = True


@dataclass
class _State:
    events: dict[int, list[bytes]] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # access token → expires_at
    sessions: dict[tuple[str, int], _Session] = field(default_factory=dict)
    conns: list[_Conn] = field(default_factory=list)


def sample_event(offset: int, partition: int) -> dict[str, Any]:
    """A realistic stream event for `offset` (detections and audit events alternate)."""
    created = 1686845212400 + offset * 1000
    if offset % 2 == 0:
        event_type = "DetectionSummaryEvent"
        event: dict[str, Any] = {
            "ProcessStartTime": created,
            "ProcessEndTime": 0,
            "ProcessId": 1000 + offset,
            "ParentProcessId": 321321,
            "ComputerName": f"HOST-{partition}-{offset % 7}",
            "UserName": "alice",
            "DetectName": "NGAV",
            "DetectDescription": "This file is classified as Adware/PUP based on its SHA256 hash.",
            "Severity": 2,
            "SeverityName": "Low",
            "FileName": "TESTFILE.exe",
            "FilePath": "\\Device\\HarddiskVolume3\\Users\\alice\\Software",
            "CommandLine": '"C:\\Users\\alice\\FILE.exe" -Embedding',
            "SHA256String": "0b2cde5b355bda69aeb15159fa98b5554053f0936259a53c6dfb0934389238a2",
            "MD5String": "49f30e09200e7b59edc5ef32fbd0442c",
            "SHA1String": "7e54a24d4df5b7fe4a75d7ce1c027705c368666b",
            "MachineDomain": "INTERNAL",
            "FalconHostLink": "https://falcon.crowdstrike.com/activity/detections/detail/X",
            "SensorId": f"sensor{partition}",
            "DetectId": f"ldt:sensor{partition}:{offset}",
            "LocalIP": "10.0.0.1",
            "MACAddress": "1c-2d-b3-4a-56-7e",
            "Tactic": "Malware",
            "Technique": "PUP",
            "Objective": "Falcon Detection Method",
            "PatternDispositionDescription": "Detection, process would have been blocked.",
            "PatternDispositionValue": 2304,
            "PatternId": 5728,
        }
    else:
        event_type = "UserActivityAuditEvent"
        event = {
            "UserId": "analyst@example.com",
            "UserIp": "10.1.2.3",
            "OperationName": "detection_update",
            "ServiceName": "detections",
            "Success": True,
            "UTCTimestamp": created // 1000,
            "AuditKeyValues": [{"Key": "detection_id", "ValueString": f"ldt:x:{offset}"}],
        }
    return {
        "metadata": {
            "customerIDString": CID,
            "offset": offset,
            "eventType": event_type,
            "eventCreationTime": created,
            "version": "1.0",
        },
        "event": event,
    }


class FalconAPI:
    """The fake API server. Use `start()` / `stop()`, or `with FalconAPI(...) as api:`."""

    def __init__(
        self,
        *,
        client_id: str = "shippers-test-client",
        client_secret: str | None = None,
        partitions: int = 1,
        token_ttl_s: float = 1799.0,
        session_interval_s: float = 1800.0,
        first_offset: int = 0,
        feed_host: str = "127.0.0.1",
        overlap: int = 0,
    ):
        self.client_id = client_id
        self.client_secret = client_secret or "secret-" + secrets.token_hex(12)
        self.partitions = partitions
        self.token_ttl_s = token_ttl_s
        self.session_interval_s = session_interval_s
        self.first_offset = first_offset
        self.feed_host = feed_host
        self.overlap = overlap
        self._state = _State(events={p: [] for p in range(partitions)})
        self._cond = threading.Condition()
        self._stopping = False
        self._discover_429: list[float] = []  # Retry-After values still to hand out
        self._not_before = 0.0
        self._empty_discovers = 0
        # -- what the server saw (read under `lock`) -------------------------------------
        self.lock = self._cond
        self.tokens_issued = 0
        self.token_requests: list[dict[str, str]] = []  # form fields, secret masked
        self.discover_calls = 0
        self.discover_429s = 0
        self.retry_after_violations = 0
        self.refreshes: list[tuple[str, int]] = []
        self.refresh_failures = 0
        self.connects: list[Connect] = []
        self.expired_token_uses = 0
        self.unknown_token_uses = 0
        self.app_ids: set[str] = set()
        self.auth_headers: set[str] = set()  # every Authorization header value seen
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> FalconAPI:
        api = self

        class Handler(_Handler):
            server_api = api

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> FalconAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- data --------------------------------------------------------------------------
    def publish(self, partition: int = 0, n: int = 1) -> list[int]:
        """Append `n` sample events to `partition`; returns their offsets."""
        out = []
        with self._cond:
            events = self._state.events[partition]
            for _ in range(n):
                offset = self.first_offset + len(events)
                line = json.dumps(sample_event(offset, partition), separators=(",", ":"))
                events.append(line.encode())
                out.append(offset)
            self._cond.notify_all()
        return out

    def publish_raw(self, partition: int, line: bytes) -> int:
        """Append a raw line (e.g. garbage); it takes the next offset slot."""
        with self._cond:
            events = self._state.events[partition]
            events.append(line)
            self._cond.notify_all()
            return self.first_offset + len(events) - 1

    # -- knobs -------------------------------------------------------------------------
    def drop(self, partition: int | None = None, *, partial: bool = True) -> None:
        """Abort open streams abruptly (after half of the next line when `partial`)."""
        with self._cond:
            for c in self._state.conns:
                if partition is None or c.partition == partition:
                    c.drop, c.partial = True, partial
            self._cond.notify_all()

    def expire_sessions(self, partition: int | None = None) -> None:
        """Let sessions lapse now: their streams end and their tokens stop working."""
        with self._cond:
            for (_, p), s in self._state.sessions.items():
                if partition is None or p == partition:
                    s.expires_at = 0.0
            self._cond.notify_all()

    def rate_limit_discover(self, times: int = 1, retry_after: float = 1.0) -> None:
        """The next `times` discover calls get 429 with `Retry-After: retry_after`."""
        with self._cond:
            self._discover_429.extend([retry_after] * times)

    def empty_discovers(self, times: int = 1) -> None:
        """The next `times` discover calls return no resources (appId busy)."""
        with self._cond:
            self._empty_discovers += times

    def revoke_tokens(self) -> None:
        """Forget every access token (the next Bearer call gets 401)."""
        with self._cond:
            self._state.tokens.clear()

    def active_streams(self, partition: int | None = None) -> int:
        with self._cond:
            return sum(
                1 for c in self._state.conns if partition is None or c.partition == partition
            )

    # -- request handling (called from handler threads) ---------------------------------
    def _bearer_ok(self, h: _Handler) -> bool:
        auth = h.headers.get("Authorization", "")
        with self._cond:
            self.auth_headers.add(auth)
            if not auth.startswith("Bearer "):
                ok, why = False, "missing bearer token"
            else:
                exp = self._state.tokens.get(auth[7:])
                if exp is None:
                    self.unknown_token_uses += 1
                    ok, why = False, "access denied, invalid bearer token"
                elif time.monotonic() >= exp:
                    self.expired_token_uses += 1
                    ok, why = False, "access denied, authorization failed"
                else:
                    ok, why = True, ""
        if not ok:
            h.send_json(401, _errors(401, why))
        return ok

    def token(self, h: _Handler, form: dict[str, str]) -> None:
        with self._cond:
            masked = {k: ("***" if k == "client_secret" else v) for k, v in form.items()}
            self.token_requests.append(masked)
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            h.send_json(403, _errors(403, "access denied, invalid client"))
            return
        token = secrets.token_urlsafe(24)
        with self._cond:
            self._state.tokens[token] = time.monotonic() + self.token_ttl_s
            self.tokens_issued += 1
        h.send_json(
            201,
            {"access_token": token, "expires_in": self.token_ttl_s, "token_type": "bearer"},
        )

    def discover(self, h: _Handler, q: dict[str, str]) -> None:
        if not self._bearer_ok(h):
            return
        app_id = q.get("appId", "")
        if not app_id or len(app_id) > 32 or not app_id.isalnum():
            h.send_json(400, _errors(400, "appId must be 1-32 alphanumeric characters"))
            return
        with self._cond:
            self.discover_calls += 1
            now = time.monotonic()
            if now < self._not_before:
                self.retry_after_violations += 1
                h.send_json(
                    429,
                    _errors(429, "API rate limit exceeded."),
                    {"Retry-After": f"{self._not_before - now:.3f}"},
                )
                return
            if self._discover_429:
                wait = self._discover_429.pop(0)
                self.discover_429s += 1
                self._not_before = now + wait
                h.send_json(
                    429, _errors(429, "API rate limit exceeded."), {"Retry-After": f"{wait:g}"}
                )
                return
            empty = self._empty_discovers > 0
            if empty:
                self._empty_discovers -= 1
            self.app_ids.add(app_id)
            resources = []
            for p in range(self.partitions) if not empty else ():
                session = _Session(
                    secrets.token_urlsafe(24),
                    now + self.session_interval_s,
                    self.session_interval_s,
                )
                self._state.sessions[(app_id, p)] = session
                base = f"http://{self.feed_host}:{self.port}"
                expiration = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.session_interval_s)
                resources.append(
                    {
                        "dataFeedURL": f"{base}{FEED_PATH}{p}?appId={app_id}",
                        "sessionToken": {
                            "token": session.token,
                            "expiration": expiration.isoformat().replace("+00:00", "Z"),
                        },
                        "refreshActiveSessionURL": f"{base}{REFRESH_PATH}{p}?appId={app_id}"
                        "&action_name=refresh_active_stream_session",
                        "refreshActiveSessionInterval": self.session_interval_s,
                    }
                )
        h.send_json(200, {"meta": _meta(), "resources": resources, "errors": []})

    def refresh(self, h: _Handler, partition: int, q: dict[str, str]) -> None:
        if not self._bearer_ok(h):
            return
        app_id = q.get("appId", "")
        with self._cond:
            s = self._state.sessions.get((app_id, partition))
            ok = (
                q.get("action_name") == "refresh_active_stream_session"
                and s is not None
                and time.monotonic() < s.expires_at
            )
            if ok:
                assert s is not None
                s.expires_at = time.monotonic() + s.interval
                self.refreshes.append((app_id, partition))
            else:
                self.refresh_failures += 1
        if ok:
            h.send_json(200, {"meta": _meta(), "resources": [], "errors": []})
        else:
            h.send_json(404, _errors(404, "no active stream session to refresh"))

    def stream(self, h: _Handler, partition: int, q: dict[str, str]) -> None:
        auth = h.headers.get("Authorization", "")
        app_id = q.get("appId", "")
        offset = int(q["offset"]) if "offset" in q else None
        connect = Connect(partition, app_id, offset)
        with self._cond:
            self.auth_headers.add(auth)
            self.connects.append(connect)
            s = self._state.sessions.get((app_id, partition))
            valid = s is not None and auth == f"Token {s.token}" and time.monotonic() < s.expires_at
            if valid:
                conn = _Conn(partition, app_id)
                self._state.conns.append(conn)
        if not valid:
            connect.status = 401
            # The real API explains a refused feed in pretty-printed JSON.
            h.send_json(401, _errors(401, "invalid or expired session token"), indent=True)
            return
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        start = (
            self.first_offset if offset is None else max(self.first_offset, offset - self.overlap)
        )
        try:
            connect.ended = self._serve(h, conn, start)
        except OSError:
            connect.ended = "client_gone"
        finally:
            with self._cond:
                self._state.conns.remove(conn)
        h.close_connection = True

    def _serve(self, h: _Handler, conn: _Conn, cursor: int) -> str:
        while True:
            with self._cond:
                while True:
                    events = self._state.events[conn.partition]
                    s = self._state.sessions.get((conn.app_id, conn.partition))
                    if self._stopping:
                        why = "server_stop"
                    elif s is None or time.monotonic() >= s.expires_at:
                        why = "session_expired"
                    elif conn.drop:
                        why = "dropped"
                    elif cursor - self.first_offset < len(events):
                        why = ""
                    else:
                        # Wake up at least at session expiry, so a lapse ends the stream.
                        self._cond.wait(min(0.05, max(0.0, s.expires_at - time.monotonic())))
                        continue
                    break
                batch = events[cursor - self.first_offset :]
            if why == "dropped":
                if conn.partial:
                    nxt = batch[0] if batch else b'{"metadata":{"offset":'
                    h.write_chunk(nxt[: max(1, len(nxt) // 2)])
                h.abort()
                return why
            if why:
                h.end_chunks()
                return why
            h.write_chunk(b"".join(line + b"\n" for line in batch))
            cursor += len(batch)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # aborted streams are expected here; tests assert what the server recorded


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_api: FalconAPI

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _route(self, method: str) -> None:
        u = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(u.query).items()}
        api = self.server_api
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if method == "POST" and u.path == "/oauth2/token":
            form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
            api.token(self, form)
        elif method == "GET" and u.path == DISCOVER_PATH:
            api.discover(self, q)
        elif method == "POST" and u.path.startswith(REFRESH_PATH):
            api.refresh(self, int(u.path[len(REFRESH_PATH) :]), q)
        elif method == "GET" and u.path.startswith(FEED_PATH):
            api.stream(self, int(u.path[len(FEED_PATH) :]), q)
        else:
            self.send_json(404, _errors(404, f"no route for {method} {u.path}"))

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def send_json(
        self, status: int, body: Any, headers: dict[str, str] | None = None, *, indent: bool = False
    ) -> None:
        data = json.dumps(body, indent=2 if indent else None).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def abort(self) -> None:
        """Reset the connection (RST), as a network failure would."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


def _errors(code: int, message: str) -> dict[str, Any]:
    return {"meta": _meta(), "resources": [], "errors": [{"code": code, "message": message}]}


def _meta() -> dict[str, Any]:
    return {"query_time": 0.001, "powered_by": "FalconHose", "trace_id": secrets.token_hex(8)}


def start(**kw: Any) -> FalconAPI:
    """Start a fake API server (pure Python: always available)."""
    return FalconAPI(**kw).start()
