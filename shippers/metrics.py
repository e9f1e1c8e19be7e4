"""Every Prometheus metric of the shipper, defined in one place.

Names and units follow Prometheus conventions (`_total`, `_seconds`, `_bytes`). Code counts
through these objects only; tests read them back with `value()`.
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
    "QUEUE_DEPTH",
    "S3_BYTES_READ",
    "S3_BYTES_WRITTEN",
    "SQS_MESSAGES",
    "SQS_VISIBILITY_EXTENSIONS",
    "STREAM_OFFSET",
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
QUEUE_DEPTH = Gauge("shippers_pipeline_queue_depth", "Batches waiting in a pipeline queue", ["queue"])
UDP_DATAGRAMS_DROPPED = Counter(
    "shippers_udp_datagrams_dropped_total", "Syslog UDP datagrams dropped (queue full)"
)
BUILD_INFO = Info("shippers_build", "Build information")
BUILD_INFO.info({"version": __version__})


def value(name: str, labels: dict[str, str] | None = None) -> float:
    """Current value of a sample (e.g. 'shippers_events_delivered_total'); 0 when unset."""
    v = REGISTRY.get_sample_value(name, labels or {})
    return 0.0 if v is None else v
