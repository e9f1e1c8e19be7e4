"""Structured logs: one JSON object per line on stderr, with secrets redacted.

Why JSON lines: journald, Docker and every log collector (including this project's own
`files` source) take one event per line; a traceback stays inside its event's
`exc_info` string instead of spilling over many lines.

Why a redaction filter on the handler rather than care at each call site: a secret
reaches a log line by accident — a config dict in a debug message, a URL with
`user:pass@` in a connection error, an `Authorization` header in an HTTP client's
debug output. The filter sees every record of every logger (ours and the libraries')
before it is written, and masks the values of secret-looking keys, credentials in URLs and
Authorization headers, in the message and in any `extra=` fields.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from . import metrics
from .errors import ConfigError

__all__ = [
    "MASK",
    "JsonFormatter",
    "RedactingFilter",
    "configure_logging",
    "redact",
    "redact_value",
]

MASK = "***"

# Key names whose values are secrets. Matched case-insensitively as a whole key or as the
# tail of one (`es_password`, `aws_secret_access_key`, `x-api-key`, `client_secret`).
_SECRET_KEY = (
    r"(?:[\w-]*?[_-])?(?:password|passwd|pwd|secret|client_secret|secret_access_key"
    r"|api[_-]?key|apikey|access[_-]?key|token|access_token|refresh_token|session_token"
    r"|authorization|credentials?|private[_-]?key|cookie)"
)
_SECRET_KEY_RE = re.compile(rf"^{_SECRET_KEY}$", re.IGNORECASE)

# key=value, key: value, "key": "value", 'key': 'value' (dict reprs), key="value".
# The value is a quoted string or a run up to whitespace / delimiter.
_KV_RE = re.compile(
    rf"""(?P<key>["']?\b{_SECRET_KEY}["']?)(?P<sep>\s*[=:]\s*)"""
    r"""(?P<val>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,;&}\])"']+)""",
    re.IGNORECASE,
)
# Authorization: Bearer xyz / Basic xyz / ApiKey xyz — the scheme word stays readable.
_AUTH_RE = re.compile(
    r"(?P<head>\b(?:authorization|proxy-authorization)[\"']?\s*[:=]\s*[\"']?"
    r"(?:bearer|basic|apikey|token|digest|negotiate)\s+)(?P<val>[^\s\"',;]+)",
    re.IGNORECASE,
)
# scheme://user:password@host — keep the user, mask the password.
_URL_RE = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)(?P<val>[^@\s/]+)(?P<at>@)", re.I)


def redact(text: str) -> str:
    """Mask secret values in free text (log messages, exception strings)."""
    if not text:
        return text
    text = _URL_RE.sub(lambda m: f"{m['head']}{MASK}{m['at']}", text)
    text = _AUTH_RE.sub(lambda m: f"{m['head']}{MASK}", text)

    def kv(m: re.Match[str]) -> str:
        val = m["val"]
        # Already masked by the Authorization rule (`Bearer ***`): leave it readable.
        if val == MASK or val.lower() in ("bearer", "basic", "apikey", "token"):
            return m.group(0)
        quote = val[0] if val[:1] in ("'", '"') else ""
        return f"{m['key']}{m['sep']}{quote}{MASK}{quote}"

    return _KV_RE.sub(kv, text)


def redact_value(key: str, value: Any) -> Any:
    """Mask `value` when `key` names a secret; recurse into dicts and lists; redact strings."""
    if _SECRET_KEY_RE.match(key) and value not in (None, ""):
        return MASK
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value("", v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class RedactingFilter(logging.Filter):
    """Rewrites each record so that no secret reaches any handler it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the event
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info))
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, redact_value(key, value))
        return True


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...extra, "exc_info"?}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.threadName and record.threadName != "MainThread":
            out["thread"] = record.threadName
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in out:
                out[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc_info"] = record.exc_text
        if record.stack_info:
            out["stack_info"] = record.stack_info
        # default=str: an odd object in `extra=` must degrade to text, not lose the event.
        return orjson.dumps(out, default=str).decode()


class _CountingHandler(logging.StreamHandler):
    """Writes the line and counts it in `shippers_log_messages_total{level}`."""

    def emit(self, record: logging.LogRecord) -> None:
        metrics.LOG_MESSAGES.labels(level=record.levelname.lower()).inc()
        super().emit(record)


_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def configure_logging(level: str = "INFO", stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record, redacted and as one JSON line, to `stream` (default stderr).

    Replaces the root logger's handlers, so calling it twice does not double the output.
    Returns the installed handler (tests attach it to a StringIO).
    """
    name = str(level).upper()
    if name == "WARN":
        name = "WARNING"
    if name not in _LEVELS:
        raise ConfigError("metrics.log_level", f"must be one of {', '.join(_LEVELS)}", level)
    handler = _CountingHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(name)
    # Client libraries log each HTTP request at INFO/DEBUG; at our DEBUG they would bury
    # the shipper's own events, so they stay at WARNING unless asked for explicitly.
    for noisy in ("urllib3", "botocore", "boto3", "s3transfer", "elastic_transport"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(name)))
    logging.captureWarnings(True)
    return handler
