"""The soak's seeded workload and its ledger.

FDR: gzip'd JSON-lines objects built from the shared corpus (Linux + Windows FDR events
as templates), each event given a unique `id`, in objects of log-normally varied sizes
plus a few large ones, announced by FDR notification messages of 1-4 files, and one
`aidmaster` lookup object first (as CrowdStrike delivers it). Some objects carry malformed
lines (broken JSON, a JSON array, a non-Falcon object, invalid UTF-8, an over-long line);
one object is a gzip bomb (ten real events, then tens of MB of newlines compressed to a few
kB). PAN-OS: traffic/threat corpus lines with unique sequence numbers, plus malformed lines.

The ledger records every event: its ledger id (`event.id` for FDR = "id|aid|cid", the
sequence number for PAN-OS), the object it travels in and whether it is expected in
Elasticsearch or in the dead-letter file. Every malformed line carries a unique marker
(`soak-bad-…`) so its dead letter can be found again.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.golden import CORPUS

__all__ = ["SIZES", "FdrObject", "Ledger", "Message", "Workload", "build"]

FDR_TEMPLATES = ("test-linux.log", "test-windows-a.log")
PANOS_TEMPLATES = ("test-panw-panos-traffic-sample.log", "test-panw-panos-threat-sample.log")
CID = "ffffffff30a3407dae27d0503611022d"

# events: FDR events in total; large: (objects, events each); median: of the other objects.
SIZES: dict[str, dict[str, Any]] = {
    "small": {
        "events": 30_000, "large": (2, 4_000), "median": 250, "panos": 3_000, "waves": 6,
        "kills": 2, "es_restarts": 1, "bomb_mb": 24,
    },
    "large": {
        "events": 500_000, "large": (4, 40_000), "median": 800, "panos": 30_000, "waves": 12,
        "kills": 4, "es_restarts": 2, "bomb_mb": 64,
    },
}  # fmt: skip


@dataclass
class FdrObject:
    key: str
    data: bytes
    events: list[str]  # ledger ids (event.id) of the valid events in it
    bad: list[str]  # markers of its malformed lines
    kind: str = "data"  # data | lookup | bomb

    @property
    def md5(self) -> str:
        return hashlib.md5(self.data, usedforsecurity=False).hexdigest()


@dataclass
class Message:
    body: str
    keys: list[str]
    marker: str = ""  # poison messages: a unique marker inside the body


@dataclass
class Ledger:
    """Every event with its unique id; where it travels; what outcome is expected."""

    fdr: dict[str, str] = field(default_factory=dict)  # event.id → object key
    fdr_bad: dict[str, str] = field(default_factory=dict)  # marker → object key
    panos: list[str] = field(default_factory=list)  # sequence numbers
    panos_bad: list[str] = field(default_factory=list)  # markers
    bomb_keys: list[str] = field(default_factory=list)
    poison: list[str] = field(default_factory=list)  # markers of poison SQS messages

    @property
    def total(self) -> int:
        return len(self.fdr) + len(self.fdr_bad) + len(self.panos) + len(self.panos_bad)

    def save(self, path: Path) -> None:
        path.write_bytes(orjson.dumps(self.__dict__))


@dataclass
class Workload:
    seed: int
    bucket: str
    objects: dict[str, FdrObject]
    waves: list[list[Message]]  # FDR messages, sent wave by wave
    panos_waves: list[list[bytes]]  # PAN-OS lines, sent wave by wave
    bomb: Message
    poison: list[Message]
    ledger: Ledger

    @property
    def messages(self) -> list[Message]:
        return [m for w in self.waves for m in w]


def _fdr_templates() -> list[dict[str, Any]]:
    out = []
    for name in FDR_TEMPLATES:
        path = CORPUS / "crowdstrike-fdr" / name
        out += [json.loads(ln) for ln in path.read_bytes().splitlines() if ln.strip()]
    return out


def _panos_templates() -> list[tuple[bytes, bytes]]:
    """(line, its sequence number) for corpus lines whose number occurs exactly once."""
    from shippers.normalizers import get_normalizer

    n = get_normalizer("panos")
    out = []
    for name in PANOS_TEMPLATES:
        for line in (CORPUS / "panw-panos" / name).read_bytes().splitlines():
            if not line.strip():
                continue
            doc, _ = n.normalize(line)
            seq = str(doc.get("panw", {}).get("panos", {}).get("sequence_number", ""))
            if seq and line.count(f",{seq},".encode()) == 1:
                out.append((line, seq.encode()))
    return out


def _malformed(rng: random.Random, marker: str, max_line: int) -> bytes:
    kind = rng.choice(["truncated", "array", "not-falcon", "binary", "oversized"])
    if kind == "truncated":
        return f'{{"id": "{marker}", "event_simpleName": "ProcessRollup2", "aid": "'.encode()
    if kind == "array":
        return f'["{marker}", {{"event_simpleName": "DnsRequest"}}]'.encode()
    if kind == "not-falcon":
        return f'{{"note": "{marker}", "hello": "world"}}'.encode()
    if kind == "binary":
        return f'{{"id": "{marker}", "x": "'.encode() + b"\xff\xfe\x00\x81" + b'"}'
    return f'{{"id": "{marker}", "CommandLine": "'.encode() + b"A" * (max_line + 100) + b'"}'


def _sizes(rng: random.Random, total: int, median: int, large: tuple[int, int]) -> list[int]:
    n_large, large_events = large
    sizes = [large_events] * n_large
    rest = total - sum(sizes)
    while rest > 0:
        n = min(rest, max(1, int(rng.lognormvariate(math.log(median), 1.0))), 3 * median * 4)
        sizes.append(n)
        rest -= n
    rng.shuffle(sizes)
    return sizes


def build(size: str, seed: int, bucket: str, max_line_bytes: int) -> Workload:
    """The whole workload in memory (objects gzip'd), deterministic for (size, seed)."""
    cfg = SIZES[size]
    rng = random.Random(seed)
    ledger = Ledger()
    templates = _fdr_templates()
    objects: dict[str, FdrObject] = {}
    prefix = f"data/soak-{seed}"
    seq = 0
    bad_n = 0

    def event_line() -> tuple[bytes, str]:
        nonlocal seq
        rec = dict(rng.choice(templates))
        rec["id"] = f"{seed & 0xFFFFFFFF:08x}-50a6-4000-8000-{seq:012x}"
        seq += 1
        ledger_id = f"{rec['id']}|{rec.get('aid') or ''}|{rec.get('cid') or ''}"
        return orjson.dumps(rec), ledger_id

    # The lookup object first: real FDR delivers aidmaster beside the data.
    aids = sorted({t["aid"] for t in templates if t.get("aid")})
    lookup = b"\n".join(
        orjson.dumps({"aid": a, "cid": CID, "ComputerName": f"soak-host-{a[:6]}",
                      "MachineDomain": "corp.example", "event_platform": "Win"})
        for a in aids
    ) + b"\n"  # fmt: skip
    lkey = f"fdrv2/aidmaster/soak-{seed}/part-00000.gz"
    objects[lkey] = FdrObject(lkey, gzip.compress(lookup, mtime=0), [], [], "lookup")

    data_keys: list[str] = []
    for i, n in enumerate(_sizes(rng, cfg["events"], cfg["median"], cfg["large"])):
        lines, ids, bad = [], [], []
        for _ in range(n):
            line, lid = event_line()
            lines.append(line)
            ids.append(lid)
            ledger.fdr[lid] = ""
        if rng.random() < 0.15:
            for _ in range(rng.randint(1, 2)):
                marker = f"soak-bad-fdr-{seed}-{bad_n}"
                bad_n += 1
                lines.insert(rng.randrange(len(lines) + 1), _malformed(rng, marker, max_line_bytes))
                bad.append(marker)
        key = f"{prefix}/batch-{i // 3:04d}/part-{i % 3:05d}.gz"
        data = gzip.compress(b"\n".join(lines) + b"\n", compresslevel=6, mtime=0)
        objects[key] = FdrObject(key, data, ids, bad)
        for lid in ids:
            ledger.fdr[lid] = key
        for m in bad:
            ledger.fdr_bad[m] = key
        data_keys.append(key)

    # The gzip bomb: ten real events, then newlines that compress ~1000:1.
    bomb_ids = []
    head = []
    for _ in range(10):
        line, lid = event_line()
        head.append(line)
        bomb_ids.append(lid)
    bkey = f"{prefix}/batch-bomb/part-00000.gz"
    bomb_data = gzip.compress(
        b"\n".join(head) + b"\n" * (cfg["bomb_mb"] << 20), compresslevel=9, mtime=0
    )
    objects[bkey] = FdrObject(bkey, bomb_data, bomb_ids, [], "bomb")
    for lid in bomb_ids:
        ledger.fdr[lid] = bkey
    ledger.bomb_keys.append(bkey)

    def message(keys: list[str], marker: str = "") -> Message:
        files: list[dict[str, Any]] = [
            {"path": k, "size": len(objects[k].data), "checksum": objects[k].md5}
            if k in objects
            else {"path": k, "size": 1234, "checksum": "0" * 32}
            for k in keys
        ]
        body: dict[str, Any] = {
            "cid": CID,
            "timestamp": int(time.time() * 1000),
            "fileCount": len(files),
            "totalSize": sum(f["size"] for f in files),
            "bucket": bucket,
            "pathPrefix": keys[0].rsplit("/", 1)[0],
            "files": files,
        }
        if marker:
            body["soak_marker"] = marker
        return Message(json.dumps(body), keys, marker)

    # Messages of 1-4 objects; the lookup object rides in the first one.
    msgs: list[Message] = []
    i = 0
    while i < len(data_keys):
        k = rng.randint(1, 4)
        msgs.append(message(data_keys[i : i + k]))
        i += k
    msgs[0] = message([lkey, *msgs[0].keys])
    n_waves = cfg["waves"]
    waves = [msgs[w::n_waves] for w in range(n_waves)]
    # Keep the lookup message first; otherwise order within a wave is the generation order.
    waves[0].sort(key=lambda m: m is not msgs[0])

    # The bomb travels with a normal object after it: the message must go on past it.
    extra = data_keys[-1]
    bomb = message([bkey, extra])
    bad_body = f"soak-poison-{seed}-0"
    poison = [
        Message(f"this is not an FDR notification {bad_body}", [], bad_body),
        message([f"{prefix}/missing/part-00000.gz"], f"soak-poison-{seed}-1"),
    ]
    ledger.poison = [p.marker for p in poison]

    # PAN-OS lines: unique sequence numbers, a few malformed, spread over the waves.
    ptemplates = _panos_templates()
    plines: list[bytes] = []
    for n in range(cfg["panos"]):
        line, old = rng.choice(ptemplates)
        new = str(10**11 + seed * 10**7 + n)
        plines.append(line.replace(b"," + old + b",", b"," + new.encode() + b",", 1))
        ledger.panos.append(new)
        if rng.random() < 0.004:
            marker = f"soak-bad-panos-{seed}-{len(ledger.panos_bad)}"
            plines.append(f"Nov 30 16:09:08 PA-220 {marker},garbage,not,a,panos,log".encode())
            ledger.panos_bad.append(marker)
    if not ledger.panos_bad:
        marker = f"soak-bad-panos-{seed}-0"
        plines.append(f"Nov 30 16:09:08 PA-220 {marker},garbage,not,a,panos,log".encode())
        ledger.panos_bad.append(marker)
    per = math.ceil(len(plines) / n_waves)
    panos_waves = [plines[w * per : (w + 1) * per] for w in range(n_waves)]
    return Workload(seed, bucket, objects, waves, panos_waves, bomb, poison, ledger)
