"""`shippers hunt`: one indicator across Elasticsearch (hot) and the archive (cold).

    shippers hunt --ip 203.0.113.50 [--since 7d] [--until now] [--sources falcon,panos]
                  [--format table|json|ndjson] [--archive URL] [--es URL]

Prints one timeline — time, source, host, user, action, src → dst, process/file — with
each hit's tier (hot, cold, or both when the same document id is in both) and counts per
source. `--print-athena-sql` prints the same query as Athena SQL instead of running it.

Where it looks: `--archive` (default `$SHIPPERS_ARCHIVE`, else `$SHIPPERS_HOME/archive`
when it exists; a directory or `s3://bucket/prefix`), `--es` (default `$SHIPPERS_ES_URL`).
Pass `--archive none` / `--es none` to skip a tier. Exit 0 when the search ran (with or
without hits), 2 when a tier failed or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

_KINDS = ("ip", "domain", "hash", "user", "host", "url")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "hunt",
        help="search one IP/domain/hash/user/host across Elasticsearch and the archive",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--ip", help="IPv4/IPv6 address or CIDR")
    what.add_argument("--domain", help="domain; subdomains match too")
    what.add_argument("--hash", help="MD5, SHA-1 or SHA-256")
    what.add_argument("--user", help="user name")
    what.add_argument("--host", help="host name or Falcon agent id")
    what.add_argument("--url", help="URL (scheme optional)")
    add_common_arguments(p)
    p.add_argument(
        "--print-athena-sql", action="store_true", help="print the query as Athena SQL and exit"
    )
    p.set_defaults(func=run)


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """Window, sources, output and tier options shared with `ioc-sweep`."""
    p.add_argument("--since", metavar="T", help="start: ISO 8601 (UTC if no zone) or 30m/24h/7d")
    p.add_argument("--until", metavar="T", help="end: ISO 8601 or a relative age; default now")
    p.add_argument("--sources", default="falcon,panos", help="comma list (default: both)")
    p.add_argument("--format", choices=["table", "json", "ndjson"], default="table")
    p.add_argument("--archive", metavar="URL", help="archive root: directory or s3://bucket/prefix")
    p.add_argument("--es", metavar="URL", help="Elasticsearch URL (default $SHIPPERS_ES_URL)")
    p.add_argument("--es-index-prefix", default="shippers", help="index prefix (default shippers)")
    p.add_argument("--s3-endpoint", metavar="URL", help="S3-compatible endpoint for s3:// archives")
    p.add_argument("--limit", type=int, default=10_000, help="max hits per tier (default 10000)")
    p.add_argument(
        "--athena-table",
        default="",
        help="table for --print-athena-sql (default: the table of schemas/athena)",
    )


def build_query(args: argparse.Namespace, indicators: list[Any]) -> Any:
    """A hunt Query from the common arguments; ConfigError on a bad window or source."""
    from ..errors import ConfigError
    from ..hunt.query import Query, parse_time

    try:
        since = parse_time(args.since) if args.since else None
        until = parse_time(args.until) if args.until else None
    except ValueError as e:
        raise ConfigError("--since/--until", str(e), args.since or args.until) from None
    sources = tuple(s.strip() for s in args.sources.split(",") if s.strip())
    try:
        return Query(indicators, since=since, until=until, sources=sources, limit=args.limit)
    except ValueError as e:
        raise ConfigError("--sources/--since/--until", str(e), args.sources) from None


def tiers(args: argparse.Namespace) -> tuple[Any, Any]:
    """(ColdArchive | None, HotStore | None) from arguments and environment."""
    from ..default_config import shippers_home
    from ..errors import ConfigError
    from ..hunt import ColdArchive, HotStore

    def off(v: str | None) -> bool:
        return v is not None and v.strip().lower() in ("", "none", "off")

    archive_url = args.archive if args.archive is not None else os.environ.get("SHIPPERS_ARCHIVE")
    if archive_url is None:
        local = shippers_home() / "archive"
        archive_url = str(local) if local.is_dir() else None
    es_url = args.es if args.es is not None else os.environ.get("SHIPPERS_ES_URL")
    archive = (
        None
        if archive_url is None or off(archive_url)
        else ColdArchive(archive_url, s3_endpoint=args.s3_endpoint)
    )
    hot = (
        None
        if es_url is None or off(es_url)
        else HotStore(es_url, index_prefix=args.es_index_prefix)
    )
    if archive is None and hot is None:
        raise ConfigError(
            "--archive/--es",
            "nothing to search: give --archive DIR|s3://… and/or --es URL "
            "(or run `shippers run` first so $SHIPPERS_HOME/archive exists)",
            has_value=False,
        )
    return archive, hot


def indicator_from_args(args: argparse.Namespace) -> Any:
    from ..errors import ConfigError
    from ..hunt.query import Indicator
    from ..ioc import detect

    for kind in _KINDS:
        value = getattr(args, kind)
        if value is None:
            continue
        value = value.strip()
        if kind == "ip":
            entry = detect(value)
            if entry is None or entry.indicator.kind not in ("ip", "cidr"):
                raise ConfigError("--ip", "not an IP address or CIDR", value)
            return entry.indicator
        if kind == "hash":
            entry = detect(value)
            if entry is None or entry.indicator.kind != "hash":
                raise ConfigError("--hash", "not an MD5, SHA-1 or SHA-256 hex digest", value)
            return entry.indicator
        if not value:
            raise ConfigError(f"--{kind}", "must not be empty", value)
        return Indicator(kind, value)
    raise ConfigError("hunt", "one of --ip --domain --hash --user --host --url is required")


def run(args: argparse.Namespace) -> int:
    from ..hunt import run_hunt
    from ..hunt.render import render_timeline

    indicator = indicator_from_args(args)
    q = build_query(args, [indicator])
    if args.print_athena_sql:
        from ..hunt.athena import athena_sql

        print(athena_sql(q, table=args.athena_table or None))
        return 0
    archive, hot = tiers(args)
    timeline = run_hunt(q, archive=archive, hot=hot)
    render_timeline(timeline, args.format, sys.stdout)
    for err in timeline.errors:
        print(f"shippers hunt: {err}", file=sys.stderr)
    return 2 if timeline.errors else 0
