"""The embedded default: `shippers demo`, `shippers run --once` without a config, `hunt`.

Runs the real command in a subprocess with SHIPPERS_HOME pointing at a temporary
directory, then checks the archive on disk (raw and normalized, both sources), the inbox
bookkeeping, and that `hunt --ip <shared address>` answers from the local archive with
hits from both the endpoint and the firewall.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import orjson

from shippers.default_config import default_config
from tests.unit.test_hunt_support import SHARED_IP, demo_path


def shippers(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith("SHIPPERS_")}
    e.update(SHIPPERS_HOME=str(home), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "shippers", *args],
        env=e,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_default_config_is_local_unless_es_is_configured(tmp_path: Path, monkeypatch) -> None:
    from shippers.config import parse_config

    monkeypatch.setenv("SHIPPERS_HOME", str(tmp_path))
    monkeypatch.delenv("SHIPPERS_ES_URL", raising=False)
    cfg = default_config()
    assert [s["type"] for s in cfg["sinks"]] == ["archive"]
    assert cfg["sinks"][0]["url"] == str(tmp_path / "archive")
    assert cfg["sources"][0] == {"type": "inbox", "path": str(tmp_path / "inbox"),
                                 "archive": str(tmp_path / "archive")}  # fmt: skip
    assert cfg["dead_letter"]["path"] == str(tmp_path / "dead-letter.ndjson")
    parsed = parse_config(cfg)  # the default must pass the same validation as a file
    assert [s.type for s in parsed.sources] == ["inbox"]
    monkeypatch.setenv("SHIPPERS_ES_URL", "http://127.0.0.1:9")
    cfg = default_config()
    assert [s["type"] for s in cfg["sinks"]] == ["archive", "elasticsearch"]
    assert cfg["sinks"][1]["hosts"] == ["http://127.0.0.1:9"]


def test_demo_run_once_then_hunt(tmp_path: Path) -> None:
    home = tmp_path / "home"
    demo = shippers(home, "demo")
    assert demo.returncode == 0, demo.stderr
    assert f"shippers hunt --ip {SHARED_IP}" in demo.stdout
    inbox = home / "inbox"
    names = sorted(p.name for p in inbox.iterdir() if p.is_file())
    assert names == ["falcon-fdr-data.log", "panos-syslog.log"]

    run = shippers(home, "run", "--once")
    assert run.returncode == 0, run.stderr
    archive = home / "archive"

    # raw: byte-identical copies, one per source
    for source, name in (("falcon", "falcon-fdr-data.log"), ("panos", "panos-syslog.log")):
        raw = list((archive / "raw" / source).rglob(name))
        assert len(raw) == 1, raw
        assert len(raw[0].relative_to(archive / "raw" / source).parts) == 5  # YYYY/MM/DD/HH/name
        assert raw[0].read_bytes() == demo_path(name).read_bytes()

    # normalized: every demo line is one document with its id, partitioned by event hour
    docs: dict[str, list[dict]] = {}
    for f in (archive / "normalized").rglob("*.ndjson.gz"):
        source = f.relative_to(archive / "normalized").parts[0].removeprefix("source=")
        docs.setdefault(source, []).extend(
            orjson.loads(x) for x in gzip.decompress(f.read_bytes()).splitlines()
        )
    pairs = (("falcon", "falcon-fdr-data.log"), ("panos", "panos-syslog.log"))
    lines = {s: len(demo_path(n).read_bytes().splitlines()) for s, n in pairs}
    assert {s: len(d) for s, d in docs.items()} == lines
    assert all(d["_id"] for ds in docs.values() for d in ds)

    # the inbox is empty, both files are filed as done; nothing was dead-lettered
    assert not [p for p in inbox.iterdir() if p.is_file()]
    assert sorted(p.name for p in (inbox / ".done").iterdir()) == names
    dl = home / "dead-letter.ndjson"
    assert not dl.exists() or dl.read_text() == ""

    hunt = shippers(home, "hunt", "--ip", SHARED_IP, "--format", "json")
    assert hunt.returncode == 0, hunt.stderr
    result = json.loads(hunt.stdout)
    assert result["counts"]["source"] == {"falcon": 1, "panos": 2}
    assert result["counts"]["tier"] == {"cold": 3}
    falcon = [h for h in result["hits"] if h["source"] == "falcon"]
    assert falcon[0]["host"] == "WKSTN-0142" and falcon[0]["dst"] == f"{SHARED_IP}:443"

    table = shippers(home, "hunt", "--ip", SHARED_IP)
    assert table.returncode == 0 and table.stdout.splitlines()[-1].startswith("3 hits")

    # running again with nothing new changes nothing; re-dropping the same file does not
    # duplicate documents (same location → same deterministic archive object)
    again = shippers(home, "run", "--once")
    assert again.returncode == 0, again.stderr
    (inbox / "panos-syslog.log").write_bytes(demo_path("panos-syslog.log").read_bytes())
    assert shippers(home, "run", "--once").returncode == 0
    hunt2 = json.loads(shippers(home, "hunt", "--ip", SHARED_IP, "--format", "json").stdout)
    assert hunt2["counts"]["source"] == {"falcon": 1, "panos": 2}


def _run_inbox(home: Path) -> subprocess.CompletedProcess:
    r = shippers(home, "run", "--once")
    assert r.returncode == 0, r.stderr
    return r


def test_inbox_gzip_and_unknown_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "fdr-part-0001.gz").write_bytes(
        gzip.compress(demo_path("falcon-fdr-data.log").read_bytes())
    )
    (inbox / "notes.txt").write_text("meeting notes, not a log\n")
    (inbox / "mixed.log").write_bytes(
        demo_path("panos-syslog.log").read_bytes() + b"garbage line\n"
    )
    _run_inbox(home)
    archive = home / "archive"
    raw = list((archive / "raw" / "falcon").rglob("fdr-part-0001.gz"))
    assert len(raw) == 1 and raw[0].read_bytes()[:2] == b"\x1f\x8b"  # kept as received
    assert (inbox / ".failed" / "notes.txt").exists()
    assert sorted(p.name for p in (inbox / ".done").iterdir()) == ["fdr-part-0001.gz", "mixed.log"]
    letters = [json.loads(x) for x in (home / "dead-letter.ndjson").read_text().splitlines()]
    reasons = {x["provenance"]["location"].rsplit("/", 1)[-1]: x for x in letters}
    assert reasons["notes.txt"]["reason"].startswith("unrecognized format")
    assert reasons["notes.txt"]["original"].startswith("meeting notes")
    assert reasons["mixed.log"]["original"] == "garbage line"
    assert len(letters) == 2


def test_inbox_is_created_when_missing(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    _run_inbox(home)
    assert (home / "inbox").is_dir() and (home / "inbox" / ".done").is_dir()
    hunt = shippers(home, "hunt", "--ip", SHARED_IP, "--format", "json")
    assert hunt.returncode == 0 and json.loads(hunt.stdout)["hits"] == []
