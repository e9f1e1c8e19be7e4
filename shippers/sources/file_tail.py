"""The `file-tail` source: follow log files a syslog daemon writes (PAN-OS or Falcon lines).

Files are known by identity (device + inode, plus a fingerprint of their first bytes so a
reused inode is not mistaken for the old file), not by name, which is what makes rotation
safe: after `mv fw.log fw.log.1` the open file is read to its end before it is let go, and
the new `fw.log` is a new identity read from offset 0. A file that shrinks under us was
truncated in place (copytruncate) and is read again from 0.

Offsets are persisted in `ctx.state_dir` only once every line before them has an outcome
in every sink (delivered or dead-lettered), so a restart resumes without loss; lines that
were in flight at a crash are read again (at-least-once; the deterministic document ids
make the replay idempotent in Elasticsearch). A trailing line without its newline is left
for the writer to finish, except in `once` mode, which reads every file to its end and
returns.
"""

from __future__ import annotations

import collections
import glob
import hashlib
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from ..errors import ConfigError
from ..lines import OversizedLine
from ..plugin import Context, Emit, RawBatch, Source
from ..record import Ack, Provenance
from ..registry import register

__all__ = ["FileTailOptions", "FileTailSource"]

log = logging.getLogger("shippers.sources.file_tail")

SOURCE_ID = "file-tail"
_READ_BYTES = 1024 * 1024
_FINGERPRINT_BYTES = 256
_HEAD_KEEP = 4096


@dataclass
class FileTailOptions:
    paths: list[str] = field(metadata={"doc": "files or glob patterns to follow"})
    format: Literal["panos", "falcon"] = field(
        default="panos", metadata={"doc": "which normalizer reads these lines"}
    )
    start_at: Literal["beginning", "end"] = field(
        default="beginning",
        metadata={"doc": "where to start in a file first seen at startup (rotated-in: 0)"},
    )
    poll_interval_s: float = field(default=1.0, metadata={"doc": "how often to look for data"})
    batch_lines: int = field(default=1000, metadata={"doc": "lines per emitted batch"})
    max_line_bytes: int = field(
        default=64 * 1024, metadata={"doc": "longer lines are dead-lettered"}
    )
    state_name: str | None = field(
        default=None, metadata={"doc": "state file name in state_dir (default: from paths)"}
    )

    def validate(self, path: str) -> None:
        p = f"{path}." if path else ""
        if not self.paths:
            raise ConfigError(f"{p}paths", "must name at least one file or pattern", self.paths)
        if self.batch_lines < 1:
            raise ConfigError(f"{p}batch_lines", "must be >= 1", self.batch_lines)
        if not 1 <= self.max_line_bytes <= _READ_BYTES:
            raise ConfigError(f"{p}max_line_bytes", "must be 1..1048576", self.max_line_bytes)
        if self.poll_interval_s <= 0:
            raise ConfigError(f"{p}poll_interval_s", "must be > 0", self.poll_interval_s)


class _Tracked:
    """One open file: where we read, and which emitted batches are still unsettled."""

    def __init__(self, key: str, path: str, fd: int, pos: int, fp: str):
        self.key = key
        self.path = path
        self.fd = fd
        self.pos = pos  # next byte to read (the start of an unfinished line)
        self.committed = pos  # every line before this has an outcome
        self.fp = fp
        self.pending: collections.deque[list[Any]] = collections.deque()  # [end, settled, failed]
        self.idle_polls = 0


@register("source", "file-tail")
class FileTailSource(Source):
    """Follows files (rotation aware) and emits their lines; offsets survive restarts."""

    Options = FileTailOptions
    name = SOURCE_ID

    def __init__(self, options: FileTailOptions, ctx: Context):
        super().__init__(options, ctx)
        self.opts = options
        name = options.state_name or (
            "file-tail-"
            + hashlib.blake2b("\0".join(sorted(options.paths)).encode(), digest_size=6).hexdigest()
        )
        self.state_path = Path(ctx.state_dir) / f"{name}.json"
        self._lock = threading.Lock()
        self._files: dict[str, _Tracked] = {}
        self._state: dict[str, dict[str, Any]] = self._load_state()
        self._dirty = False
        self._first_scan = True

    # -- state --------------------------------------------------------------------------
    def _load_state(self) -> dict[str, dict[str, Any]]:
        try:
            data = orjson.loads(self.state_path.read_bytes())
            return dict(data.get("files", {}))
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as e:
            # A damaged state file must not silently restart everything from 0 or the end.
            raise ConfigError(str(self.state_path), f"unreadable file-tail state: {e}") from e

    def save_state(self) -> None:
        """Write committed offsets atomically (temp file + rename)."""
        with self._lock:
            if not self._dirty:
                return
            for t in self._files.values():
                if not t.fp.endswith(f":{_FINGERPRINT_BYTES}"):
                    t.fp = _fingerprint(t.fd)  # the file grew: a stronger fingerprint
                self._state[t.key] = {"path": t.path, "offset": t.committed, "fp": t.fp}
            data = orjson.dumps({"files": self._state}, option=orjson.OPT_INDENT_2)
            self._dirty = False
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)

    # -- running ------------------------------------------------------------------------
    def run(self, emit: Emit, *, once: bool = False) -> None:
        while not self.ctx.stop.is_set():
            self._scan()
            for t in list(self._files.values()):
                if self.ctx.stop.is_set():
                    break
                self._read(t, emit, final=once)
            self._forget_gone()
            self.save_state()
            if once:
                return
            self.ctx.stop.wait(self.opts.poll_interval_s)

    def close(self) -> None:
        self.save_state()
        with self._lock:
            for t in self._files.values():
                try:
                    os.close(t.fd)
                except OSError:
                    pass
            self._files.clear()

    def _matches(self) -> list[str]:
        out: list[str] = []
        for pattern in self.opts.paths:
            out.extend(sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern])
        return out

    def _scan(self) -> None:
        """Open files that appeared (new names, or a new file behind a rotated name)."""
        for path in self._matches():
            try:
                st = os.stat(path)
            except OSError:
                continue
            key = f"{st.st_dev}:{st.st_ino}"
            if key in self._files:
                self._files[key].path = path
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError as e:
                log.warning("file-tail: cannot open %s: %s", path, e)
                continue
            fp = _fingerprint(fd)
            pos = self._start_offset(key, fd, st.st_size, path)
            with self._lock:
                self._files[key] = _Tracked(key, path, fd, pos, fp)
                self._dirty = True
            log.info("file-tail: following %s from offset %d", path, pos)
        self._first_scan = False

    def _start_offset(self, key: str, fd: int, size: int, path: str) -> int:
        saved = self._state.get(key)
        if saved is not None:
            if _same_file(fd, str(saved.get("fp", ""))) and int(saved["offset"]) <= size:
                return int(saved["offset"])
            log.info("file-tail: %s is not the file the saved offset belongs to; from 0", path)
            return 0
        if self._first_scan and self.opts.start_at == "end":
            return size
        return 0

    def _forget_gone(self) -> None:
        """Let go of rotated-away files once they were read to the end and settled."""
        live = set()
        for path in self._matches():
            try:
                st = os.stat(path)
            except OSError:
                continue
            live.add(f"{st.st_dev}:{st.st_ino}")
        with self._lock:
            for key, t in list(self._files.items()):
                if key in live or t.pending or t.idle_polls < 2:
                    continue
                os.close(t.fd)
                del self._files[key]
                self._state.pop(key, None)
                self._dirty = True
                log.info("file-tail: done with rotated file %s", t.path)

    # -- reading ------------------------------------------------------------------------
    def _read(self, t: _Tracked, emit: Emit, *, final: bool) -> None:
        try:
            size = os.fstat(t.fd).st_size
        except OSError:
            return
        if size < t.pos:
            log.warning(
                "file-tail: %s shrank to %d bytes (truncated); reading from 0", t.path, size
            )
            with self._lock:
                t.pos = t.committed = 0
                t.pending.clear()
                self._dirty = True
        got_any = False
        while not self.ctx.stop.is_set():
            data = os.pread(t.fd, _READ_BYTES, t.pos)
            if not data:
                break
            last = data.rfind(b"\n")
            if last < 0:
                # One line without a newline in this read: a partial last line (wait for
                # the writer, unless `once`) or a line longer than the read size.
                end, newline = self._line_end(t, len(data))
                if not newline and not final:
                    break
                n = end - t.pos - (1 if newline else 0)
                item: bytes | OversizedLine = (
                    OversizedLine(data[:_HEAD_KEEP], n)
                    if n > self.opts.max_line_bytes
                    else data[:n].rstrip(b"\r")
                )
                keep = isinstance(item, OversizedLine) or item.strip()
                self._emit_lines(t, emit, [(t.pos, item)] if keep else [], end)
                got_any = True
                continue
            end = t.pos + last + 1
            items: list[tuple[int, bytes | OversizedLine]] = []
            off = t.pos
            limit = self.opts.max_line_bytes
            for line in data[:last].split(b"\n"):
                start = off
                off += len(line) + 1
                line = line.rstrip(b"\r")
                if len(line) > limit:
                    items.append((start, OversizedLine(line[:_HEAD_KEEP], len(line))))
                elif line.strip():
                    items.append((start, line))
            self._emit_lines(t, emit, items, end)
            got_any = True
        t.idle_polls = 0 if got_any else t.idle_polls + 1

    def _line_end(self, t: _Tracked, have: int) -> tuple[int, bool]:
        """(offset after the line starting at t.pos, whether a newline ended it) — reads
        ahead in bounded steps, never holding the line."""
        pos = t.pos + have
        while True:
            more = os.pread(t.fd, _READ_BYTES, pos)
            if not more:
                return pos, False
            nl = more.find(b"\n")
            if nl >= 0:
                return pos + nl + 1, True
            pos += len(more)

    def _emit_lines(
        self,
        t: _Tracked,
        emit: Emit,
        lines: list[tuple[int, bytes | OversizedLine]],
        end: int,
    ) -> None:
        """Emit one read's lines under one Ack; its settling commits offset `end`."""
        entry: list[Any] = [end, False, False]
        with self._lock:
            t.pending.append(entry)
        t.pos = end
        if not lines:
            self._settle(t, entry, False)
            return
        items = [(line, Provenance(SOURCE_ID, t.path, off)) for off, line in lines]
        ack = Ack(f"{t.path}@{end}", on_complete=lambda failed: self._settle(t, entry, failed))
        step = self.opts.batch_lines
        for i in range(0, len(items), step):
            # OversizedLine items are dead-lettered by the pipeline (as the files source does).
            emit(RawBatch(self.opts.format, items[i : i + step], ack))  # type: ignore[arg-type]
        ack.seal()

    def _settle(self, t: _Tracked, entry: list[Any], failed: bool) -> None:
        """A batch has its outcome: commit every offset up to the first unsettled batch."""
        with self._lock:
            entry[1] = True
            entry[2] = failed
            while t.pending and t.pending[0][1] and not t.pending[0][2]:
                t.committed = t.pending.popleft()[0]
                self._dirty = True


def _fingerprint(fd: int, n: int = _FINGERPRINT_BYTES) -> str:
    """`hash:length` of the file's first `n` bytes (fewer when the file is shorter)."""
    head = os.pread(fd, n, 0)
    return hashlib.blake2b(head, digest_size=8).hexdigest() + f":{len(head)}"


def _same_file(fd: int, saved_fp: str) -> bool:
    """Whether the open file starts with the bytes the saved fingerprint was taken of."""
    if not saved_fp:
        return True
    try:
        n = int(saved_fp.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return False
    return _fingerprint(fd, n) == saved_fp
