"""The three plugin interfaces: Source, Normalizer, Sink, and what the pipeline hands them.

Kept deliberately narrow so each external seam (S3, SQS, syslog sockets, Elasticsearch,
GELF) can be tested against a real peer without mocking our own code.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .record import Ack, Provenance, Record

if TYPE_CHECKING:
    from .sinks.dead_letter import DeadLetterSink

__all__ = [
    "Context",
    "Emit",
    "Normalizer",
    "NormalizerOptions",
    "RawBatch",
    "Sink",
    "Source",
]


@dataclass
class Context:
    """Shared services every plugin gets: the dead-letter sink, the stop flag, local state."""

    dead_letter: DeadLetterSink
    stop: threading.Event = field(default_factory=threading.Event)
    state_dir: Path = field(default_factory=lambda: Path(".shippers-state"))


@dataclass(slots=True)
class RawBatch:
    """Raw lines from one source unit, all of one format, sharing one ack.

    `format` selects the normalizer ("falcon" or "panos"). `enrich`, when set, runs on each
    normalized document (e.g. FDR host enrichment from aidmaster) before the sinks see it.
    The source must `ack.seal()` after its last batch for that unit.
    """

    format: str
    items: list[tuple[bytes, Provenance]]
    ack: Ack | None = None
    enrich: Callable[[dict[str, Any]], None] | None = None


Emit = Callable[[RawBatch], None]


class Source:
    """Produces RawBatches until `ctx.stop` is set (or, with `once`, until drained)."""

    Options: ClassVar[type] = object
    name: ClassVar[str] = ""

    def __init__(self, options: Any, ctx: Context):
        self.options = options
        self.ctx = ctx

    def run(self, emit: Emit, *, once: bool = False) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Return anything in flight to where it came from (e.g. SQS visibility 0)."""


@dataclass
class NormalizerOptions:
    """Options every normalizer accepts (`[normalize]` in the config, flags of `normalize`)."""

    tz: str = field(
        default="UTC",
        metadata={"doc": "IANA zone or ±HH:MM for PAN-OS timestamps, which carry no offset"},
    )
    keep_original: bool = field(
        default=False, metadata={"doc": "keep the raw line in event.original"}
    )


class Normalizer:
    """Turns one raw line into an ECS document and its deterministic id.

    Raises `ParseError(reason)` for input it cannot parse; never returns a partial guess.
    """

    Options: ClassVar[type] = NormalizerOptions
    name: ClassVar[str] = ""
    source_type: ClassVar[str] = ""  # "falcon" | "panos": index / archive routing key

    def __init__(self, options: Any = None):
        self.options = options if options is not None else _default_options(self.Options)

    def normalize(self, line: bytes) -> tuple[dict[str, Any], str]:
        raise NotImplementedError


class Sink:
    """Delivers records; completes each record's ack once delivered or dead-lettered.

    `write` may block: that is how back-pressure reaches the sources.
    """

    Options: ClassVar[type] = object
    name: ClassVar[str] = ""

    def __init__(self, options: Any, ctx: Context):
        self.options = options
        self.ctx = ctx

    def write(self, records: Iterable[Record]) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """Deliver everything buffered (called on idle, shutdown and `--once` end)."""

    def close(self) -> None:
        self.flush()

    def ready(self) -> bool:
        """For /readyz: reachable and not backlogged."""
        return True


def _default_options(cls: type) -> Any:
    return cls() if dataclasses.is_dataclass(cls) else None
