"""The cold tier: DuckDB over the normalized archive (local directory or S3).

Archive layout (fixed, shared with `shippers/sinks/archive.py` and the Athena DDL):
`<root>/normalized/source=<falcon|panos>/dt=YYYY-MM-DD/hour=HH/<name>.ndjson.gz`, one ECS
document per line with its deterministic id under `_id`.

Each line is read as an opaque JSON value (`read_json_objects`), not through an inferred
schema: years of archive written by several shipper versions do not share one schema, and
inference over thousands of files is both slow and brittle. The `source`/`dt`/`hour` path
segments are Hive partition columns, and the WHERE clause on them lets DuckDB skip whole
files (partition pruning) before reading a byte.

Matching is an equi-join of per-document "observables" (`kind:value` strings, built from
`query.FIELDS`) against the indicator list, so a sweep of thousands of indicators costs
one scan, not one scan per indicator. Domains expand to their parent domains first, so a
domain indicator matches its subdomains with the same equi-join.

S3: through DuckDB's httpfs extension when it is installed (endpoint override for
MinIO/SeaweedFS/LocalStack); when it is not (offline hosts), the pruned partitions are
fetched with boto3 into a temporary directory and queried there — the same SQL either way.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson

from .match import Matcher
from .merge import Hit
from .query import FIELDS, Query

__all__ = ["ColdArchive", "observables_sql", "partition_filter", "search_cold"]

log = logging.getLogger("shippers.hunt.cold")

# The archive partitions by the document's own `@timestamp` in UTC
# (`archive_layout.partition_of`), so the partition window equals the event window. The
# slack is a knob for archives written by tools that partition by arrival time instead.
UNTIL_SLACK = timedelta(0)
_HIVE_TYPES = "{'source': 'VARCHAR', 'dt': 'VARCHAR', 'hour': 'VARCHAR'}"


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _field_list(path: str) -> str:
    """SQL for a list of the string values of one ECS field of JSON column `j`."""
    if path.endswith("[]"):
        return f"json_extract_string(j, '$.{path[:-2]}[*]')"
    return f"[json_extract_string(j, '$.{path}')]"


def observables_sql(kinds: set[str]) -> str:
    """SQL list expression of `kind:value` tags for the given indicator kinds.

    Must agree with `Matcher.key`: lower-case for case-insensitive kinds, scheme stripped
    for URLs, parent domains for domains. IPs are compared as written (normalizers emit
    canonical forms); the Python matcher re-checks every candidate anyway.
    """
    parts = []
    for kind in sorted(kinds):
        if kind == "cidr":
            continue  # resolved to concrete addresses first (see `_resolve_cidrs`)
        vals = (
            "list_filter(list_concat("
            + ", ".join(_field_list(p) for p in FIELDS[kind])
            + "), lambda x: x IS NOT NULL AND x <> '')"
        )
        if kind == "ip":
            expr = f"list_transform({vals}, lambda x: 'ip:' || x)"
        elif kind == "url":
            expr = (
                f"list_transform({vals}, lambda x: 'url:' || "
                "regexp_replace(lower(x), '^[a-z][a-z0-9+.-]{0,8}://', ''))"
            )
        elif kind == "domain":
            # every parent domain of at least two labels: a.b.c → a.b.c, b.c
            expr = (
                f"flatten(list_transform({vals}, lambda x: list_transform("
                "range(1, greatest(len(string_split(rtrim(lower(x), '.'), '.')), 2)), "
                "lambda i: 'domain:' || array_to_string("
                "string_split(rtrim(lower(x), '.'), '.')[i:], '.'))))"
            )
        else:
            expr = f"list_transform({vals}, lambda x: '{kind}:' || lower(x))"
        parts.append(expr)
    return "list_concat(" + ", ".join(parts) + ")" if parts else "[]::VARCHAR[]"


def partition_filter(q: Query) -> str:
    """WHERE terms on the Hive partition columns: sources, days and hours in the window."""
    terms = ["source IN (" + ", ".join(_sql_str(s) for s in q.sources) + ")"]
    if q.since is not None:
        d, h = q.since.strftime("%Y-%m-%d"), q.since.strftime("%H")
        terms.append(f"(dt > '{d}' OR (dt = '{d}' AND hour >= '{h}'))")
    if q.until is not None:
        u = q.until + UNTIL_SLACK
        d, h = u.strftime("%Y-%m-%d"), u.strftime("%H")
        terms.append(f"(dt < '{d}' OR (dt = '{d}' AND hour <= '{h}'))")
    return " AND ".join(terms)


def time_filter(q: Query) -> str:
    """WHERE terms on the document's own `@timestamp` (exact window, after pruning)."""
    ts = "TRY_CAST(json_extract_string(j, '$.\"@timestamp\"') AS TIMESTAMPTZ)"
    terms = []
    if q.since is not None:
        terms.append(f"{ts} >= TIMESTAMPTZ '{q.since.isoformat()}'")
    if q.until is not None:
        terms.append(f"{ts} <= TIMESTAMPTZ '{q.until.isoformat()}'")
    return " AND ".join(terms) or "TRUE"


@dataclass
class ColdArchive:
    """An archive root: a local directory, `file://` URL, or `s3://bucket/prefix`."""

    url: str
    s3_endpoint: str | None = None  # e.g. http://127.0.0.1:8333; default $AWS_ENDPOINT_URL

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    def glob(self, root: str | None = None) -> str:
        base = (root or self.url.removeprefix("file://")).rstrip("/")
        return f"{base}/normalized/source=*/dt=*/hour=*/*.ndjson.gz"

    @contextmanager
    def connect(self, q: Query) -> Iterator[tuple[Any, str]]:
        """A DuckDB connection and the file glob to read, local or S3."""
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        try:
            if not self.is_s3:
                yield con, self.glob()
                return
            if _load_httpfs(con):
                _s3_secret(con, self._endpoint())
                yield con, self.glob()
                return
            log.warning(
                "DuckDB httpfs extension not installed (run `INSTALL httpfs` once); "
                "fetching the pruned archive partitions with boto3"
            )
            with tempfile.TemporaryDirectory(prefix="shippers-hunt-") as tmp:
                fetch_partitions(self.url, q, Path(tmp), endpoint=self._endpoint())
                yield con, self.glob(tmp)
        finally:
            con.close()

    def _endpoint(self) -> str | None:
        return (
            self.s3_endpoint
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
        )


def _load_httpfs(con: Any) -> bool:
    try:
        con.execute("LOAD httpfs")
        return True
    except Exception:
        return False


def _s3_secret(con: Any, endpoint: str | None) -> None:
    """Credentials from the standard AWS chain; endpoint override for S3-compatible stores."""
    import boto3

    session = boto3.Session()
    creds = session.get_credentials()
    opts = ["TYPE s3", f"REGION {_sql_str(session.region_name or 'us-east-1')}"]
    if creds is not None:
        frozen = creds.get_frozen_credentials()
        opts += [
            f"KEY_ID {_sql_str(str(frozen.access_key))}",
            f"SECRET {_sql_str(str(frozen.secret_key))}",
        ]
        if frozen.token:
            opts.append(f"SESSION_TOKEN {_sql_str(str(frozen.token))}")
    if endpoint:
        u = urlparse(endpoint)
        opts += [
            f"ENDPOINT {_sql_str(u.netloc or u.path)}",
            "URL_STYLE 'path'",
            f"USE_SSL {'true' if u.scheme == 'https' else 'false'}",
        ]
    con.execute(f"CREATE OR REPLACE SECRET shippers_hunt ({', '.join(opts)})")


def _keep_partition(q: Query, dt: str, hour: str | None) -> bool:
    """The Python twin of `partition_filter`, for pruning S3 listings."""
    if q.since is not None:
        d = q.since.strftime("%Y-%m-%d")
        if dt < d or (hour is not None and dt == d and hour < q.since.strftime("%H")):
            return False
    if q.until is not None:
        u = q.until + UNTIL_SLACK
        d = u.strftime("%Y-%m-%d")
        if dt > d or (hour is not None and dt == d and hour > u.strftime("%H")):
            return False
    return True


def fetch_partitions(url: str, q: Query, dest: Path, *, endpoint: str | None = None) -> int:
    """Download the archive objects inside the query window into `dest` (same layout).

    Lists with a delimiter level by level (source → dt → hour), so pruned days are never
    listed object by object. Returns the number of objects fetched.
    """
    import boto3

    u = urlparse(url)
    bucket, prefix = u.netloc, u.path.strip("/")
    s3 = boto3.client("s3", endpoint_url=endpoint)
    base = f"{prefix}/normalized/" if prefix else "normalized/"

    def subdirs(pfx: str) -> Iterator[str]:
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=pfx, Delimiter="/"
        ):
            for cp in page.get("CommonPrefixes", []):
                yield cp["Prefix"]

    n = 0
    for source in q.sources:
        for dt_pfx in subdirs(f"{base}source={source}/"):
            dt = dt_pfx.rstrip("/").rsplit("dt=", 1)[-1]
            if not _keep_partition(q, dt, None):
                continue
            for hour_pfx in subdirs(dt_pfx):
                hour = hour_pfx.rstrip("/").rsplit("hour=", 1)[-1]
                if not _keep_partition(q, dt, hour):
                    continue
                for page in s3.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=hour_pfx
                ):
                    for obj in page.get("Contents", []):
                        key = obj["Key"]
                        target = dest / "normalized" / key[len(base) :]
                        target.parent.mkdir(parents=True, exist_ok=True)
                        s3.download_file(bucket, key, str(target))
                        n += 1
    return n


def _resolve_cidrs(con: Any, src: str, q: Query, where: str) -> dict[str, set[str]]:
    """Addresses in the window that fall into a CIDR indicator: {address: {cidr, ...}}.

    CIDR containment is not an equi-join; the distinct addresses of the window are few
    compared with the documents, so they are matched here and then joined exactly.
    """
    nets = [
        (ipaddress.ip_network(i.value, strict=False), i.value)
        for i in q.indicators
        if i.kind == "cidr"
    ]
    if not nets:
        return {}
    ips = observables_sql({"ip"})
    rows = con.execute(
        f"SELECT DISTINCT substr(unnest({ips}), 4) FROM {src} WHERE {where}"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for (raw,) in rows:
        try:
            addr = ipaddress.ip_address(raw)
        except ValueError:
            continue
        for net, text in nets:
            if addr.version == net.version and addr in net:
                out.setdefault(raw, set()).add(text)
    return out


def search_cold(q: Query, archive: ColdArchive) -> list[Hit]:
    """Every archived document in the window that matches one of the query's indicators."""
    if not q.indicators or not q.sources:
        return []
    matcher = Matcher(q.indicators)
    with archive.connect(q) as (con, glob):
        src = (
            f"read_json_objects({_sql_str(glob)}, format='newline_delimited', "
            f"hive_partitioning=true, hive_types={_HIVE_TYPES}) t(j)"
        )
        where = f"{partition_filter(q)} AND {time_filter(q)}"
        try:
            tags = {f"{i.kind}:{Matcher.key(i.kind, i.value)}" for i in q.indicators}
            tags |= {f"ip:{addr}" for addr in _resolve_cidrs(con, src, q, where)}
        except Exception as e:
            if _no_files(e):
                return []
            raise
        kinds = {i.kind for i in q.indicators} | ({"ip"} if "cidr" in matcher.kinds else set())
        con.execute("CREATE TEMP TABLE ind (tag VARCHAR PRIMARY KEY)")
        con.executemany("INSERT INTO ind VALUES (?)", [[t] for t in sorted(tags)])
        sql = f"""
            SELECT id, any_value(j)::VARCHAR, any_value(source)
            FROM (
                SELECT json_extract_string(j, '$._id') AS id, j, source,
                       unnest({observables_sql(kinds)}) AS tag
                FROM {src}
                WHERE {where}
            ) AS obs
            WHERE tag IN (SELECT tag FROM ind)
            GROUP BY id
            LIMIT {int(q.limit)}
        """
        try:
            rows = con.execute(sql).fetchall()
        except Exception as e:
            if _no_files(e):
                return []
            raise
    hits = []
    for doc_id, text, source in rows:
        doc = orjson.loads(text)
        matched = matcher.match(doc)
        if not matched:  # SQL narrowed, the matcher decides (e.g. non-canonical IPv6)
            continue
        doc.pop("_id", None)
        hits.append(
            Hit(
                id=doc_id or "",
                timestamp=str(doc.get("@timestamp", "")),
                source=source,
                doc=doc,
                tiers={"cold"},
                matched=set(matched),
            )
        )
    return hits


def _no_files(e: Exception) -> bool:
    """An empty or missing archive is no hits, not an error."""
    return "No files found" in str(e)
