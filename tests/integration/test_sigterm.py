"""SIGTERM during a run: what was delivered is acked, nothing is lost, exit code 0.

The shipper runs as a real subprocess (`shippers.cli.main`, real pipeline, real signal).
Two small plugins are registered by the launcher script so the ack contract becomes
observable from outside the process:

- `ledger-files`: the `files` source with a checkpoint, like an SQS or stream source: a
  file's Ack writes `ok <path>` to a ledger when the pipeline settles it, and files already
  `ok` are skipped on the next start. On stop it quits between batches without sealing
  the current file's Ack — an unfinished unit is returned, not acknowledged.
- `slow-ndjson`: the real `ndjson` sink, sleeping before each write so that SIGTERM
  reliably lands in the middle of the run.

Contract checked: exit 0 after SIGTERM; every file acked `ok` has all its lines in the
output (or the dead-letter file); the stop happened mid-run (some files unacked); the next
start ships exactly the rest; across both runs every input line is accounted for and every
file is acked once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.golden import CORPUS

LAUNCHER = textwrap.dedent(
    """
    import sys, time
    from dataclasses import dataclass, field

    from shippers.cli import main
    from shippers.record import Ack
    from shippers.registry import register
    from shippers.sinks.ndjson import NdjsonOptions, NdjsonSink
    from shippers.sources.files import FilesOptions, FilesSource, read_file_batches


    @dataclass
    class LedgerOptions(FilesOptions):
        ledger: str = field(default="ledger.txt")


    @register("source", "ledger-files")
    class LedgerFiles(FilesSource):
        Options = LedgerOptions
        name = "ledger-files"

        def _settled(self, path, failed):
            with open(self.options.ledger, "a") as f:
                f.write(("failed " if failed else "ok ") + path + "\\n")

        def run(self, emit, *, once=False):
            try:
                with open(self.options.ledger) as f:
                    done = {l.split(" ", 1)[1].strip() for l in f if l.startswith("ok ")}
            except FileNotFoundError:
                done = set()
            for path in self.expand():
                if self.ctx.stop.is_set():
                    return
                if path in done:
                    continue
                ack = Ack(path, on_complete=lambda failed, p=path: self._settled(p, failed))

                def guarded(batch):
                    if self.ctx.stop.is_set():
                        raise InterruptedError  # stop between batches; do not seal
                    emit(batch)

                try:
                    read_file_batches(path, self.options.format, guarded, ack,
                                      source="ledger-files", batch_lines=self.options.batch_lines)
                except InterruptedError:
                    return
                ack.seal()


    @dataclass
    class SlowOptions(NdjsonOptions):
        delay_s: float = field(default=0.1)


    @register("sink", "slow-ndjson")
    class SlowNdjson(NdjsonSink):
        Options = SlowOptions
        name = "slow-ndjson"

        def write(self, records):
            records = list(records)
            if records:
                time.sleep(self.options.delay_s)
            super().write(records)


    sys.exit(main(sys.argv[1:]))
    """
)


def _split_corpus(dest: Path, lines_per_file: int = 6) -> dict[str, set[int]]:
    """Falcon corpus → many small files; returns {path: byte offsets of non-blank lines}."""
    src = [p for p in sorted((CORPUS / "crowdstrike-fdr").glob("*.log"))]
    lines = [line for p in src for line in p.read_bytes().splitlines(keepends=True) if line.strip()]
    expected: dict[str, set[int]] = {}
    for i in range(0, len(lines), lines_per_file):
        path = dest / f"part-{i // lines_per_file:03d}.log"
        chunk = lines[i : i + lines_per_file]
        path.write_bytes(b"".join(chunk))
        offsets, pos = set(), 0
        for line in chunk:
            offsets.add(pos)
            pos += len(line)
        expected[str(path)] = offsets
    return expected


def _shipped(out: Path, dead: Path) -> list[tuple[str, int]]:
    """(file path, line offset) of every output document and dead letter, in order."""
    got: list[tuple[str, int]] = []
    if out.exists():
        for line in out.read_bytes().splitlines():
            doc = json.loads(line)  # a partial line would fail here
            got.append((doc["log"]["file"]["path"], doc["log"]["offset"]))
    if dead.exists():
        for line in dead.read_bytes().splitlines():
            d = json.loads(line)
            got.append((d["provenance"]["location"], d["provenance"]["offset"]))
    return got


def _ledger(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [tuple(line.split(" ", 1)) for line in path.read_text().splitlines()]  # type: ignore[misc]


def test_sigterm_acks_delivered_and_next_start_ships_the_rest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    expected = _split_corpus(data)
    all_lines = {(p, o) for p, offs in expected.items() for o in offs}
    assert len(expected) >= 20
    out, dead, ledger = tmp_path / "out.ndjson", tmp_path / "dead.ndjson", tmp_path / "ledger.txt"
    (tmp_path / "launcher.py").write_text(LAUNCHER)
    (tmp_path / "shipper.toml").write_text(
        f"""
state_dir = "{tmp_path / "state"}"
[pipeline]
grace_period_s = 20
[dead_letter]
path = "{dead}"
[[sources]]
type = "ledger-files"
paths = ["{data}/*.log"]
format = "falcon"
batch_lines = 3
ledger = "{ledger}"
[[sinks]]
type = "slow-ndjson"
path = "{out}"
delay_s = 0.03
"""
    )
    cmd = [sys.executable, str(tmp_path / "launcher.py"), "run", "--config", "shipper.toml"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(_ledger(ledger)) < 2:  # a couple of files delivered and acked
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "no file acked within 60 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = err.decode(errors="replace")
    assert proc.returncode == 0, stderr[-3000:]
    assert "signal" in stderr  # the shutdown went through the signal handler

    first = _ledger(ledger)
    assert all(status == "ok" for status, _ in first), first
    acked = {p for _, p in first}
    assert len(acked) == len(first)  # each unit settled once
    assert 0 < len(acked) < len(expected), "SIGTERM must land mid-run"
    shipped = _shipped(out, dead)
    assert len(shipped) == len(set(shipped))  # no duplicates within a run
    shipped_set = set(shipped)
    for path in acked:  # acked ⇒ every line of the unit delivered (or dead-lettered)
        assert {(path, o) for o in expected[path]} <= shipped_set, path
    assert shipped_set <= all_lines

    # Next start: everything not acked is shipped; acked units are not shipped again.
    second = subprocess.run(
        [*cmd, "--once"], cwd=tmp_path, env=env, capture_output=True, timeout=120
    )
    assert second.returncode == 0, second.stderr.decode(errors="replace")[-3000:]
    final = _ledger(ledger)
    assert [p for _, p in final[: len(first)]] == [p for _, p in first]
    assert all(status == "ok" for status, _ in final)
    assert sorted(p for _, p in final) == sorted(expected)  # every file acked exactly once
    shipped_all = _shipped(out, dead)
    assert set(shipped_all) == all_lines  # nothing lost
    reshipped = [x for x in shipped_all[len(shipped) :] if x[0] in acked]
    assert reshipped == []  # acked units are not redelivered
