"""Quote- and brace-aware CSV split for PAN-OS syslog payloads.

PAN-OS quotes values that contain commas (inner quotes doubled, RFC 4180 style), but it
also emits two shapes a strict RFC 4180 reader gets wrong:

* quotes in the *middle* of a field (8.1 HTTP Headers: ``Some-Header:"a.com, b.com";``).
  A strict reader treats those quotes as literal and splits at the inner comma, shifting
  every later column. We let any quote protect commas up to its closing quote, and keep
  mid-field quotes as literal characters.
* brace lists (Link Switches: ``{link1, tag, ...}``) whose commas are not separators.
  Commas inside balanced braces outside quotes stay in the field.

An unbalanced quote or brace falls back to being a literal character, so a malformed line
still splits (and fails later on a column check) instead of swallowing its tail.
"""

from __future__ import annotations

import re

__all__ = ["split_csv"]

# One field: runs of ordinary characters, quoted segments (a doubled quote is simply two
# adjacent quoted segments), balanced one-level brace groups that may contain quoted
# segments, and as a last resort a lone quote / brace taken literally.
_FIELD = re.compile(r'((?:[^,"{]+|"[^"]*"|\{(?:[^{}"]|"[^"]*")*\}|[{"])*)(?:,|$)')


def _unquote(field: str) -> str:
    if len(field) > 1 and field[0] == '"' and field[-1] == '"':
        return field[1:-1].replace('""', '"')
    return field


def split_csv(payload: str) -> list[str]:
    """Split one PAN-OS CSV record into its columns (values unquoted, not trimmed)."""
    if '"' not in payload and "{" not in payload:
        # Fast path: the vast majority of TRAFFIC lines have neither.
        return payload.split(",")
    # findall yields one extra empty match at the very end of the string; drop it.
    fields = _FIELD.findall(payload)
    fields.pop()
    if '"' not in payload:
        return fields
    return [_unquote(f) if f[:1] == '"' else f for f in fields]
