"""Syslog TCP framing: newline and RFC 6587 octet counting, detection, limits."""

from __future__ import annotations

import pytest

from shippers.sources.syslog_framing import FrameDecoder, FramingError, OversizedLine


def feed_all(dec: FrameDecoder, data: bytes, step: int) -> list:
    out = []
    for i in range(0, len(data), step):
        out += dec.feed(data[i : i + step])
    return out + dec.finish()


def octets(*msgs: bytes) -> bytes:
    return b"".join(str(len(m)).encode() + b" " + m for m in msgs)


@pytest.mark.parametrize("step", [1, 3, 64, 100_000])
def test_newline_framing_any_split(step):
    data = b"<14>Nov 30 a,1\r\nb,2\n\n  \nc,3"  # CRLF, blank lines, no final newline
    dec = FrameDecoder(1024)
    assert feed_all(dec, data, step) == [b"<14>Nov 30 a,1", b"b,2", b"c,3"]
    assert dec.mode == "newline"


@pytest.mark.parametrize("step", [1, 5, 100_000])
def test_octet_counting_any_split(step):
    msgs = [b"<14>1 2024-01-01T00:00:00Z fw - - - - 1,a", b"with\nnewline inside", b"x"]
    data = octets(*msgs[:2]) + b"\n" + octets(msgs[2])  # a LF between frames is tolerated
    dec = FrameDecoder(1024)
    assert feed_all(dec, data, step) == msgs
    assert dec.mode == "octet"


def test_detection_is_per_connection():
    # Starts with a letter: newline mode, even if a later line starts with "12 ".
    dec = FrameDecoder(1024)
    assert dec.feed(b"Nov 30 fw 1,a\n12 three\n") == [b"Nov 30 fw 1,a", b"12 three"]
    # Digits then a comma (PAN-OS CSV without header) is not an octet count.
    dec = FrameDecoder(1024)
    assert dec.feed(b"1,2018/11/30 16:09:07,0128\n") == [b"1,2018/11/30 16:09:07,0128"]
    assert dec.mode == "newline"


@pytest.mark.parametrize("step", [1, 7, 100_000])
def test_oversized_newline_message_is_skipped_not_buffered(step):
    dec = FrameDecoder(256)
    data = b"ok1\n" + b"A" * 5000 + b"\nok2\n"
    out = feed_all(dec, data, step)
    assert out[0] == b"ok1" and out[2] == b"ok2"
    assert isinstance(out[1], OversizedLine)
    assert out[1].length == 5000 and out[1].head == b"A" * len(out[1].head)
    assert dec.buffered <= 256 + 8


@pytest.mark.parametrize("step", [1, 7, 100_000])
def test_oversized_octet_frame_is_skipped_by_count(step):
    dec = FrameDecoder(256)
    big = b"B" * 3000
    out = feed_all(dec, octets(b"ok1", big, b"ok2"), step)
    assert out[0] == b"ok1" and out[2] == b"ok2"
    assert isinstance(out[1], OversizedLine) and out[1].length == 3000
    assert big.startswith(out[1].head) and out[1].head


def test_bad_octet_count_resyncs_at_newline():
    dec = FrameDecoder(1024)
    out = dec.feed(b"5 hello" + b"garbage here\n" + b"3 abc")
    assert out[0] == b"hello"
    assert isinstance(out[1], FramingError) and out[1].data == b"garbage here"
    assert out[2] == b"abc"


def test_truncated_octet_frame_at_eof_is_an_error():
    dec = FrameDecoder(1024)
    assert dec.feed(b"10 abc") == []
    (err,) = dec.finish()
    assert isinstance(err, FramingError) and err.data == b"10 abc"


def test_oversized_partial_line_at_eof():
    dec = FrameDecoder(256)
    out = dec.feed(b"C" * 1000) + dec.finish()
    assert len(out) == 1 and isinstance(out[0], OversizedLine) and out[0].length == 1000
