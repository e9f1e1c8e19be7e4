"""Reading indicator lists: plain text, CSV with a type column, STIX 2.1 bundles.

Every input becomes a list of `IocEntry` (the indicator to hunt for, its finer type such as
`sha256`, and where it came from); lines or patterns that cannot be used are returned as
`skipped` with a reason, never dropped silently — an analyst must know an indicator was
not swept.

- Plain list: one indicator per line, `#` comments; type detected (IPv4/IPv6/CIDR, MD5,
  SHA-1, SHA-256, URL, domain). Defanged forms (`hxxp://`, `evil[.]example`) are re-fanged.
- CSV: a header with a `type` column and a value column (`indicator`, `value`, `ioc`,
  `observable`, or the first other column). Types: ip, ipv4, ipv6, cidr, domain, fqdn,
  hostname, host, md5, sha1, sha256, hash, url, user, username, account.
- STIX 2.1: `indicator` objects with `pattern_type: stix` and simple equality patterns,
  alone or joined with OR: `[ipv4-addr:value = '198.51.100.7']`,
  `[domain-name:value = 'evil.example']`, `[file:hashes.'SHA-256' = '…']`,
  `[url:value = '…']`, `[user-account:account_login = '…']`. AND, other operators and
  other object paths are skipped with the reason.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .hunt.query import Indicator

__all__ = ["IocEntry", "IocList", "detect", "load_iocs", "parse_csv", "parse_plain", "parse_stix"]


@dataclass(frozen=True, slots=True)
class IocEntry:
    """One indicator to sweep: what to match, its finer type, where it was read."""

    indicator: Indicator
    type: str  # ipv4, ipv6, cidr, domain, md5, sha1, sha256, url, user, host
    ref: str = ""  # line number, CSV row, or STIX indicator id/name


@dataclass
class IocList:
    entries: list[IocEntry] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (input, reason)

    def indicators(self) -> list[Indicator]:
        """Distinct indicators, in input order."""
        return list(dict.fromkeys(e.indicator for e in self.entries))


_HEX = re.compile(r"^[0-9a-fA-F]+$")
_HASH_LEN = {32: "md5", 40: "sha1", 64: "sha256"}
_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{2,59}})$")
_URL = re.compile(r"^[a-z][a-z0-9+.-]{1,9}://", re.I)


def refang(text: str) -> str:
    """Undo the usual defanging: hxxp → http, [.] (.) {.} → ., [:] → :, [@] → @."""
    t = text.strip()
    t = re.sub(r"^hxxp", "http", t, flags=re.I)
    t = re.sub(r"^fxp", "ftp", t, flags=re.I)
    for a, b in (
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
        ("[dot]", "."),
        ("[:]", ":"),
        ("[://]", "://"),
        ("[@]", "@"),
    ):
        t = t.replace(a, b)
    return t


def detect(text: str) -> IocEntry | None:
    """The indicator in one token, type detected; None when it is none of the known types."""
    v = refang(text)
    if not v:
        return None
    if "/" in v and not _URL.match(v):
        try:
            net = ipaddress.ip_network(v, strict=False)
            kind_type = "cidr"
            if net.num_addresses == 1:  # a /32 or /128 is one address
                addr = str(net.network_address)
                t = "ipv4" if net.version == 4 else "ipv6"
                return IocEntry(Indicator("ip", addr), t)
            return IocEntry(Indicator("cidr", str(net)), kind_type)
        except ValueError:
            pass
    try:
        ip = ipaddress.ip_address(v)
        return IocEntry(Indicator("ip", str(ip)), "ipv4" if ip.version == 4 else "ipv6")
    except ValueError:
        pass
    if _HEX.match(v) and len(v) in _HASH_LEN:
        return IocEntry(Indicator("hash", v.lower()), _HASH_LEN[len(v)])
    if _URL.match(v):
        return IocEntry(Indicator("url", v), "url")
    host, sep, _rest = v.partition("/")
    if sep and _DOMAIN.match(host.lower()):  # evil.example/path: a URL without scheme
        return IocEntry(Indicator("url", v), "url")
    if _DOMAIN.match(v.lower().rstrip(".")):
        return IocEntry(Indicator("domain", v.lower().rstrip(".")), "domain")
    return None


def parse_plain(text: str, name: str = "") -> IocList:
    out = IocList()
    for n, line in enumerate(text.splitlines(), 1):
        token = line.split("#", 1)[0].strip()
        if not token:
            continue
        token = token.split()[0].strip(",;\"'")
        entry = detect(token)
        if entry is None:
            out.skipped.append((token, f"{name}:{n}: not an IP, CIDR, hash, URL or domain"))
        else:
            out.entries.append(IocEntry(entry.indicator, entry.type, f"{name}:{n}"))
    return out


# CSV `type` column values → (indicator kind, finer type); None = detect from the value.
_CSV_TYPES: dict[str, tuple[str, str] | None] = {
    "ip": None,
    "ipv4": None,
    "ipv6": None,
    "ip-src": None,
    "ip-dst": None,
    "ipv4-addr": None,
    "ipv6-addr": None,
    "cidr": None,
    "network": None,
    "domain": ("domain", "domain"),
    "fqdn": ("domain", "domain"),
    "domain-name": ("domain", "domain"),
    "hostname": ("host", "host"),
    "host": ("host", "host"),
    "md5": ("hash", "md5"),
    "sha1": ("hash", "sha1"),
    "sha-1": ("hash", "sha1"),
    "sha256": ("hash", "sha256"),
    "sha-256": ("hash", "sha256"),
    "hash": None,
    "filehash": None,
    "url": ("url", "url"),
    "uri": ("url", "url"),
    "user": ("user", "user"),
    "username": ("user", "user"),
    "account": ("user", "user"),
    "user-account": ("user", "user"),
}
_VALUE_COLUMNS = ("indicator", "value", "ioc", "observable", "indicator_value")


def parse_csv(text: str, name: str = "") -> IocList:
    out = IocList()
    reader = csv.DictReader(io.StringIO(text))
    cols = {c.strip().lower(): c for c in reader.fieldnames or []}
    if "type" not in cols:
        raise ValueError(f"{name}: CSV has no 'type' column (columns: {', '.join(cols)})")
    value_col = next((cols[c] for c in _VALUE_COLUMNS if c in cols), None)
    if value_col is None:
        value_col = next(cols[c] for c in cols if c != "type") if len(cols) > 1 else None
    if value_col is None:
        raise ValueError(f"{name}: CSV has no value column next to 'type'")
    for n, row in enumerate(reader, 2):
        raw_type = (row.get(cols["type"]) or "").strip().lower()
        value = refang((row.get(value_col) or "").strip())
        ref = f"{name}:{n}"
        if not value:
            continue
        if raw_type not in _CSV_TYPES:
            out.skipped.append((value, f"{ref}: unknown type {raw_type!r}"))
            continue
        fixed = _CSV_TYPES[raw_type]
        if fixed is None:
            entry = detect(value)
            if entry is None:
                out.skipped.append((value, f"{ref}: not a valid {raw_type}"))
                continue
            out.entries.append(IocEntry(entry.indicator, entry.type, ref))
            continue
        kind, typ = fixed
        if kind == "hash" and not (_HEX.match(value) and len(value) in _HASH_LEN):
            out.skipped.append((value, f"{ref}: not a valid {raw_type} hash"))
            continue
        if kind == "hash":
            typ = _HASH_LEN[len(value)]
        out.entries.append(IocEntry(Indicator(kind, value), typ, ref))
    return out


# STIX object path → (indicator kind, finer type); hashes handled separately.
_STIX_PATHS = {
    "ipv4-addr:value": ("ip", "ipv4"),
    "ipv6-addr:value": ("ip", "ipv6"),
    "domain-name:value": ("domain", "domain"),
    "url:value": ("url", "url"),
    "user-account:account_login": ("user", "user"),
    "user-account:user_id": ("user", "user"),
}
_COMPARISON = re.compile(
    r"""^\s*(?P<path>[a-z0-9-]+:[a-z0-9_.'"\-]+)\s*=\s*'(?P<value>(?:[^'\\]|\\.)*)'\s*$""",
    re.I,
)


def _stix_comparisons(pattern: str) -> list[str] | None:
    """Split `[a = 'x'] OR [b = 'y' OR c = 'z']` into comparisons; None if not that form."""
    p = pattern.strip()
    obs = re.findall(r"\[([^\[\]]*)\]", p)
    rest = re.sub(r"\[[^\[\]]*\]", "", p)
    if not obs or rest.replace("OR", "").strip():
        return None  # AND / FOLLOWEDBY / qualifiers between observations
    out: list[str] = []
    for o in obs:
        if re.search(r"\bAND\b", o):
            return None
        out.extend(part for part in re.split(r"\bOR\b", o))
    return out


def _stix_entry(comparison: str) -> IocEntry | str:
    m = _COMPARISON.match(comparison)
    if not m:
        return f"not a simple equality: {comparison.strip()}"
    path = m.group("path").lower().replace('"', "'")
    value = m.group("value").replace("\\'", "'").replace("\\\\", "\\")
    if path.startswith("file:hashes."):
        algo = path.split(".", 1)[1].strip("'").replace("-", "").lower()
        if algo not in ("md5", "sha1", "sha256"):
            return f"unsupported hash {algo}"
        return IocEntry(Indicator("hash", value.lower()), algo)
    if path in ("ipv4-addr:value", "ipv6-addr:value") and "/" in value:
        entry = detect(value)
        return entry if entry is not None else f"not an address: {value}"
    if path not in _STIX_PATHS:
        return f"unsupported object path {path}"
    kind, typ = _STIX_PATHS[path]
    return IocEntry(Indicator(kind, value), typ)


def parse_stix(data: dict, name: str = "") -> IocList:
    """Indicators of a STIX 2.1 bundle (or a single indicator object)."""
    out = IocList()
    objects = data.get("objects", []) if data.get("type") == "bundle" else [data]
    for obj in objects:
        if not isinstance(obj, dict) or obj.get("type") != "indicator":
            continue
        ref = obj.get("name") or obj.get("id") or name
        if obj.get("pattern_type", "stix") != "stix":
            out.skipped.append(
                (obj.get("pattern", ""), f"{ref}: pattern_type {obj['pattern_type']}")
            )
            continue
        pattern = obj.get("pattern", "")
        comps = _stix_comparisons(pattern)
        if comps is None:
            out.skipped.append(
                (pattern, f"{ref}: only [x = 'v'] patterns joined by OR are supported")
            )
            continue
        for c in comps:
            res = _stix_entry(c)
            if isinstance(res, str):
                out.skipped.append((c.strip(), f"{ref}: {res}"))
            else:
                out.entries.append(IocEntry(res.indicator, res.type, str(ref)))
    return out


def load_iocs(path: str | Path, fmt: str = "auto") -> IocList:
    """Read an indicator file; `fmt` is plain, csv, stix or auto (by content)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8-sig")
    name = p.name
    if fmt == "auto":
        head = text.lstrip()[:1]
        first = text.lstrip().splitlines()[0].lower() if text.strip() else ""
        if head == "{":
            fmt = "stix"
        elif p.suffix.lower() == ".csv" or re.search(r"(^|,)\s*\"?type\"?\s*(,|$)", first):
            fmt = "csv"
        else:
            fmt = "plain"
    if fmt == "stix":
        return parse_stix(json.loads(text), name)
    if fmt == "csv":
        return parse_csv(text, name)
    return parse_plain(text, name)
