"""Exception types shared by every stage."""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigError", "ParseError", "ShipperError"]


class ShipperError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(ShipperError):
    """A configuration value is wrong. Always names the key path and the bad value."""

    def __init__(self, path: str, message: str, value: Any = None, *, has_value: bool = True):
        self.path = path
        self.value = value
        shown = f" (got {value!r})" if has_value else ""
        super().__init__(f"config error at {path or '<root>'}: {message}{shown}")


class ParseError(ShipperError):
    """An input event cannot be normalized; the reason goes to the dead-letter sink."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)
