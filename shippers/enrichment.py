"""FDR host and user enrichment from the lookup data sets, persisted in SQLite.

FDR event records carry only the sensor id (`aid` → ECS `host.id`) and a user SID
(→ `user.id`). The secondary data sets describe them: `aidmaster` (one record per sensor:
ComputerName, MachineDomain, platform, OS version), `managedassets` (network identity of
managed hosts: LocalAddressIP4, MAC), `notmanaged` (devices seen by a sensor) and
`userinfo` (UserSid → UserName). The source loads those files into this table before the
event files of the same message and the pipeline calls `enrich(doc)` on every normalized
event. The table lives in `state_dir` so a restart keeps it — CrowdStrike sends aidmaster
only periodically, and events in between still need host names.

Precedence when data sets disagree: aidmaster > managedassets > notmanaged; within a data
set the most recently loaded record wins. Enrichment only fills fields the event lacks.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson

__all__ = ["HOST_KINDS", "LookupTable", "host_fields", "mac_ecs"]

HOST_KINDS = ("aidmaster", "managedassets", "notmanaged")
_PLATFORM = {"Win": "windows", "Mac": "macos", "Lin": "linux"}
_CACHE_MAX = 100_000


def mac_ecs(mac: str) -> str:
    """ECS MAC form: upper-case hex pairs separated by '-' (FDR writes 'aa-bb-…' or 'aa:bb:…')."""
    hexdigits = "".join(c for c in mac if c.isalnum()).upper()
    if len(hexdigits) != 12:
        return mac
    return "-".join(hexdigits[i : i + 2] for i in range(0, 12, 2))


def host_fields(record: dict[str, Any]) -> dict[str, Any]:
    """ECS `host.*` fields from one aidmaster / managedassets / notmanaged record."""
    out: dict[str, Any] = {}
    name = record.get("ComputerName") or record.get("Hostname")
    if name:
        out["name"] = out["hostname"] = name
    if record.get("MachineDomain"):
        out["domain"] = record["MachineDomain"]
    os_: dict[str, Any] = {}
    platform = _PLATFORM.get(str(record.get("event_platform") or ""))
    if platform:
        os_["type"] = platform
    if record.get("Version"):
        os_["full"] = record["Version"]
    if record.get("OSVersion"):
        os_["version"] = record["OSVersion"]
    if os_:
        out["os"] = os_
    ips = [record[k] for k in ("LocalAddressIP4", "LocalAddressIP6") if record.get(k)]
    if ips:
        out["ip"] = ips
    if record.get("MAC"):
        out["mac"] = [mac_ecs(str(record["MAC"]))]
    return out


class LookupTable:
    """aid → host fields and SID → user name, in SQLite with a small in-memory cache.

    Thread-safe: the source loads from its worker threads while the pipeline's normalizer
    threads call `enrich`.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS hosts (aid TEXT, kind TEXT, fields BLOB, "
            "PRIMARY KEY (aid, kind))"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS users (sid TEXT PRIMARY KEY, name TEXT)")
        self._lock = threading.Lock()
        self._hosts: dict[str, dict[str, Any] | None] = {}
        self._users: dict[str, str | None] = {}

    # -- loading ---------------------------------------------------------------------------
    def load(self, kind: str, records: list[dict[str, Any]]) -> int:
        """Upsert one batch of lookup records of data set `kind`; returns how many were used."""
        if kind == "userinfo":
            rows = [
                (sid, r["UserName"])
                for r in records
                if (sid := r.get("UserSid") or r.get("UserSid_readable")) and r.get("UserName")
            ]
            with self._lock:
                self._db.executemany(
                    "INSERT INTO users (sid, name) VALUES (?, ?) "
                    "ON CONFLICT(sid) DO UPDATE SET name = excluded.name",
                    rows,
                )
                for sid, _ in rows:
                    self._users.pop(sid, None)
            return len(rows)
        if kind not in HOST_KINDS:
            raise ValueError(f"unknown lookup data set {kind!r}")
        hrows = [
            (r["aid"], kind, orjson.dumps(f))
            for r in records
            if r.get("aid") and (f := host_fields(r))
        ]
        with self._lock:
            self._db.executemany(
                "INSERT INTO hosts (aid, kind, fields) VALUES (?, ?, ?) "
                "ON CONFLICT(aid, kind) DO UPDATE SET fields = excluded.fields",
                hrows,
            )
            for aid, _, _ in hrows:
                self._hosts.pop(aid, None)
        return len(hrows)

    # -- lookups ---------------------------------------------------------------------------
    def host(self, aid: str) -> dict[str, Any] | None:
        """Merged ECS host fields for a sensor id, None when unknown."""
        with self._lock:
            if aid in self._hosts:
                return self._hosts[aid]
            rows = dict(
                self._db.execute("SELECT kind, fields FROM hosts WHERE aid = ?", (aid,)).fetchall()
            )
            merged: dict[str, Any] | None = None
            # Lowest precedence first, so higher-precedence data sets overwrite.
            for kind in reversed(HOST_KINDS):
                if kind in rows:
                    merged = merged or {}
                    _merge(merged, orjson.loads(rows[kind]), overwrite=True)
            if len(self._hosts) >= _CACHE_MAX:
                self._hosts.clear()
            self._hosts[aid] = merged
            return merged

    def user(self, sid: str) -> str | None:
        with self._lock:
            if sid in self._users:
                return self._users[sid]
            row = self._db.execute("SELECT name FROM users WHERE sid = ?", (sid,)).fetchone()
            if len(self._users) >= _CACHE_MAX:
                self._users.clear()
            name = self._users[sid] = row[0] if row else None
            return name

    def enrich(self, doc: dict[str, Any]) -> None:
        """Fill host.* by host.id (aid) and user.name by user.id (SID) where the doc lacks them."""
        host = doc.get("host")
        aid = host.get("id") if isinstance(host, dict) else None
        if aid:
            info = self.host(aid)
            if info:
                _merge(doc["host"], info, overwrite=False)
                if info.get("name"):
                    _add_related(doc, "hosts", info["name"])
        user = doc.get("user")
        sid = user.get("id") if isinstance(user, dict) else None
        if sid and not user.get("name"):  # type: ignore[union-attr]
            name = self.user(sid)
            if name:
                user["name"] = name  # type: ignore[index]
                _add_related(doc, "user", name)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _merge(dst: dict[str, Any], src: dict[str, Any], *, overwrite: bool) -> None:
    for k, v in src.items():
        if isinstance(v, dict):
            sub = dst.get(k)
            if not isinstance(sub, dict):
                sub = dst[k] = {}
            _merge(sub, v, overwrite=overwrite)
        elif overwrite or k not in dst:
            dst[k] = v


def _add_related(doc: dict[str, Any], key: str, value: str) -> None:
    related = doc.setdefault("related", {})
    values = related.setdefault(key, [])
    if value not in values:
        values.append(value)
