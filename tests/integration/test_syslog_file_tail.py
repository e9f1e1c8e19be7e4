"""The file-tail source: files a syslog daemon writes — rotation, truncation, restarts."""

from __future__ import annotations

import collections
import os
import threading
import time

import orjson

from shippers.pipeline import Pipeline
from shippers.plugin import Context
from shippers.sinks.dead_letter import DeadLetterSink
from shippers.sources.file_tail import FileTailOptions, FileTailSource
from tests.integration.test_syslog_receiver import CaptureSink, panos_line, wait_until


class Tail:
    """A file-tail source in a real pipeline (real PAN-OS normalizer) on a thread."""

    def __init__(self, tmp_path, *, once: bool = False, **opts):
        self.ctx = Context(
            dead_letter=DeadLetterSink(tmp_path / "dead.ndjson"), state_dir=tmp_path / "state"
        )
        options = FileTailOptions(paths=[str(tmp_path / "logs" / "*.log")], **opts)
        self.source = FileTailSource(options, self.ctx)
        self.sink = CaptureSink()
        self.pipeline = Pipeline([self.source], [self.sink], self.ctx, idle_flush_s=0.05)
        self.thread = threading.Thread(target=self.pipeline.run, kwargs={"once": once})
        self.thread.start()

    def stop(self) -> None:
        self.ctx.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive() and not self.pipeline.errors

    def raws(self) -> collections.Counter:
        return collections.Counter(r.raw for r in self.sink.records)


def write(path, lines, mode="ab"):
    with open(path, mode) as f:
        f.write(b"".join(x + b"\n" for x in lines))


def lines(a: int, b: int) -> list[bytes]:
    return [panos_line(i, device="dev", header_host="fw") for i in range(a, b)]


def test_once_reads_to_eof_and_restart_resumes_without_duplicates(tmp_path):
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "fw.log"
    write(log, lines(0, 300))
    t = Tail(tmp_path, once=True)
    t.thread.join(30)
    assert t.raws() == collections.Counter(lines(0, 300))
    doc = t.sink.records[0].doc
    assert doc["log"]["file"]["path"] == str(log) and doc["log"]["offset"] == 0
    write(log, lines(300, 350))
    t2 = Tail(tmp_path, once=True)
    t2.thread.join(30)
    assert t2.raws() == collections.Counter(lines(300, 350))  # only what is new


def test_rotation_and_truncation_while_following(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "fw.log"
    write(log, lines(0, 100))
    t = Tail(tmp_path, poll_interval_s=0.05)
    assert wait_until(lambda: t.sink.count() == 100, 30)
    # Rename rotation; the daemon still writes a last bit to the old file, then the new one.
    write(log, lines(100, 150))
    os.rename(log, logs / "fw.log.1")  # no longer matches *.log
    write(logs / "fw.log.1", lines(150, 160))
    write(log, lines(160, 200))
    assert wait_until(lambda: t.sink.count() == 200, 30)
    # copytruncate: the file is emptied in place and written again.
    os.truncate(log, 0)
    write(log, lines(200, 220))
    assert wait_until(lambda: t.sink.count() == 220, 30)
    # A partial line is not read until its newline arrives.
    partial = lines(220, 221)[0]
    with open(log, "ab") as f:
        f.write(partial[:40])
    time.sleep(0.3)
    with open(log, "ab") as f:
        f.write(partial[40:] + b"\n")
    assert wait_until(lambda: t.sink.count() == 221, 30)
    t.stop()
    assert t.raws() == collections.Counter(lines(0, 221))
    state = orjson.loads(t.source.state_path.read_bytes())["files"]
    st = os.stat(log)
    assert state[f"{st.st_dev}:{st.st_ino}"]["offset"] == st.st_size


def test_oversized_line_is_dead_lettered(tmp_path):
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "fw.log"
    write(log, [*lines(0, 2), b"Z" * 5000, *lines(2, 4)])
    t = Tail(tmp_path, once=True, max_line_bytes=2048)
    t.thread.join(30)
    assert t.raws() == collections.Counter(lines(0, 4))
    t.ctx.dead_letter.close()
    (letter,) = [orjson.loads(x) for x in (tmp_path / "dead.ndjson").read_bytes().splitlines()]
    assert letter["reason"].startswith("line too long") and letter["detail"]["length"] == 5000
