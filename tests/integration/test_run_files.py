"""`shippers run --config` wires files → normalizers → ndjson sink, with dead letters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from shippers.lines import iter_lines, open_path


def test_run_once_files_to_ndjson(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.ndjson"
    dead = tmp_path / "dead.ndjson"
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f"""
state_dir = "{tmp_path / "state"}"
[dead_letter]
path = "{dead}"
[[sources]]
type = "files"
paths = ["{corpus}/crowdstrike-fdr/*.log"]
format = "falcon"
batch_lines = 7
[[sources]]
type = "files"
paths = ["{corpus}/panw-panos/*.log"]
format = "panos"
[[sinks]]
type = "ndjson"
path = "{out}"
"""
    )
    res = subprocess.run(
        [sys.executable, "-m", "shippers", "run", "--once", "--config", str(cfg)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    docs = [json.loads(x) for x in out.read_text().splitlines()]
    letters = dead.read_text().splitlines() if dead.exists() else []
    files = sorted(corpus.glob("*/*.log"))
    total = 0
    for f in files:
        with open_path(f) as s:
            total += sum(1 for _ in iter_lines(s))
    assert len(docs) + len(letters) == total
    assert len({d["_id"] for d in docs}) == len(docs)
    datasets = {d["event"]["dataset"] for d in docs}
    assert {"crowdstrike.fdr", "panw.panos"} <= datasets


def test_run_reports_config_error_with_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[sources]]\ntype = "files"\npaths = ["x"]\nformat = "panos"\nbatchlines = 3\n')
    res = subprocess.run(
        [sys.executable, "-m", "shippers", "run", "--config", str(cfg)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2
    assert b"sources[0].batchlines" in res.stderr and b"3" in res.stderr
