"""`shippers kibana-import --kibana URL`: install the data views and dashboards in Kibana.

Imports `dashboards/kibana/*.ndjson` through Kibana's saved objects import API with
`overwrite=true` (idempotent: safe to run on every deploy). Credentials come from the
flags or, preferably (they do not show up in `ps`), from the environment:
`KIBANA_API_KEY`, or `KIBANA_USERNAME` / `KIBANA_PASSWORD`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "kibana-import",
        help="import the Kibana data views and dashboards (saved objects import API)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_kibana_arguments(p, required=True)
    p.set_defaults(func=run)


def add_kibana_arguments(p: Any, *, required: bool = False) -> None:
    """The Kibana flags; `shippers setup` reuses them (with `required=False`)."""
    p.add_argument("--kibana", metavar="URL", required=required, help="Kibana base URL")
    p.add_argument("--api-key", metavar="KEY", help="Kibana API key (env KIBANA_API_KEY)")
    p.add_argument("--user", metavar="NAME", help="basic auth user (env KIBANA_USERNAME)")
    p.add_argument("--password", metavar="PW", help="basic auth password (env KIBANA_PASSWORD)")
    p.add_argument("--space", metavar="ID", help="Kibana space id (default space if omitted)")
    p.add_argument("--kibana-ca", metavar="FILE", help="CA bundle for Kibana's TLS certificate")


def import_from_args(args: argparse.Namespace) -> int:
    """Run the import from parsed flags; prints a summary; returns an exit code (0 / 1)."""
    from ..kibana import KibanaImportError, import_saved_objects

    try:
        result = import_saved_objects(
            args.kibana,
            api_key=args.api_key or os.environ.get("KIBANA_API_KEY"),
            user=args.user or os.environ.get("KIBANA_USERNAME"),
            password=args.password or os.environ.get("KIBANA_PASSWORD"),
            space=args.space,
            verify=args.kibana_ca or True,
        )
    except KibanaImportError as e:
        print(f"shippers kibana-import: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # requests' ConnectionError is an OSError
        print(f"shippers kibana-import: cannot reach {args.kibana}: {e}", file=sys.stderr)
        return 1
    print(f"imported {result.success_count} saved objects into {args.kibana}")
    return 0


def run(args: argparse.Namespace) -> int:
    return import_from_args(args)
