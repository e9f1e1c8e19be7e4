"""The `inbox` source: a local drop directory for Falcon FDR and PAN-OS log files.

The embedded default (`shippers run` without a config) reads this directory. For every
file dropped into it (plain or gzip):

1. sniff the format from its first lines — JSON objects → `falcon`, PAN-OS syslog/CSV
   records → `panos`; anything else is moved to `.failed/` with a dead letter;
2. copy the file, byte for byte, into the raw archive
   (`<archive>/raw/<falcon|panos>/YYYY/MM/DD/HH/<name>`, the hour of the file's mtime) —
   *first*, so the original survives whatever happens to its normalized form;
3. read it through `files.read_file_batches` (one Ack per file);
4. when the Ack settles successfully (every line archived/delivered or dead-lettered),
   move it to `.done/`. A failed delivery leaves it in the inbox to be retried.

Files still being written are left alone until unchanged for `settle_s` seconds (except
with `once`, which takes the inbox as it is). Names starting with `.` are ignored.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ConfigError
from ..lines import DEFAULT_MAX_LINE_BYTES, open_path
from ..plugin import Context, Emit, Source
from ..record import Ack, DeadLetter, Provenance, content_id
from ..registry import register
from .files import read_file_batches

__all__ = ["InboxOptions", "InboxSource", "raw_inbox_key", "sniff_format"]

log = logging.getLogger("shippers.sources.inbox")

_PANOS_TYPES = (
    "TRAFFIC|THREAT|SYSTEM|CONFIG|HIPMATCH|GLOBALPROTECT|USERID|AUTH|DECRYPTION|TUNNEL|"
    "CORRELATION|SCTP|IPTAG|GTP|AUDIT"
)
# `<future_use>,<receive time>,<serial>,<TYPE>,` anywhere in the line: syslog headers vary
# (RFC 3164, RFC 5424, none), the CSV record behind them does not.
_PANOS_RE = re.compile(
    rf"(?:^|[\s>])\d+,\d{{4}}/\d{{2}}/\d{{2}} \d{{2}}:\d{{2}}:\d{{2}},[^,]*,(?:{_PANOS_TYPES}),"
)
_SNIFF_LINES = 20


def sniff_format(path: str | Path) -> str | None:
    """`falcon`, `panos`, or None when none of the first lines is recognizable."""
    try:
        with open_path(path) as f:
            for _ in range(_SNIFF_LINES):
                line = f.readline(1 << 20)
                if not line:
                    return None
                text = line.strip()
                if not text:
                    continue
                if text.startswith(b"{") and text.endswith(b"}"):
                    return "falcon"
                if _PANOS_RE.search(text.decode("utf-8", "replace")):
                    return "panos"
    except (OSError, EOFError) as e:  # unreadable or a corrupt gzip header
        log.warning("inbox: cannot sniff %s: %s", path, e)
    return None


def raw_inbox_key(prefix: str, fmt: str, when: datetime, name: str) -> str:
    """`<prefix>/raw/<fmt>/YYYY/MM/DD/HH/<name>` in UTC."""
    hour = when.astimezone(UTC).strftime("%Y/%m/%d/%H")
    return "/".join(p for p in (prefix.strip("/"), "raw", fmt, hour, name) if p)


@dataclass
class InboxOptions:
    path: str = field(metadata={"doc": "inbox directory (created if missing)"})
    archive: str = field(
        default="", metadata={"doc": "archive root for raw copies (dir or s3://); empty = none"}
    )
    endpoint_url: str = field(default="", metadata={"doc": "S3-compatible endpoint override"})
    poll_interval_s: float = field(default=2.0, metadata={"doc": "seconds between scans"})
    settle_s: float = field(
        default=2.0, metadata={"doc": "a file must be unchanged this long before it is read"}
    )
    batch_lines: int = field(default=2000, metadata={"doc": "lines per batch handed to workers"})
    max_line_bytes: int = field(
        default=DEFAULT_MAX_LINE_BYTES, metadata={"doc": "longer lines are dead-lettered"}
    )

    def validate(self, path: str) -> None:
        if not self.path:
            raise ConfigError(f"{path}.path", "must name a directory", self.path)
        if self.poll_interval_s <= 0:
            raise ConfigError(f"{path}.poll_interval_s", "must be > 0", self.poll_interval_s)
        if self.batch_lines < 1:
            raise ConfigError(f"{path}.batch_lines", "must be >= 1", self.batch_lines)


@register("source", "inbox")
class InboxSource(Source):
    """Watches a drop directory; archives raw files, emits their lines, files them away."""

    Options = InboxOptions
    name = "inbox"

    def __init__(self, options: InboxOptions, ctx: Context):
        super().__init__(options, ctx)
        self.dir = Path(options.path).expanduser()
        self.done_dir = self.dir / ".done"
        self.failed_dir = self.dir / ".failed"
        for d in (self.dir, self.done_dir, self.failed_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._store = None
        if options.archive:
            from ..archive_layout import ArchiveStore

            self._store = ArchiveStore(options.archive, endpoint_url=options.endpoint_url)
        self._lock = threading.Lock()
        self._in_flight: set[Path] = set()
        self._corrupt: set[Path] = set()  # read failed midway: goes to .failed/ once settled
        self.processed = 0  # files whose ack settled successfully

    # -- the loop ----------------------------------------------------------------------
    def run(self, emit: Emit, *, once: bool = False) -> None:
        while not self.ctx.stop.is_set():
            for path in self._ready_files(once):
                if self.ctx.stop.is_set():
                    return
                self._process(path, emit)
            if once:
                return
            self.ctx.stop.wait(self.options.poll_interval_s)

    def _ready_files(self, once: bool) -> list[Path]:
        now = time.time()
        out = []
        for p in sorted(self.dir.iterdir()):
            if p.name.startswith(".") or not p.is_file():
                continue
            with self._lock:
                if p in self._in_flight:
                    continue
            if not once and now - p.stat().st_mtime < self.options.settle_s:
                continue  # probably still being copied in
            out.append(p)
        return out

    def _process(self, path: Path, emit: Emit) -> None:
        fmt = sniff_format(path)
        if fmt is None:
            self._reject(path, "unrecognized format: neither Falcon JSON nor PAN-OS syslog")
            return
        try:
            self._archive_raw(path, fmt)
        except Exception as e:  # keep the file in the inbox: retried on the next scan
            log.error("inbox: raw archive of %s failed, will retry: %s", path.name, e)
            return
        with self._lock:
            self._in_flight.add(path)

        def settled(failed: bool, p: Path = path) -> None:
            self._settled(p, failed)

        ack = Ack(str(path), on_complete=settled)
        n: int | None
        try:
            n = read_file_batches(
                str(path),
                fmt,
                emit,
                ack,
                source="inbox",
                batch_lines=self.options.batch_lines,
                max_line_bytes=self.options.max_line_bytes,
            )
        except (OSError, EOFError) as e:  # corrupt gzip midway: what was read stays emitted
            self._dead_letter(path, f"file unreadable after some lines: {e}")
            with self._lock:
                self._corrupt.add(path)
            n = None
        log.info("inbox: %s (%s): %s lines", path.name, fmt, "partial" if n is None else n)
        ack.seal()

    # -- outcomes ----------------------------------------------------------------------
    def _settled(self, path: Path, failed: bool) -> None:
        with self._lock:
            self._in_flight.discard(path)
            corrupt = path in self._corrupt
            self._corrupt.discard(path)
        if corrupt:
            try:
                shutil.move(str(path), str(self.failed_dir / path.name))
            except OSError as e:
                log.error("inbox: cannot move %s to .failed: %s", path.name, e)
            return
        if failed:
            log.warning("inbox: %s not fully delivered; left in the inbox for a retry", path.name)
            return
        try:
            target = self.done_dir / path.name
            if target.exists():  # the same name again: keep both
                target = self.done_dir / f"{path.name}.{int(time.time() * 1000)}"
            shutil.move(str(path), str(target))
            self.processed += 1
        except OSError as e:
            log.error("inbox: cannot move %s to .done: %s", path.name, e)

    def _reject(self, path: Path, reason: str) -> None:
        self._dead_letter(path, reason)
        try:
            shutil.move(str(path), str(self.failed_dir / path.name))
        except OSError as e:
            log.error("inbox: cannot move %s to .failed: %s", path.name, e)

    def _dead_letter(self, path: Path, reason: str) -> None:
        """A file-level dead letter: the reason and the file's first KiB (all is in .failed/)."""
        try:
            with open(path, "rb") as f:
                head = f.read(1024)
        except OSError:
            head = b""
        prov = Provenance("inbox", str(path), 0)
        self.ctx.dead_letter.write(DeadLetter(reason, head, prov, stage="source"))

    def _archive_raw(self, path: Path, fmt: str) -> None:
        """Copy the file as received into the raw archive before anything else happens."""
        if self._store is None:
            return
        st = path.stat()
        when = datetime.fromtimestamp(st.st_mtime, UTC)
        key = raw_inbox_key(self._store.prefix, fmt, when, path.name)
        existing = self._store.size_of(key)
        if existing is not None and existing != st.st_size:
            # Another file of the same name in the same hour: keep both originals.
            key = f"{key}.{content_id(str(st.st_mtime_ns), str(st.st_size))[:8]}"
        with open(path, "rb") as f:
            self._store.upload_stream(key, f)
