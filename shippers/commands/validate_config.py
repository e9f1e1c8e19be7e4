"""`shippers validate-config FILE`: check a config file without starting anything.

Loads the file exactly as `shippers run --config FILE` does (TOML syntax, unknown keys,
types, plugin options) and prints `OK` with a one-line summary, or the error naming the
key path and the bad value. Exit 0 when valid, 2 when not — suitable for a CI step or
`ExecStartPre=` in a systemd unit, so a bad deploy fails before the old process stops.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "validate-config",
        help="check a TOML config file (exit 0 = valid, 2 = invalid)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="TOML config file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..errors import ConfigError

    try:
        cfg = load_config(args.file)
    except ConfigError as e:
        print(f"{args.file}: {e}", file=sys.stderr)
        return 2
    sources = ", ".join(s.type for s in cfg.sources)
    sinks = ", ".join(s.type for s in cfg.sinks) or "none"
    print(f"OK: {args.file} (sources: {sources}; sinks: {sinks})")
    return 0
