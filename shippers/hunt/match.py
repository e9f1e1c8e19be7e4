"""Which indicators a document matches — the one definition every tier agrees with.

The back ends only *narrow* (Elasticsearch query, DuckDB scan); the final word on whether
and why a document matched is `Matcher.match`, run on every returned document. Hot and
cold therefore cannot disagree about a hit, and a sweep can say which indicator hit.

Comparison rules (also emitted as SQL by `cold.py`/`athena.py`):
- ip: equal; cidr: the address lies in the network.
- domain: equal, or a subdomain of the indicator (`evil.example` matches `a.evil.example`).
- hash, user, host: equal ignoring case.
- url: equal ignoring case and the scheme (PAN-OS logs URLs without `http://`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import Any

from .query import FIELDS, Indicator, normalize_value

__all__ = ["Matcher", "domain_suffixes", "field_values", "strip_scheme"]


def strip_scheme(url: str) -> str:
    """`https://Evil.example/x` → `evil.example/x` (lower-cased, scheme removed)."""
    u = url.strip().lower()
    i = u.find("://")
    return u[i + 3 :] if 0 <= i < 10 else u


def domain_suffixes(name: str) -> list[str]:
    """`a.b.example` → [`a.b.example`, `b.example`]: every parent of at least two labels."""
    parts = name.split(".")
    return [".".join(parts[i:]) for i in range(max(len(parts) - 1, 1))]


def field_values(doc: dict[str, Any], path: str) -> Iterator[str]:
    """String values of an ECS field (`a.b` scalar or `a.b[]` array) in a document."""
    cur: Any = doc
    for part in path.removesuffix("[]").split("."):
        if not isinstance(cur, dict):
            return
        cur = cur.get(part)
    if cur is None:
        return
    for v in cur if isinstance(cur, list) else (cur,):
        if v not in (None, "") and not isinstance(v, (dict, list)):
            yield str(v)


class Matcher:
    """Matches documents against a fixed set of indicators (hash lookups, CIDRs scanned)."""

    def __init__(self, indicators: Iterable[Indicator]):
        self.exact: dict[tuple[str, str], list[Indicator]] = {}
        self.networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Indicator]] = []
        for ind in indicators:
            if ind.kind == "cidr":
                self.networks.append((ipaddress.ip_network(ind.value, strict=False), ind))
            else:
                self.exact.setdefault((ind.kind, self.key(ind.kind, ind.value)), []).append(ind)
        self.kinds = {k for k, _ in self.exact} | ({"cidr"} if self.networks else set())

    @staticmethod
    def key(kind: str, value: str) -> str:
        if kind == "url":
            return strip_scheme(value)
        if kind == "ip":
            try:
                return str(ipaddress.ip_address(value.strip()))
            except ValueError:
                return value.strip()
        return normalize_value(kind, value)

    def match(self, doc: dict[str, Any]) -> set[Indicator]:
        """Every indicator the document matches (empty set: no match)."""
        out: set[Indicator] = set()
        for kind in self.kinds:
            for path in FIELDS[kind]:
                for raw in field_values(doc, path):
                    if kind == "cidr":
                        out.update(self._in_networks(raw))
                        continue
                    key = self.key(kind, raw)
                    keys = domain_suffixes(key) if kind == "domain" else (key,)
                    for k in keys:
                        out.update(self.exact.get((kind, k), ()))
        return out

    def _in_networks(self, raw: str) -> Iterator[Indicator]:
        try:
            addr = ipaddress.ip_address(raw)
        except ValueError:
            return
        for net, ind in self.networks:
            if addr.version == net.version and addr in net:
                yield ind
