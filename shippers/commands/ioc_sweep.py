"""`shippers ioc-sweep FILE`: match a list of indicators against both tiers, retroactively.

FILE is a plain list (one indicator per line, type detected), a CSV with a `type` column,
or a STIX 2.1 bundle (simple equality patterns); see `shippers/ioc.py`. For every
indicator seen: first/last seen, hosts, users, hits per source and per tier; indicators
not seen are listed as clean; unusable lines are listed as skipped.

Exit status: 0 nothing matched, 1 something matched, 2 error (bad input, or a tier failed
and nothing matched elsewhere — a failed search must not pass for clean).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .hunt import add_common_arguments, build_query, tiers


def register(sub: Any) -> None:
    p = sub.add_parser(
        "ioc-sweep",
        help="sweep a list of indicators (plain, CSV, STIX 2.1) over both tiers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="indicator file ('-' = stdin not supported)")
    p.add_argument(
        "--input-format", choices=["auto", "plain", "csv", "stix"], default="auto",
        help="how to read FILE (default: detect)",
    )  # fmt: skip
    add_common_arguments(p)
    p.set_defaults(func=run)


_COLUMNS = (
    ("indicator", "INDICATOR", 48),
    ("type", "TYPE", 6),
    ("status", "STATUS", 5),
    ("hits", "HITS", 5),
    ("first_seen", "FIRST SEEN", 24),
    ("last_seen", "LAST SEEN", 24),
    ("per_source", "SOURCES", 20),
    ("per_tier", "TIERS", 20),
    ("hosts_", "HOSTS", 30),
    ("users_", "USERS", 20),
)


def run(args: argparse.Namespace) -> int:
    import orjson

    from ..errors import ConfigError
    from ..hunt import run_hunt
    from ..hunt.render import render_rows
    from ..hunt.sweep import sweep_report
    from ..ioc import load_iocs

    try:
        iocs = load_iocs(args.file, args.input_format)
    except (OSError, ValueError) as e:
        raise ConfigError("FILE", f"cannot read indicators: {e}", args.file) from None
    q = build_query(args, iocs.indicators())
    archive, hot = tiers(args)
    timeline = run_hunt(q, archive=archive, hot=hot) if q.indicators else run_hunt(q)
    reports = sweep_report(timeline, [(e.indicator, e.type, e.ref) for e in iocs.entries])
    rows = [r.as_dict() for r in reports]
    skipped = [{"input": i, "reason": why} for i, why in iocs.skipped]
    matched = sum(1 for r in reports if r.seen)
    out = sys.stdout
    if args.format == "json":
        body = {
            "indicators": rows,
            "skipped": skipped,
            "summary": {"indicators": len(rows), "seen": matched, "clean": len(rows) - matched,
                        "skipped": len(skipped)},
            "errors": timeline.errors,
        }  # fmt: skip
        out.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif args.format == "ndjson":
        for r in rows:
            out.write(orjson.dumps(r).decode() + "\n")
        for s in skipped:
            out.write(orjson.dumps({"status": "skipped", **s}).decode() + "\n")
    else:
        for r in rows:
            r["per_source"] = " ".join(f"{k}:{v}" for k, v in r["sources"].items())
            r["per_tier"] = " ".join(f"{k}:{v}" for k, v in r["tiers"].items())
            r["hosts_"] = ",".join(r["hosts"])
            r["users_"] = ",".join(r["users"])
        seen = [r for r in rows if r["status"] == "seen"]
        clean = [r for r in rows if r["status"] == "clean"]
        if seen:
            render_rows(seen, _COLUMNS, out)
        if clean:
            out.write(f"\nclean ({len(clean)}): " + ", ".join(r["indicator"] for r in clean) + "\n")
        for s in skipped:
            out.write(f"skipped: {s['input']} ({s['reason']})\n")
        out.write(f"\n{len(rows)} indicators: {matched} seen, {len(rows) - matched} clean, "
                  f"{len(skipped)} skipped\n")  # fmt: skip
    for err in timeline.errors:
        print(f"shippers ioc-sweep: {err}", file=sys.stderr)
    if matched:
        return 1  # something matched for sure, even if a tier failed
    return 2 if timeline.errors else 0  # a failed tier must not pass for "clean"
