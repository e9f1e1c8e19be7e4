"""Reading newline-delimited input, plain or gzip, as (byte offset, line) pairs, streamed.

Offsets are positions in the *decompressed* input, so `log.offset` points at the same line
whether the object was read compressed or not. Memory is bounded by `max_line_bytes`
whatever the input size: an over-long line is yielded as `OversizedLine` (its first
`max_line_bytes` bytes and its true length) for the caller to dead-letter.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

__all__ = ["DEFAULT_MAX_LINE_BYTES", "OversizedLine", "iter_lines", "open_maybe_gzip", "open_path"]

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
_READ_CHUNK = 1024 * 1024


@dataclass(slots=True)
class OversizedLine:
    """A line longer than the limit: its head is kept, the rest was skipped, not buffered."""

    head: bytes
    length: int


def open_maybe_gzip(stream: BinaryIO | IO[bytes]) -> IO[bytes]:
    """Wrap `stream` in a gzip reader when it starts with the gzip magic bytes."""
    buffered: Any = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream)
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    return buffered


def iter_lines(
    stream: IO[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes | OversizedLine]]:
    """Yield (offset, line-without-EOL) for every non-empty line of a decompressed stream."""
    offset = 0
    readline = stream.readline
    limit = max_line_bytes + 1
    while True:
        line = readline(limit)
        if not line:
            return
        start = offset
        offset += len(line)
        if len(line) == limit and not line.endswith(b"\n"):
            head, length = line[:max_line_bytes], len(line)
            while True:  # skip the rest of the line without holding it
                more = readline(_READ_CHUNK)
                if not more:
                    break
                length += len(more)
                offset += len(more)
                if more.endswith(b"\n"):
                    length -= 1
                    break
            yield start, OversizedLine(head, length)
            continue
        line = line.rstrip(b"\r\n")
        if line.strip():
            yield start, line


def open_path(path: str | Path) -> IO[bytes]:
    """Open a local file (or '-' for stdin) for `iter_lines`, decompressing gzip."""
    import sys

    if str(path) == "-":
        return open_maybe_gzip(sys.stdin.buffer)
    return open_maybe_gzip(open(path, "rb"))
