"""Normalizers: raw Falcon / PAN-OS lines → ECS documents."""

from __future__ import annotations

from ..plugin import Normalizer
from ..registry import lookup

__all__ = ["FORMAT_ALIASES", "get_normalizer"]

# `shippers normalize --format` names → registry names.
FORMAT_ALIASES = {"falcon-fdr": "falcon", "falcon": "falcon", "panos": "panos"}


def get_normalizer(fmt: str, options: object = None) -> Normalizer:
    """A normalizer instance for a format name ("falcon-fdr", "falcon", "panos")."""
    cls = lookup("normalizer", FORMAT_ALIASES.get(fmt, fmt), "format")
    return cls(options)
