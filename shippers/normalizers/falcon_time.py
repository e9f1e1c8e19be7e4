"""Falcon timestamps → ECS dates (ISO-8601 UTC with a "Z").

Falcon writes times as epoch milliseconds (`timestamp`, stream `eventCreationTime`), epoch
seconds with a fraction (`ContextTimeStamp`, `ProcessStartTime`), Windows NT ticks (100 ns
since 1601) in some Windows fields, or ISO-8601 text. The unit is guessed from the
magnitude; a guess that lands in the future (beyond a day of clock skew) is rejected rather
than emitted, since a future-dated document is worse than a missing field.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["epoch_ms", "format_ms", "time_pair", "to_iso"]

_NT_THRESHOLD = 0x0100000000000000  # larger values can only be NT ticks
_NT_EPOCH_OFFSET_S = 11644473600  # seconds between 1601-01-01 and 1970-01-01
_MS_THRESHOLD = 100_000_000_000  # 12+ digits: milliseconds (as Elastic's pipelines decide)
_SKEW_MS = 86_400_000
_INF = float("inf")


def epoch_ms(value: object) -> int | None:
    """Milliseconds since the epoch for a Falcon time value, or None when it is not a time."""
    if isinstance(value, str):
        if not value:
            return None
        c = value[0]
        if "0" <= c <= "9" and ("-" not in value[1:5] or "." in value):
            try:
                num: float = float(value)
            except ValueError:
                return None
        else:
            return _iso_ms(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        num = value
    else:
        return None
    if not 0 < num < _INF:
        # Not positive, NaN, or so many digits that float() gave inf: not a time.
        return None
    if num > _NT_THRESHOLD:
        ms = int(num // 10_000) - _NT_EPOCH_OFFSET_S * 1000
    elif num >= _MS_THRESHOLD:
        ms = int(num)
    else:
        ms = round(num * 1000)
    if ms <= 0 or (ms > _horizon[0] and ms > _refresh_horizon()):
        return None
    return ms


# Latest acceptable time (now + skew), refreshed only when a value exceeds it, so the common
# path makes no clock call.
_horizon = [0]


def _refresh_horizon() -> int:
    _horizon[0] = int(time.time() * 1000) + _SKEW_MS
    return _horizon[0]


def _iso_ms(text: str) -> int | None:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    ms = int(dt.timestamp() * 1000)
    if ms > _horizon[0] and ms > _refresh_horizon():
        return None
    return ms


_SECOND_CACHE: dict[int, str] = {}


def format_ms(ms: int) -> str:
    """`2025-04-01T11:59:59.999Z` for epoch milliseconds."""
    s, frac = divmod(ms, 1000)
    # Events of one FDR file cluster in time: format each second once.
    prefix = _SECOND_CACHE.get(s)
    if prefix is None:
        if len(_SECOND_CACHE) > 4096:
            _SECOND_CACHE.clear()
        prefix = _SECOND_CACHE[s] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s))
    return f"{prefix}.{frac:03d}Z"


def to_iso(value: object) -> str | None:
    """ECS date text for a Falcon time value, or None."""
    ms = epoch_ms(value)
    return None if ms is None else format_ms(ms)


_PAIR_CACHE: dict[str, tuple[int, str]] = {}


def time_pair(value: str) -> tuple[int, str] | None:
    """(epoch ms, ECS date text) of a Falcon time string, or None; cached per value.

    One event carries the same instant in several fields (timestamp, ContextTimeStamp,
    process start/end of its parent), so a small cache saves repeated parsing. Only valid
    times are cached: a rejected future time may become valid as the clock advances.
    """
    pair = _PAIR_CACHE.get(value)
    if pair is None:
        ms = epoch_ms(value)
        if ms is None:
            return None
        if len(_PAIR_CACHE) >= 16384:
            _PAIR_CACHE.clear()
        pair = _PAIR_CACHE[value] = (ms, format_ms(ms))
    return pair
