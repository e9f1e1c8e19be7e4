"""Ack bookkeeping and streamed line reading."""

from __future__ import annotations

import gzip
import io

from shippers.lines import OversizedLine, iter_lines, open_maybe_gzip
from shippers.record import Ack, content_id


def test_ack_settles_once_after_seal_and_all_outcomes() -> None:
    calls: list[bool] = []
    ack = Ack("unit", on_complete=calls.append)
    ack.add(2)
    ack.done()
    ack.seal()
    assert calls == []  # one outcome still pending
    ack.done()
    assert calls == [False]
    ack.seal()
    assert calls == [False]  # never twice


def test_ack_reports_failure() -> None:
    calls: list[bool] = []
    ack = Ack("unit", on_complete=calls.append)
    ack.add(2)
    ack.done(failed=True)
    ack.done()
    ack.seal()
    assert calls == [True]


def test_content_id_is_stable_and_separates_parts() -> None:
    assert content_id("a", "b") == content_id("a", "b")
    assert content_id("ab", "") != content_id("a", "b")
    assert len(content_id(b"x")) == 32


def test_iter_lines_offsets_are_decompressed_positions() -> None:
    data = b'{"a":1}\n\n{"b":2}\r\nlast'
    plain = list(iter_lines(open_maybe_gzip(io.BytesIO(data))))
    gz = list(iter_lines(open_maybe_gzip(io.BytesIO(gzip.compress(data)))))
    assert plain == gz == [(0, b'{"a":1}'), (9, b'{"b":2}'), (18, b"last")]
    for offset, line in plain:
        assert data[offset : offset + len(line)] == line


def test_oversized_line_is_bounded_and_reported() -> None:
    big = b"A" * 100_000
    data = b"ok\n" + big + b"\nafter\n"
    out = list(iter_lines(open_maybe_gzip(io.BytesIO(data)), max_line_bytes=1000))
    assert out[0] == (0, b"ok")
    offset, over = out[1]
    assert offset == 3 and isinstance(over, OversizedLine)
    assert over.length == 100_000 and over.head == b"A" * 1000
    assert out[2] == (3 + 100_001, b"after")
