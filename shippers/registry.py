"""Config `type` string → class, for sources, normalizers and sinks.

Built-in plugins register themselves with the decorators below when their module is
imported; third parties add theirs through the entry-point groups `shippers.sources`,
`shippers.normalizers` and `shippers.sinks`. An unknown type is a `ConfigError` naming the
key path and listing the known types.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Literal, TypeVar

from .errors import ConfigError

__all__ = ["Kind", "known", "lookup", "register"]

Kind = Literal["source", "normalizer", "sink"]
T = TypeVar("T")

_REGISTRY: dict[str, dict[str, type]] = {"source": {}, "normalizer": {}, "sink": {}}

# Modules that hold the built-in plugins; imported lazily so `shippers normalize` does not
# pay for boto3 or the Elasticsearch client.
_BUILTIN_MODULES: dict[str, dict[str, str]] = {
    "source": {
        "files": "shippers.sources.files",
        "inbox": "shippers.sources.inbox",
        "falcon-fdr": "shippers.sources.falcon_fdr",
        "falcon-stream": "shippers.sources.falcon_stream",
        "panos-syslog": "shippers.sources.panos_syslog",
        "file-tail": "shippers.sources.file_tail",
    },
    "normalizer": {
        "falcon-fdr": "shippers.normalizers.falcon",
        "falcon": "shippers.normalizers.falcon",
        "panos": "shippers.normalizers.panos",
    },
    "sink": {
        "ndjson": "shippers.sinks.ndjson",
        "stdout": "shippers.sinks.ndjson",
        "elasticsearch": "shippers.sinks.elasticsearch",
        "gelf": "shippers.sinks.gelf",
        "archive": "shippers.sinks.archive",
    },
}


def register(kind: Kind, name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: make `cls` available as config `type = name` for `kind`."""

    def deco(cls: type[T]) -> type[T]:
        _REGISTRY[kind][name] = cls
        return cls

    return deco


def _load_entry_points(kind: Kind) -> None:
    for ep in entry_points(group=f"shippers.{kind}s"):
        if ep.name not in _REGISTRY[kind]:
            _REGISTRY[kind][ep.name] = ep.load()


def known(kind: Kind) -> list[str]:
    """Every type name available for `kind` (built-in and installed plugins)."""
    _load_entry_points(kind)
    return sorted(set(_REGISTRY[kind]) | set(_BUILTIN_MODULES[kind]))


def lookup(kind: Kind, name: Any, path: str = "type") -> type:
    """The class registered as `name`; a ConfigError naming `path` when there is none."""
    if not isinstance(name, str):
        raise ConfigError(path, f"{kind} type must be a string", name)
    if name not in _REGISTRY[kind] and name in _BUILTIN_MODULES[kind]:
        importlib.import_module(_BUILTIN_MODULES[kind][name])
    if name not in _REGISTRY[kind]:
        _load_entry_points(kind)
    try:
        return _REGISTRY[kind][name]
    except KeyError:
        raise ConfigError(
            path, f"unknown {kind} type; known: {', '.join(known(kind))}", name
        ) from None
