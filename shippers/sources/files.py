"""The `files` source: read local files (plain or gzip), each line one raw event.

One Ack per file; `log.offset` is the byte offset of the line in the decompressed file.
With `once` (and by default for this source) it reads every file to its end and returns;
`shippers run --config` therefore gives a complete file → normalizer → sink pipeline.
"""

from __future__ import annotations

import glob
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import ConfigError
from ..lines import DEFAULT_MAX_LINE_BYTES, iter_lines, open_path
from ..plugin import Emit, RawBatch, Source
from ..record import Ack, Provenance
from ..registry import register

__all__ = ["FilesOptions", "FilesSource", "read_file_batches"]

log = logging.getLogger("shippers.sources.files")


@dataclass
class FilesOptions:
    paths: list[str] = field(metadata={"doc": "files or glob patterns ('-' = stdin)"})
    format: Literal["falcon", "falcon-fdr", "panos"] = field(
        metadata={"doc": "which normalizer reads these lines"}
    )
    batch_lines: int = field(default=2000, metadata={"doc": "lines per batch handed to workers"})
    max_line_bytes: int = field(
        default=DEFAULT_MAX_LINE_BYTES, metadata={"doc": "longer lines are dead-lettered"}
    )

    def validate(self, path: str) -> None:
        if not self.paths:
            raise ConfigError(f"{path}.paths", "must name at least one file", self.paths)
        if self.batch_lines < 1:
            raise ConfigError(f"{path}.batch_lines", "must be >= 1", self.batch_lines)


def read_file_batches(
    path: str,
    fmt: str,
    emit: Emit,
    ack: Ack | None,
    *,
    source: str = "files",
    batch_lines: int = 2000,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    stop: threading.Event | None = None,
) -> int | None:
    """Read one file into RawBatches of `batch_lines`; returns the number of lines emitted.

    Returns None when `stop` was set before the end of the file: the caller must then not
    seal the file's ack, so the file stays unacknowledged and is read again next time
    (documents already delivered are deduplicated by their deterministic ids).
    """
    fmt = "falcon" if fmt == "falcon-fdr" else fmt
    n = 0
    with open_path(path) as stream:
        items: list = []
        for offset, line in iter_lines(stream, max_line_bytes):
            items.append((line, Provenance(source, str(path), offset)))
            if len(items) >= batch_lines:
                emit(RawBatch(fmt, items, ack))
                n += len(items)
                items = []
                if stop is not None and stop.is_set():
                    return None
        if items:
            emit(RawBatch(fmt, items, ack))
            n += len(items)
    return n


@register("source", "files")
class FilesSource(Source):
    """Reads the configured files once, in order."""

    Options = FilesOptions
    name = "files"

    def expand(self) -> list[str]:
        out: list[str] = []
        for pattern in self.options.paths:
            if pattern == "-" or not glob.has_magic(pattern):
                out.append(pattern)
            else:
                out.extend(sorted(glob.glob(pattern)))
        return out

    def run(self, emit: Emit, *, once: bool = False) -> None:
        for path in self.expand():
            if self.ctx.stop.is_set():
                return
            if path != "-" and not Path(path).is_file():
                log.error("files source: %s is not a readable file", path)
                continue
            ack = Ack(path)
            done = read_file_batches(
                path,
                self.options.format,
                emit,
                ack,
                batch_lines=self.options.batch_lines,
                max_line_bytes=self.options.max_line_bytes,
                stop=self.ctx.stop,
            )
            if done is None:  # stopped mid-file: leave it unacknowledged
                return
            ack.seal()
