"""`shippers retention [--days N] [--dry-run]`: delete dated indices past the window.

For clusters without ILM (where ILM exists, its policy does this). Deletes the indices
`<prefix>-<source>-YYYY.MM.DD` whose day ended more than N days ago (default: the sink's
`retention_days`, 14). `--dry-run` only lists them.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    from ..es_client import add_connection_args

    p = sub.add_parser(
        "retention",
        help="delete Elasticsearch indices past the retention window (no-ILM clusters)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_connection_args(p)
    p.add_argument("--days", type=int, help="retention window in days (overrides config)")
    p.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..es_client import make_client, options_from_args, redact
    from ..es_setup import has_ilm
    from ..retention import apply_retention

    if args.days is not None:
        args.retention_days = args.days
    opts = options_from_args(args)
    es = make_client(opts)
    try:
        if has_ilm(es):
            print("note: this cluster has ILM; its policy normally handles retention")
        deleted = apply_retention(es, opts.index_prefix, opts.retention_days, dry_run=args.dry_run)
    except Exception as e:
        print(f"shippers retention: failed: {redact(f'{type(e).__name__}: {e}', opts)}",
              file=sys.stderr)  # fmt: skip
        return 1
    finally:
        es.close()
    verb = "would delete" if args.dry_run else "deleted"
    for name in deleted:
        print(f"{verb} {name}")
    print(f"{verb} {len(deleted)} indices older than {opts.retention_days} days")
    return 0
