"""`shippers setup [--es URL | --config FILE] [--kibana URL]`: install index templates (and
ILM) and the Kibana saved objects — idempotent.

Installs the component and index templates generated from `schemas/` for the index
prefix, plus the ILM policy where the cluster has ILM. Prints what the cluster offers and
what was done. Secrets come from the environment (`SHIPPERS_ES_PASSWORD`,
`SHIPPERS_ES_API_KEY`), never from the command line.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    from ..es_client import add_connection_args

    p = sub.add_parser(
        "setup",
        help="install Elasticsearch index templates / ILM policy (idempotent)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from .setup_kibana import add_kibana_arguments

    add_connection_args(p)
    add_kibana_arguments(p.add_argument_group("Kibana saved objects (dashboards/kibana)"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rc = 0
    if args.es or args.config or not args.kibana:
        rc = _setup_elasticsearch(args)
    if args.kibana and rc == 0:
        from .setup_kibana import import_from_args

        rc = import_from_args(args)
    return rc


def _setup_elasticsearch(args: argparse.Namespace) -> int:
    from ..es_client import make_client, options_from_args, redact
    from ..es_setup import install

    opts = options_from_args(args)
    es = make_client(opts)
    try:
        feats = install(es, opts.index_prefix, opts.retention_days)
    except Exception as e:  # connection refused, auth, a refused template: say so, no trace
        print(f"shippers setup: failed: {redact(f'{type(e).__name__}: {e}', opts)}",
              file=sys.stderr)  # fmt: skip
        return 1
    finally:
        es.close()
    print(
        f"installed templates for {opts.index_prefix}-falcon-*, {opts.index_prefix}-panos-* "
        f"(ILM: {'yes, policy ' + opts.index_prefix + '-logs' if feats.ilm else 'no'}; "
        f"data streams: {'yes' if feats.data_streams else 'no'}; "
        f"match_only_text: {'yes' if feats.match_only_text else 'no'})"
    )
    for note in feats.notes:
        print(f"note: {note}")
    return 0
