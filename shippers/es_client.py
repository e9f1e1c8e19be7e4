"""Elasticsearch connection options and the client built from them.

One options dataclass serves the sink (`[[sinks]] type = "elasticsearch"`), `shippers
setup` and `shippers retention`. Secrets (password, API key) are excluded from `repr`, and
every error text that leaves this package goes through `redact()`: a stack trace or a log
line must never carry a credential.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from .errors import ConfigError

__all__ = [
    "ElasticsearchOptions",
    "add_connection_args",
    "make_client",
    "options_from_args",
    "redact",
]


@dataclass
class ElasticsearchOptions:
    """`[[sinks]] type = "elasticsearch"` (also used by `setup` / `retention`)."""

    hosts: list[str] = field(
        default_factory=lambda: ["http://127.0.0.1:9200"],
        metadata={"doc": "node URLs; user:password@ in a URL is moved to basic auth"},
    )
    api_key: str = field(default="", repr=False, metadata={"doc": "API key (base64 id:key)"})
    username: str = field(default="", metadata={"doc": "basic auth user"})
    password: str = field(default="", repr=False, metadata={"doc": "basic auth password"})
    ca_certs: str = field(default="", metadata={"doc": "CA bundle (PEM) for TLS"})
    ssl_assert_fingerprint: str = field(
        default="", metadata={"doc": "SHA-256 fingerprint of the server certificate"}
    )
    verify_certs: bool = field(default=True, metadata={"doc": "verify the TLS certificate"})
    index_prefix: str = field(
        default="shippers",
        metadata={"doc": "indices are <prefix>-<falcon|panos>-YYYY.MM.DD (event date, UTC)"},
    )
    batch_docs: int = field(default=5000, metadata={"doc": "documents per bulk request"})
    batch_bytes: int = field(
        default=5 * 1024 * 1024, metadata={"doc": "uncompressed bytes per bulk request"}
    )
    batch_age_s: float = field(
        default=1.0, metadata={"doc": "send a partial batch after this many seconds"}
    )
    compress: bool = field(default=False, metadata={"doc": "gzip bulk request bodies"})
    max_in_flight: int = field(
        default=2, metadata={"doc": "concurrent bulk requests; writers block beyond that"}
    )
    retention_days: int = field(
        default=14, metadata={"doc": "delete dated indices older than this (no-ILM clusters)"}
    )
    request_timeout_s: float = field(default=60.0, metadata={"doc": "per bulk request"})
    backoff_initial_s: float = field(default=0.1, metadata={"doc": "first retry delay"})
    backoff_max_s: float = field(default=30.0, metadata={"doc": "cap of the retry delay"})
    item_retry_limit: int = field(
        default=20,
        metadata={"doc": "retries of one item failing with 5xx before it is dead-lettered "
                  "(429 rejections are retried without limit)"},
    )  # fmt: skip
    shutdown_timeout_s: float = field(
        default=30.0,
        metadata={"doc": "on stop, give up this long after close; undelivered stays unacked"},
    )

    def validate(self, path: str) -> None:
        p = f"{path}." if path else ""
        if not self.hosts:
            raise ConfigError(f"{p}hosts", "at least one host is required", self.hosts)
        for i, h in enumerate(self.hosts):
            u = urlsplit(h)
            if u.scheme not in ("http", "https") or not u.hostname:
                raise ConfigError(f"{p}hosts[{i}]", "expected http(s)://host:port", _strip(h))
        for name in ("batch_docs", "batch_bytes", "max_in_flight", "retention_days"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{p}{name}", "must be >= 1", getattr(self, name))
        if self.batch_age_s <= 0:
            raise ConfigError(f"{p}batch_age_s", "must be > 0", self.batch_age_s)
        if self.api_key and (self.username or self.password):
            raise ConfigError(f"{p}api_key", "use either api_key or username/password", "***")
        if not self.index_prefix or self.index_prefix != self.index_prefix.lower():
            raise ConfigError(f"{p}index_prefix", "must be non-empty lowercase", self.index_prefix)
        # Elasticsearch's index-name rules: a bad prefix is a config error at start-up,
        # not a 400 for every document (which would dead-letter everything).
        bad = set(self.index_prefix) & set('\\/*?"<>| ,#:')
        if bad or self.index_prefix.startswith(("-", "_", "+")):
            raise ConfigError(
                f"{p}index_prefix", "not a valid Elasticsearch index name prefix", self.index_prefix
            )

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        return redact(f"ElasticsearchOptions({shown})", self)

    def secrets(self) -> list[str]:
        out = [self.api_key, self.password]
        for h in self.hosts:
            pw = urlsplit(h).password
            if pw:
                out += [pw, unquote(pw)]
        return [s for s in out if s]


def _strip(url: str) -> str:
    """The URL without user:password@."""
    u = urlsplit(url)
    if u.username is None and u.password is None:
        return url
    host = u.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{u.port}" if u.port else host
    return urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment))


def redact(text: str, opts: ElasticsearchOptions) -> str:
    """`text` with every secret of `opts` replaced by ***."""
    for s in sorted(opts.secrets(), key=len, reverse=True):
        text = text.replace(s, "***")
    return text


class _PassThroughNdjson:
    """Serializer for `application/x-ndjson` that sends our pre-built bytes untouched.

    The transport's own NDJSON serializer copies the body and appends a newline when the
    last byte is not one — which would corrupt a gzip'd body.
    """

    mimetype = "application/x-ndjson"

    def dumps(self, data: Any) -> bytes:
        if isinstance(data, (bytes, bytearray, memoryview)):
            return bytes(data) if not isinstance(data, bytes) else data
        raise TypeError("bulk bodies must be pre-serialized bytes")

    def loads(self, data: bytes) -> Any:
        import orjson

        return [orjson.loads(line) for line in data.splitlines() if line]


def make_client(opts: ElasticsearchOptions) -> Any:
    """An `Elasticsearch` client: no transport-level retries (the sink retries itself),
    orjson for responses, pass-through NDJSON for bulk bodies."""
    from elasticsearch import Elasticsearch
    from elasticsearch.serializer import OrjsonSerializer

    username, password = opts.username, opts.password
    hosts = []
    for h in opts.hosts:
        u = urlsplit(h)
        if u.username and not username:
            username, password = unquote(u.username), unquote(u.password or "")
        hosts.append(_strip(h))
    kw: dict[str, Any] = {
        "request_timeout": opts.request_timeout_s,
        "max_retries": 0,
        "retry_on_timeout": False,
        "serializers": {
            "application/json": OrjsonSerializer(),
            "application/x-ndjson": _PassThroughNdjson(),
        },
        "connections_per_node": max(4, opts.max_in_flight + 2),
        "verify_certs": opts.verify_certs,
    }
    if opts.api_key:
        kw["api_key"] = opts.api_key
    elif username:
        kw["basic_auth"] = (username, password)
    if opts.ca_certs:
        kw["ca_certs"] = opts.ca_certs
    if opts.ssl_assert_fingerprint:
        kw["ssl_assert_fingerprint"] = opts.ssl_assert_fingerprint
    if not opts.verify_certs:
        kw["ssl_show_warn"] = False
    return Elasticsearch(hosts, **kw)


# -- command-line helpers shared by `setup`, `retention` and the benchmark -----------------


def add_connection_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Elasticsearch connection")
    g.add_argument("--es", action="append", metavar="URL", help="node URL (repeatable)")
    g.add_argument(
        "--config", "-c", metavar="FILE", help="take the options of the first elasticsearch sink"
    )
    g.add_argument("--username", help="basic auth user")
    g.add_argument(
        "--password-env", default="SHIPPERS_ES_PASSWORD", metavar="VAR",
        help="environment variable holding the password (default %(default)s)",
    )  # fmt: skip
    g.add_argument(
        "--api-key-env", default="SHIPPERS_ES_API_KEY", metavar="VAR",
        help="environment variable holding the API key (default %(default)s)",
    )  # fmt: skip
    g.add_argument("--ca-certs", metavar="PEM", help="CA bundle")
    g.add_argument("--ssl-assert-fingerprint", metavar="SHA256", help="server cert fingerprint")
    g.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    g.add_argument("--index-prefix", help="index prefix (default: shippers)")
    g.add_argument("--retention-days", type=int, help="retention window in days (default: 14)")


def options_from_args(args: argparse.Namespace) -> ElasticsearchOptions:
    """Options from `--config` (first elasticsearch sink) overridden by explicit flags."""
    from .options import build_options

    raw: dict[str, Any] = {}
    if getattr(args, "config", None):
        from .config import load_config

        cfg = load_config(args.config)
        for spec in cfg.sinks:
            if spec.type == "elasticsearch":
                raw = {f.name: getattr(spec.options, f.name) for f in fields(spec.options)}
                break
        else:
            raise ConfigError("sinks", f"{args.config} has no elasticsearch sink", None,
                              has_value=False)  # fmt: skip
    if args.es:
        raw["hosts"] = list(args.es)
    elif not raw:
        raise ConfigError("--es", "give --es URL or --config FILE", None, has_value=False)
    if args.username:
        raw["username"] = args.username
    if os.environ.get(args.password_env):
        raw["password"] = os.environ[args.password_env]
    if os.environ.get(args.api_key_env):
        raw["api_key"] = os.environ[args.api_key_env]
    if args.ca_certs:
        raw["ca_certs"] = args.ca_certs
    if args.ssl_assert_fingerprint:
        raw["ssl_assert_fingerprint"] = args.ssl_assert_fingerprint
    if args.insecure:
        raw["verify_certs"] = False
    if args.index_prefix:
        raw["index_prefix"] = args.index_prefix
    if args.retention_days is not None:
        raw["retention_days"] = args.retention_days
    return build_options(ElasticsearchOptions, raw, "elasticsearch")
