"""`shippers run [--config FILE] [--once]`: run the configured pipeline.

Without a config file it runs the embedded default (`shippers.default_config`): a local
inbox directory → normalizers → a local archive in the S3 layout (plus Elasticsearch when
one is configured through the environment). `--once` processes what is there and exits.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("shippers.run")


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run the shipper (embedded local default without --config)")
    p.add_argument("--config", "-c", metavar="FILE", help="TOML config file")
    p.add_argument("--once", action="store_true", help="process what is available, then exit")
    p.set_defaults(func=run)


def build_pipeline(
    cfg: Any, make_sources: Callable[[Any], list[Any]] | None = None, *, retention: bool = True
) -> Any:
    """Instantiate sources, sinks and the Pipeline from a validated ShipperConfig.

    `make_sources(ctx)` replaces the configured sources (replay builds its own); `retention`
    runs the periodic retention sweep when the pipeline is idle.
    """
    from ..pipeline import Pipeline
    from ..plugin import Context
    from ..sinks.dead_letter import DeadLetterSink

    state_dir = Path(cfg.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(dead_letter=DeadLetterSink(cfg.dead_letter.path), state_dir=state_dir)
    sinks = [spec.cls(spec.options, ctx) for spec in cfg.sinks]
    if make_sources is None:
        sources = [spec.cls(spec.options, ctx) for spec in cfg.sources]
    else:
        sources = make_sources(ctx)
    return Pipeline(
        sources,
        sinks,
        ctx,
        normalize_options=cfg.normalize,
        queue_size=cfg.pipeline.queue_size,
        workers=cfg.pipeline.workers,
        grace_period_s=cfg.pipeline.grace_period_s,
        on_idle=RetentionTimer(sinks, cfg.pipeline.retention_interval_s) if retention else None,
    )


class RetentionTimer:
    """Applies index retention of the sinks that keep it (Elasticsearch without ILM).

    Called by idle pipeline workers; runs at most once per `interval_s` (the first time
    right at start-up), one caller at a time, and never lets a failure stop the shipper —
    retention is housekeeping, delivery is the job.
    """

    def __init__(self, sinks: list[Any], interval_s: float):
        self.sinks = [s for s in sinks if hasattr(s, "apply_retention")]
        self.interval_s = interval_s
        self._next = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        if not self.sinks or self.interval_s <= 0 or time.monotonic() < self._next:
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._next = time.monotonic() + self.interval_s
            for sink in self.sinks:
                try:
                    deleted = sink.apply_retention()
                    if deleted:
                        log.info("retention deleted %d indices: %s", len(deleted), deleted)
                except Exception as e:
                    log.warning("retention on sink %s failed: %s", sink.name, e)
        finally:
            self._lock.release()


def load(args: argparse.Namespace) -> Any:
    from ..config import load_config, parse_config

    if args.config:
        return load_config(args.config)
    from ..default_config import default_config

    return parse_config(default_config())


def run(args: argparse.Namespace) -> int:
    cfg = load(args)
    _configure_logging(cfg.metrics.log_level)
    pipeline = build_pipeline(cfg)
    ops = None
    if cfg.metrics.listen:
        from ..ops_server import start_ops_server

        ops = start_ops_server(
            cfg.metrics.listen, ready=lambda: all(s.ready() for s in pipeline.sinks)
        )
    pipeline.install_signal_handlers()
    try:
        code: int = pipeline.run(once=args.once)
    finally:
        pipeline.ctx.dead_letter.close()
        if ops is not None:
            ops.stop()
    return code


def _configure_logging(level: str) -> None:
    try:
        from ..logging_setup import configure_logging
    except ImportError:  # structured logging module not installed in this build
        logging.basicConfig(level=level)
        return
    configure_logging(level)
