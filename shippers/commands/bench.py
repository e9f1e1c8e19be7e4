"""`shippers bench normalize|es|syslog|all`: throughput as ratios against a floor measured
in the same run on the same input. Never part of the test suite.

normalize: on one core, FDR and PAN-OS normalize throughput (events/s) against the floor
— FDR: gunzip + line split + orjson.loads + orjson.dumps; PAN-OS: header regex +
quote-aware split + orjson.dumps — the work no normalizer can avoid. The last output line
is one JSON object with each figure and its ratio.
"""

from __future__ import annotations

import argparse
from typing import Any

import orjson


def register(sub: Any) -> None:
    p = sub.add_parser("bench", help="benchmarks (ratios against same-run baselines)")
    p.add_argument("what", choices=["normalize", "es", "syslog"], help="which benchmark")
    p.add_argument("--events", type=int, default=200_000, help="events per measured input")
    p.add_argument("--repeat", type=int, default=3, help="best of N runs")
    p.add_argument("--es", default="", help="Elasticsearch URL (bench es)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.what == "normalize":
        from ..bench_normalize import run_normalize_bench

        result: dict[str, Any] = run_normalize_bench(events=args.events, repeat=args.repeat)
    elif args.what == "es":
        from ..bench_es import run_es_bench

        result = run_es_bench(args)
    else:
        from ..bench_syslog import run_syslog_bench

        result = run_syslog_bench()
    print(orjson.dumps(result).decode())
    return 0
