"""`shippers print-config-schema`: the JSON Schema of the TOML configuration on stdout.

Generated from the typed options of every installed plugin, so it always matches what
`load_config` accepts. Editors (e.g. Taplo / Even Better TOML) use it for completion and
checking; the committed copy in `schemas/config.schema.json` is compared with the
generated one by a test, so it cannot drift from the code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "print-config-schema",
        help="print the JSON Schema of the configuration file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=run)


def render_config_schema() -> str:
    """The schema as stable, diff-friendly text (sorted keys, 2-space indent, final newline)."""
    import json

    from ..config import config_schema

    return json.dumps(config_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def run(args: argparse.Namespace) -> int:
    text = render_config_schema()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
