"""The `shippers` command. Each subcommand lives in `shippers/commands/<name>.py`.

A command module defines `register(subparsers)`, which adds its parser and sets
`func=<callable(args) -> int>`. Modules are discovered, so adding a command touches no
shared file. Heavy imports belong inside the command's function, not at module top.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from . import __version__, commands
from .errors import ConfigError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shippers",
        description="Ship Falcon and PAN-OS logs, normalized to ECS, to Elasticsearch, "
        "Graylog and an S3 archive.",
    )
    parser.add_argument("--version", action="version", version=f"shippers {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        print(f"shippers: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `shippers normalize ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
