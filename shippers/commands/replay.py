"""`shippers replay`: re-ship raw FDR objects through the normal pipeline.

    shippers replay --config shipper.toml --from-archive s3://archive/fdr \
        [--prefix raw/falcon/2025/04] [--since 2025-04-01] [--until 2025-04-02T06]
    shippers replay --config shipper.toml --from-bucket s3://cs-prod-bucket --prefix data/

Sinks, dead-letter file, state dir and normalizer settings come from the config; so do
the endpoint, region and raw-archive settings of its `falcon-fdr` source, if it has one.
Documents keep their deterministic ids, so Elasticsearch (op_type=create) and the
normalized archive (same keys) end up without duplicates however often a range is replayed.
`--since/--until` select by the archive's hour path (raw archive) or LastModified (bucket).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("replay", help="re-ship raw FDR objects from the archive or a bucket")
    p.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        required=True,
        help="TOML config providing the sinks (and falcon-fdr settings)",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--from-archive", metavar="URL", help="raw archive root: s3://bucket/prefix or a directory"
    )
    src.add_argument("--from-bucket", metavar="URL", help="the CrowdStrike FDR bucket (s3://…)")
    p.add_argument(
        "--prefix",
        default=None,
        help="key prefix under the URL (default raw/falcon for --from-archive)",
    )
    p.add_argument("--since", default="", help="ISO date/time, inclusive (UTC when naive)")
    p.add_argument("--until", default="", help="ISO date/time, exclusive")
    p.add_argument("--endpoint-url", default=None, help="S3 endpoint override")
    p.set_defaults(func=replay)


def replay(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..errors import ConfigError
    from ..options import build_options
    from ..sources.falcon_fdr import FalconFdrOptions, FalconFdrSource
    from .run import build_pipeline

    cfg = load_config(args.config)
    logging.basicConfig(level=cfg.metrics.log_level, stream=sys.stderr)
    base: dict[str, Any] = {}
    for spec in cfg.sources:
        if spec.type == "falcon-fdr":
            base = dataclasses.asdict(spec.options)
            break
    url = args.from_archive or args.from_bucket
    prefix = args.prefix if args.prefix is not None else ("raw/falcon" if args.from_archive else "")
    overrides = {
        "list_url": url,
        "list_prefix": prefix,
        "list_since": args.since,
        "list_until": args.until,
        "queue_url": "",
    }
    if args.endpoint_url is not None:
        overrides["endpoint_url"] = args.endpoint_url
    if args.from_archive:
        # Reading our own raw archive: copying it into itself would be pointless.
        overrides["archive_url"] = ""
    options = build_options(FalconFdrOptions, {**base, **overrides}, "replay")
    if not cfg.sinks:
        raise ConfigError("sinks", "replay needs at least one [[sinks]] entry", has_value=False)

    # The configured sinks, with this listing source in place of the configured sources; no
    # retention sweep while backfilling.
    pipeline = build_pipeline(cfg, lambda ctx: [FalconFdrSource(options, ctx)], retention=False)
    source, ctx = pipeline.sources[0], pipeline.ctx
    pipeline.install_signal_handlers()
    try:
        code = pipeline.run(once=True)
    finally:
        ctx.dead_letter.close()
    for unit, error in source.failed_units:
        print(f"replay: failed: {unit}: {error}", file=sys.stderr)
    print(
        f"replay: {source.units_done} objects, {len(source.failed_units)} failed, "
        f"{ctx.dead_letter.count} dead letters",
        file=sys.stderr,
    )
    return 1 if code or source.failed_units else 0
