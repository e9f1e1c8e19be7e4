"""The TOML configuration: typed, unknown keys rejected, errors naming the key path.

```toml
state_dir = ".shippers-state"
[pipeline]      # queue sizes, workers, shutdown grace
[normalize]     # tz, keep_original
[dead_letter]   # path
[metrics]       # listen = "127.0.0.1:9108"
[[sources]]     # type = "files" | "falcon-fdr" | "falcon-stream" | "panos-syslog" | ...
[[sinks]]       # type = "elasticsearch" | "gelf" | "archive" | "ndjson" | ...
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .options import build_options, options_schema
from .plugin import NormalizerOptions
from .registry import known, lookup

__all__ = [
    "DeadLetterOptions",
    "MetricsOptions",
    "PipelineOptions",
    "PluginSpec",
    "ShipperConfig",
    "config_schema",
    "load_config",
    "parse_config",
]


@dataclass
class PipelineOptions:
    queue_size: int = field(
        default=16, metadata={"doc": "raw batches buffered before sources block"}
    )
    workers: int = field(default=1, metadata={"doc": "normalizer threads"})
    grace_period_s: float = field(
        default=30.0, metadata={"doc": "seconds to flush and ack on SIGTERM before exiting"}
    )
    retention_interval_s: float = field(
        default=3600.0,
        metadata={"doc": "how often `run` applies index retention (no-ILM clusters)"},
    )

    def validate(self, path: str) -> None:
        if self.queue_size < 1:
            raise ConfigError(f"{path}.queue_size", "must be >= 1", self.queue_size)
        if self.workers < 1:
            raise ConfigError(f"{path}.workers", "must be >= 1", self.workers)


@dataclass
class DeadLetterOptions:
    path: str = field(default="dead-letter.ndjson", metadata={"doc": "NDJSON file of dead letters"})


@dataclass
class MetricsOptions:
    listen: str = field(
        default="", metadata={"doc": "host:port for /metrics, /healthz, /readyz; empty = off"}
    )
    log_level: str = field(default="INFO", metadata={"doc": "DEBUG, INFO, WARNING, ERROR"})


@dataclass
class PluginSpec:
    """One `[[sources]]` or `[[sinks]]` entry: its registered class and typed options."""

    type: str
    cls: Any  # the registered Source / Sink subclass
    options: Any
    path: str


@dataclass
class ShipperConfig:
    sources: list[PluginSpec]
    sinks: list[PluginSpec]
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    normalize: NormalizerOptions = field(default_factory=NormalizerOptions)
    dead_letter: DeadLetterOptions = field(default_factory=DeadLetterOptions)
    metrics: MetricsOptions = field(default_factory=MetricsOptions)
    state_dir: str = ".shippers-state"
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


_SECTIONS: dict[str, type] = {
    "pipeline": PipelineOptions,
    "normalize": NormalizerOptions,
    "dead_letter": DeadLetterOptions,
    "metrics": MetricsOptions,
}


def _plugins(kind: str, raw: Any, key: str) -> list[PluginSpec]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(key, f"expected an array of tables ([[{key}]])", raw)
    specs = []
    for i, entry in enumerate(raw):
        path = f"{key}[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(path, "expected a table", entry)
        if "type" not in entry:
            raise ConfigError(f"{path}.type", "required key is missing", has_value=False)
        cls: Any = lookup(kind, entry["type"], f"{path}.type")  # type: ignore[arg-type]
        opts = {k: v for k, v in entry.items() if k != "type"}
        specs.append(PluginSpec(entry["type"], cls, build_options(cls.Options, opts, path), path))
    return specs


def parse_config(raw: dict[str, Any]) -> ShipperConfig:
    """Validate a parsed TOML document into a ShipperConfig."""
    allowed = {"sources", "sinks", "state_dir", *_SECTIONS}
    for key in raw:
        if key not in allowed:
            raise ConfigError(
                key, f"unknown key (known keys: {', '.join(sorted(allowed))})", raw[key]
            )
    sections = {
        name: build_options(cls, raw.get(name, {}), name)
        if isinstance(raw.get(name, {}), dict)
        else _bad_table(name, raw[name])
        for name, cls in _SECTIONS.items()
    }
    state_dir = raw.get("state_dir", ".shippers-state")
    if not isinstance(state_dir, str):
        raise ConfigError("state_dir", "expected a string", state_dir)
    cfg = ShipperConfig(
        sources=_plugins("source", raw.get("sources"), "sources"),
        sinks=_plugins("sink", raw.get("sinks"), "sinks"),
        state_dir=state_dir,
        raw=raw,
        **sections,
    )
    if not cfg.sources:
        raise ConfigError("sources", "at least one [[sources]] entry is required", has_value=False)
    return cfg


def _bad_table(name: str, value: Any) -> Any:
    raise ConfigError(name, "expected a table", value)


def load_config(path: str | Path) -> ShipperConfig:
    """Read and validate a TOML config file. Syntax errors name the file, line and column."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(p), f"invalid TOML: {e}", has_value=False) from None
    except OSError as e:
        raise ConfigError(
            str(p), f"cannot read config file: {e.strerror}", has_value=False
        ) from None
    return parse_config(data)


def config_schema() -> dict[str, Any]:
    """JSON Schema of the whole config, with one `oneOf` branch per registered plugin type."""

    def branches(kind: str) -> list[dict[str, Any]]:
        out = []
        for name in known(kind):  # type: ignore[arg-type]
            try:
                cls: Any = lookup(kind, name)  # type: ignore[arg-type]
            except Exception:  # a plugin whose optional dependency is missing
                continue
            s: dict[str, Any] = (
                options_schema(cls.Options)
                if hasattr(cls.Options, "__dataclass_fields__")
                else {"type": "object", "properties": {}, "additionalProperties": False}
            )
            s = {**s, "properties": {"type": {"const": name}, **s.get("properties", {})}}
            s["required"] = ["type", *s.get("required", [])]
            out.append(s)
        return out

    props: dict[str, Any] = {name: options_schema(cls) for name, cls in _SECTIONS.items()}
    props["state_dir"] = {"type": "string", "default": ".shippers-state"}
    props["sources"] = {"type": "array", "minItems": 1, "items": {"oneOf": branches("source")}}
    props["sinks"] = {"type": "array", "items": {"oneOf": branches("sink")}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://shippers.dev/schemas/config.schema.json",
        "title": "shippers configuration",
        "type": "object",
        "properties": props,
        "required": ["sources"],
        "additionalProperties": False,
    }
