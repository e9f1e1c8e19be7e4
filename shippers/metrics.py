"""Every Prometheus metric of the shipper, defined in one place.

Names and units follow Prometheus conventions (`_total`, `_seconds`, `_bytes`). Code counts
through these objects only; tests read them back with `value()`. The Grafana dashboard
(`dashboards/grafana/shippers.json`) queries these names; a unit test checks that every
metric a panel uses is defined here, so renaming one means updating the dashboard.

Label values in use:
- `source`: the Provenance source id ("files", "falcon-fdr", "falcon-stream", "panos-syslog").
- `sink`: the sink type ("elasticsearch", "gelf", "archive", "ndjson").
- `SQS_MESSAGES.outcome`: received | deleted | returned (visibility 0, e.g. on SIGTERM) |
  given_up (receive count exceeded; dead-lettered, then deleted).
- `QUEUE_DEPTH.queue`: "normalize" (raw batches waiting for a worker), sinks may add theirs.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, Info

from . import __version__

__all__ = [
    "BUILD_INFO",
    "BULK_ITEMS_RETRIED",
    "BULK_REQUEST_SECONDS",
    "EVENTS_DEAD_LETTERED",
    "EVENTS_DELIVERED",
    "EVENTS_DUPLICATE",
    "EVENTS_NORMALIZED",
    "EVENTS_RECEIVED",
    "EVENT_LAG_SECONDS",
    "GELF_FIELDS_TRUNCATED",
    "LOG_MESSAGES",
    "QUEUE_DEPTH",
    "READY",
    "S3_BYTES_READ",
    "S3_BYTES_WRITTEN",
    "SQS_MESSAGES",
    "SQS_VISIBILITY_EXTENSIONS",
    "STREAM_EVENTS_SKIPPED",
    "STREAM_OFFSET",
    "STREAM_RECONNECTS",
    "STREAM_SESSION_REFRESHES",
    "UDP_DATAGRAMS_DROPPED",
    "value",
]

EVENTS_RECEIVED = Counter(
    "shippers_events_received_total", "Raw events read from a source", ["source"]
)
EVENTS_NORMALIZED = Counter(
    "shippers_events_normalized_total", "Events normalized into ECS", ["source"]
)
EVENTS_DELIVERED = Counter(
    "shippers_events_delivered_total", "Events acknowledged by a sink", ["source", "sink"]
)
EVENTS_DUPLICATE = Counter(
    "shippers_events_duplicate_total",
    "Events a sink already held (Elasticsearch 409 on create): delivered earlier",
    ["source", "sink"],
)
EVENTS_DEAD_LETTERED = Counter(
    "shippers_events_dead_lettered_total",
    "Events written to the dead-letter sink",
    ["source", "sink", "reason"],
)
BULK_REQUEST_SECONDS = Histogram(
    "shippers_bulk_request_duration_seconds",
    "Elasticsearch bulk request duration",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BULK_ITEMS_RETRIED = Counter(
    "shippers_bulk_items_retried_total", "Bulk items retried (429 / 5xx)", ["status"]
)
SQS_MESSAGES = Counter(
    "shippers_sqs_messages_total",
    "SQS messages by outcome: received, deleted, returned, given_up",
    ["outcome"],
)
SQS_VISIBILITY_EXTENSIONS = Counter(
    "shippers_sqs_visibility_extensions_total", "SQS ChangeMessageVisibility keep-alives"
)
S3_BYTES_READ = Counter("shippers_s3_read_bytes_total", "Bytes read from S3 objects")
S3_BYTES_WRITTEN = Counter("shippers_s3_written_bytes_total", "Bytes written to S3")
STREAM_OFFSET = Gauge(
    "shippers_stream_offset", "Last checkpointed Falcon stream offset", ["partition"]
)
EVENT_LAG_SECONDS = Histogram(
    "shippers_event_lag_seconds",
    "Delivery time minus event time",
    ["source"],
    buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400),
)
QUEUE_DEPTH = Gauge(
    "shippers_pipeline_queue_depth", "Batches waiting in a pipeline queue", ["queue"]
)
UDP_DATAGRAMS_DROPPED = Counter(
    "shippers_udp_datagrams_dropped_total", "Syslog UDP datagrams dropped (queue full)"
)
BUILD_INFO = Info("shippers_build", "Build information")
BUILD_INFO.info({"version": __version__})
READY = Gauge(
    "shippers_ready",
    "1 when every sink is reachable and not backlogged (what /readyz answers), else 0",
)
LOG_MESSAGES = Counter(
    "shippers_log_messages_total",
    "Log events emitted, by level (a rising error rate without dead letters points at "
    "infrastructure trouble: retries, reconnects)",
    ["level"],
)

STREAM_RECONNECTS = Counter(
    "shippers_stream_reconnects_total",
    "Falcon stream reconnects by partition and cause (dropped, eof, session, http_<status>)",
    ["partition", "reason"],
)
STREAM_SESSION_REFRESHES = Counter(
    "shippers_stream_session_refreshes_total",
    "Falcon stream session refresh POSTs by outcome (ok, rate_limited, failed, gone)",
    ["outcome"],
)
STREAM_EVENTS_SKIPPED = Counter(
    "shippers_stream_events_skipped_total",
    "Falcon stream events skipped because their offset was already read (server re-sent them)",
    ["partition"],
)


def value(name: str, labels: dict[str, str] | None = None) -> float:
    """Current value of a sample (e.g. 'shippers_events_delivered_total'); 0 when unset."""
    v = REGISTRY.get_sample_value(name, labels or {})
    return 0.0 if v is None else v


GELF_FIELDS_TRUNCATED = Counter(
    "shippers_gelf_fields_truncated_total",
    "GELF fields cut to fit the 32,766-byte term or 2 MiB frame limit (named in the message)",
)
