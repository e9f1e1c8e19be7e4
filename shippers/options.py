"""Typed plugin options: a dict from TOML → a dataclass, with errors that name the key.

Every plugin declares its options as a dataclass (`Options`). `build_options` checks each
key against the dataclass fields (unknown keys are rejected — a typo must not silently
fall back to a default), converts and type-checks values, and reports the full key path
(`sinks[0].batch_bytes`) with the bad value. `options_schema` turns the same dataclass into
JSON Schema for `shippers print-config-schema`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from .errors import ConfigError

__all__ = ["build_options", "options_schema"]

T = TypeVar("T")


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, path)
            except ConfigError as e:
                errors.append(e)
        raise ConfigError(path, f"expected {_describe(tp)}", value)
    if origin is Literal:
        if value not in get_args(tp):
            allowed = ", ".join(repr(a) for a in get_args(tp))
            raise ConfigError(path, f"must be one of {allowed}", value)
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(path, "expected a list", value)
        (item_tp,) = get_args(tp) or (Any,)
        return [_convert(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, "expected a table", value)
        _, val_tp = get_args(tp) or (str, Any)
        return {str(k): _convert(val_tp, v, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(path, "expected a table", value)
        return build_options(typing.cast(type, tp), value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, "expected true or false", value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, "expected an integer", value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, "expected a number", value)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, "expected a string", value)
        return value
    raise ConfigError(path, f"unsupported option type {_describe(tp)}", value)


def build_options(cls: type[T], raw: dict[str, Any], path: str) -> T:
    """Build the options dataclass `cls` from `raw`; errors name `path.key` and the value."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    prefix = f"{path}." if path else ""
    for key in raw:
        if key not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise ConfigError(f"{prefix}{key}", f"unknown key (known keys: {known})", raw[key])
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name in raw:
            kwargs[name] = _convert(hints[name], raw[name], f"{prefix}{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{prefix}{name}", "required key is missing", has_value=False)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(path)
    return obj


def _schema_of(tp: Any) -> dict[str, Any]:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return _schema_of(args[0]) if len(args) == 1 else {"anyOf": [_schema_of(a) for a in args]}
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin is list:
        (item,) = get_args(tp) or (Any,)
        return {"type": "array", "items": _schema_of(item)}
    if origin is dict:
        _, val = get_args(tp) or (str, Any)
        return {"type": "object", "additionalProperties": _schema_of(val)}
    if dataclasses.is_dataclass(tp):
        return options_schema(typing.cast(type, tp))
    return {
        bool: {"type": "boolean"},
        int: {"type": "integer"},
        float: {"type": "number"},
        str: {"type": "string"},
    }.get(tp, {})


def options_schema(cls: type) -> dict[str, Any]:
    """JSON Schema of an options dataclass (field docs come from `metadata['doc']`)."""
    hints = get_type_hints(cls)
    props: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        s = dict(_schema_of(hints[f.name]))
        if f.metadata.get("doc"):
            s["description"] = f.metadata["doc"]
        if f.default is not dataclasses.MISSING and isinstance(f.default, (str, int, float, bool)):
            s["default"] = f.default
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
        props[f.name] = s
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    return out
