"""Splitting a syslog TCP byte stream into messages: newline or RFC 6587 octet counting.

PAN-OS sends BSD-format syslog newline-terminated, and IETF (RFC 5424) format over TCP/TLS
with octet counting (`MSG-LEN SP SYSLOG-MSG`). A receiver must accept both, so the mode is
detected from the first bytes of each connection — a frame that starts with
`[1-9][0-9]* SP` is octet-counted — and then kept for the connection. Detecting once per
connection (rather than per frame, as rsyslog does) means a newline-framed message that
happens to start with digits and a space is never misread as a length.

Memory stays bounded whatever the peer sends: a message longer than `max_message_bytes`
is not buffered; its first bytes are kept (for the dead-letter) and the rest is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..lines import OversizedLine

__all__ = ["FrameDecoder", "FramingError", "OversizedLine", "strip_message"]

_MAX_COUNT_DIGITS = 10  # RFC 6587 MSG-LEN: NONZERO-DIGIT *DIGIT; 10 digits is > 4 GiB
_DIGITS = frozenset(b"0123456789")
_HEAD_KEEP = 4096  # bytes of an oversized message kept for the dead-letter


@dataclass(slots=True)
class FramingError:
    """Bytes that are not a valid frame (e.g. a bad octet count); dead-lettered as is."""

    reason: str
    data: bytes


Frame = bytes | OversizedLine | FramingError


def strip_message(msg: bytes) -> bytes:
    """Drop the trailing LF / CRLF / NUL some senders add inside or after a frame."""
    return msg.rstrip(b"\r\n\x00")


class FrameDecoder:
    """Incremental decoder: `feed(chunk)` returns the complete frames found so far.

    `mode` is None until detected, then "newline" or "octet". Call `finish()` at end of
    stream: a final newline-less message is still a message (rsyslog does the same), an
    incomplete octet-counted frame is an error (the sender cut it short).
    """

    __slots__ = ("_buf", "_skip", "_skip_head", "_skip_len", "max_bytes", "mode")

    def __init__(self, max_message_bytes: int = 64 * 1024, mode: str | None = None):
        self.max_bytes = max_message_bytes
        self.mode = mode
        self._buf = bytearray()
        # While skipping an oversized message: bytes still to skip (octet mode) or -1 (skip
        # up to the next newline), the kept head and the true length so far.
        self._skip: int | None = None
        self._skip_head = b""
        self._skip_len = 0

    # -- public ----------------------------------------------------------------------
    def feed(self, data: bytes) -> list[Frame]:
        out: list[Frame] = []
        if self._skip is not None:
            data = self._continue_skip(data, out)
        if data:
            self._buf += data
        if self._skip is not None or not self._buf:
            return out
        if self.mode is None and not self._detect():
            return out
        if self.mode == "newline":
            self._drain_lines(out)
            return out
        while self._buf and self._skip is None:
            frame = self._next_octet()
            if frame is None:
                break
            if isinstance(frame, bytes):
                frame = strip_message(frame)
                if not frame.strip():
                    continue
            out.append(frame)
        return out

    def finish(self) -> list[Frame]:
        """Frames still held at end of stream (a partial last message)."""
        out: list[Frame] = []
        if self._skip is not None:
            out.append(OversizedLine(self._skip_head, self._skip_len))
            self._skip = None
        elif self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            if self.mode == "octet" and data.strip(b"\r\n\x00 "):
                out.append(FramingError("connection closed inside an octet-counted frame", data))
            else:
                msg = strip_message(data)
                if msg.strip():
                    out.append(msg)
        return out

    @property
    def buffered(self) -> int:
        return len(self._buf)

    # -- internals -------------------------------------------------------------------
    def _detect(self) -> bool:
        """Pick the mode from the first non-blank bytes; False while undecidable."""
        buf = self._buf
        start = 0
        while start < len(buf) and buf[start] in b"\r\n\x00 ":
            start += 1
        if start == len(buf):
            return False
        if buf[start] not in b"123456789":
            self.mode = "newline"
            return True
        i = start
        while i < len(buf) and buf[i] in _DIGITS and i - start <= _MAX_COUNT_DIGITS:
            i += 1
        if i == len(buf):
            return False  # only digits so far: wait for the byte after them
        self.mode = "octet" if buf[i] == 0x20 and i - start <= _MAX_COUNT_DIGITS else "newline"
        return True

    def _drain_lines(self, out: list[Frame]) -> None:
        """Every complete line in the buffer, split in one pass (the hot path)."""
        buf = self._buf
        last = buf.rfind(b"\n")
        if last < 0:
            if len(buf) > self.max_bytes + 1:  # +1: a CR before the LF is not content
                self._start_skip(bytes(buf[:_HEAD_KEEP]), len(buf), -1)
                buf.clear()
            return
        chunk = bytes(buf[:last])
        del buf[: last + 1]
        limit = self.max_bytes
        for line in chunk.split(b"\n"):
            if len(line) > limit:
                line = strip_message(line)
                if len(line) > limit:
                    out.append(OversizedLine(line[:_HEAD_KEEP], len(line)))
                    continue
            line = strip_message(line)
            if line and line.strip():
                out.append(line)
        # What is left has no newline yet; it may already be too long to ever fit.
        if len(buf) > self.max_bytes + 1:
            self._start_skip(bytes(buf[:_HEAD_KEEP]), len(buf), -1)
            buf.clear()

    def _next_octet(self) -> Frame | None:
        buf = self._buf
        # Senders differ in what they put between frames (nothing, LF, CRLF): skip it.
        start = 0
        while start < len(buf) and buf[start] in b"\r\n\x00":
            start += 1
        if start:
            del buf[:start]
        if not buf:
            return None
        i = 0
        while i < len(buf) and buf[i] in _DIGITS and i <= _MAX_COUNT_DIGITS:
            i += 1
        if i == len(buf):
            return None  # the count is not complete yet
        if i == 0 or buf[0] == 0x30 or buf[i] != 0x20 or i > _MAX_COUNT_DIGITS:
            # Not a frame header: we cannot know where the next frame starts, so resync at
            # the next newline (senders that mix framings end messages with LF).
            nl = buf.find(b"\n")
            if nl < 0:
                if len(buf) > self.max_bytes:  # no newline in sight: skip as oversized
                    self._start_skip(bytes(buf[:_HEAD_KEEP]), len(buf), -1)
                    buf.clear()
                return None
            bad = bytes(buf[:nl])
            del buf[: nl + 1]
            return FramingError("invalid octet count; skipped to the next newline", bad)
        length = int(buf[:i])
        body_start = i + 1
        if length > self.max_bytes:
            head = bytes(buf[body_start : body_start + min(length, _HEAD_KEEP)])
            have = len(buf) - body_start
            if have >= length:
                del buf[: body_start + length]
                return OversizedLine(head, length)
            buf.clear()
            self._start_skip(head, length, length - have)
            return None
        if len(buf) - body_start < length:
            return None
        msg = bytes(buf[body_start : body_start + length])
        del buf[: body_start + length]
        return msg

    def _start_skip(self, head: bytes, length: int, remaining: int) -> None:
        self._skip = remaining
        self._skip_head = head
        self._skip_len = length

    def _continue_skip(self, data: bytes, out: list[Frame]) -> bytes:
        """Consume skipped bytes of an oversized message; return what follows it."""
        assert self._skip is not None
        if self._skip >= 0:  # octet mode: a known number of bytes
            n = min(self._skip, len(data))
            if len(self._skip_head) < _HEAD_KEEP:
                self._skip_head += data[: min(n, _HEAD_KEEP - len(self._skip_head))]
            self._skip -= n
            data = data[n:]
            if self._skip == 0:
                out.append(OversizedLine(self._skip_head, self._skip_len))
                self._skip = None
            return data
        nl = data.find(b"\n")
        if nl < 0:
            self._skip_len += len(data)
            return b""
        self._skip_len += nl
        out.append(OversizedLine(self._skip_head, self._skip_len))
        self._skip = None
        return data[nl + 1 :]
