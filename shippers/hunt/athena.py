"""The hunt as Athena (Trino) SQL over the archive table of `schemas/athena/`.

`shippers hunt ... --print-athena-sql` prints this instead of running the hunt, for
archives too large for one machine or for teams whose archive lives behind Athena. The
conditions are the same as the cold tier's (`query.FIELDS`, `match.py` rules): equality
for IPs, CIDR containment through Trino's IPADDRESS type, case-insensitive equality for
hashes/users/hosts, parent-domain matching for domains, scheme-less URL comparison.

The table's shape comes from the DDL when it is found (a checkout: `schemas/athena/*.sql`,
or `--athena-ddl`): its name, the partition columns (`source`, `dt`, `hour`, whatever the
DDL calls them), which ECS fields exist as columns (conditions on fields the table lacks
are left out — Athena rejects unknown columns), and whether `@timestamp` is a string or a
timestamp. Without a DDL a table named `shippers_archive.normalized` with every field is
assumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .match import strip_scheme
from .query import FIELDS, Indicator, Query

__all__ = ["TableSpec", "athena_sql", "find_ddl", "parse_ddl"]

DEFAULT_TABLE = "shippers_archive.normalized"
_SELECT = (
    "@timestamp", "_id", "event.action", "host.name", "user.name", "source.ip", "source.port",
    "destination.ip", "destination.port", "destination.domain", "process.executable",
    "file.path", "url.original", "observer.hostname",
)  # fmt: skip


@dataclass
class TableSpec:
    """What the hunt needs to know about the archive table."""

    name: str = DEFAULT_TABLE
    # ECS path → SQL expression; None = every path is assumed to exist as written
    columns: dict[str, str] | None = None
    source_col: str = "source"
    dt_col: str = "dt"
    hour_col: str = "hour"
    timestamp_type: str = "string"  # "string" (ISO 8601 text) or "timestamp"
    types: dict[str, str] = field(default_factory=dict)  # ECS path → Hive type (leaves)

    def col(self, path: str) -> str | None:
        """SQL for an ECS field, or None when the table has no such column."""
        if self.columns is None:
            return _default_expr(path)
        return self.columns.get(path)


def _quote(name: str) -> str:
    return name if re.fullmatch(r"[a-z][a-z0-9_]*", name) else '"' + name.replace('"', '""') + '"'


def _default_expr(path: str) -> str:
    return ".".join(_quote(p) for p in path.split("."))


# ---- DDL reading -------------------------------------------------------------------------


def find_ddl() -> Path | None:
    """The normalized-archive DDL of a source checkout (schemas/athena/*.sql), if present."""
    root = Path(__file__).resolve().parents[2] / "schemas" / "athena"
    if not root.is_dir():
        return None
    candidates = sorted(root.glob("*.sql"))
    for p in candidates:  # the table over normalized/, not the raw one
        text = p.read_text(encoding="utf-8")
        if "normalized" in text and re.search(r"CREATE\s+EXTERNAL\s+TABLE", text, re.I):
            return p
    return None


def _split_top(s: str, sep: str = ",") -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in s:
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur))
    return out


def _leaves(prefix: str, typ: str, out: dict[str, str]) -> None:
    t = typ.strip()
    m = re.fullmatch(r"(?is)struct\s*<(.*)>", t)
    if m:
        for member in _split_top(m.group(1)):
            name, _, sub = member.strip().partition(":")
            _leaves(f"{prefix}.{name.strip().strip('`')}", sub, out)
        return
    out[prefix] = t.lower()


def _column_defs(body: str) -> list[tuple[str, str]]:
    cols = []
    for part in _split_top(body):
        part = re.sub(r"(?is)\s+COMMENT\s+'.*'$", "", part.strip())
        m = re.match(r"(?s)\s*(`[^`]+`|\"[^\"]+\"|\w+)\s+(.+)", part)
        if m:
            cols.append((m.group(1).strip('`"'), m.group(2).strip()))
    return cols


def _paren_body(text: str, start: int) -> tuple[str, int]:
    i = text.index("(", start)
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j], j + 1
    raise ValueError("unbalanced parentheses in DDL")


def parse_ddl(text: str) -> TableSpec:
    """A TableSpec from a `CREATE EXTERNAL TABLE` over the normalized archive."""
    text = re.sub(r"--[^\n]*", "", text)
    stmts = [s for s in text.split(";") if re.search(r"CREATE\s+EXTERNAL\s+TABLE", s, re.I)]
    stmt = next((s for s in stmts if "normalized" in s), stmts[0] if stmts else "")
    m = re.search(r"(?is)CREATE\s+EXTERNAL\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([`\"\w.]+)", stmt)
    if not m:
        raise ValueError("no CREATE EXTERNAL TABLE in the DDL")
    name = m.group(1).replace("`", "").replace('"', "")
    body, end = _paren_body(stmt, m.end())
    columns = _column_defs(body)
    parts: list[tuple[str, str]] = []
    pm = re.search(r"(?is)PARTITIONED\s+BY", stmt[end:])
    if pm:
        pbody, _ = _paren_body(stmt, end + pm.end())
        parts = _column_defs(pbody)
    # JSON SerDe renames: 'mapping.<column>'='<json key>'
    mapping = {
        col.lower(): key
        for col, key in re.findall(r"'mapping\.([^']+)'\s*=\s*'([^']+)'", stmt, re.I)
    }
    exprs: dict[str, str] = {}
    types: dict[str, str] = {}
    for col, typ in columns:
        leaves: dict[str, str] = {}
        key = mapping.get(col.lower(), col)
        _leaves(key, typ, leaves)
        for path, t in leaves.items():
            rest = path[len(key) :]
            exprs[path] = _quote(col) + "".join(f".{_quote(p)}" for p in rest.split(".") if p)
            types[path] = t
    pnames = [p for p, _ in parts]
    dt_col = next((p for p in pnames if p.lower() in ("dt", "day", "date")), "dt")
    hour_col = next((p for p in pnames if p.lower() in ("hour", "hr", "h")), "hour")
    source_col = next((p for p in pnames if p not in (dt_col, hour_col)), "source")
    ts_type = types.get("@timestamp", "string")
    return TableSpec(
        name=name,
        columns=exprs,
        source_col=source_col,
        dt_col=dt_col,
        hour_col=hour_col,
        timestamp_type="timestamp" if ts_type.startswith("timestamp") else "string",
        types=types,
    )


# ---- SQL generation ----------------------------------------------------------------------


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _cond(ind: Indicator, expr: str, is_array: bool) -> str:
    kind, v = ind.kind, ind.value.strip()
    x = "x" if is_array else expr
    if kind == "ip":
        c = f"{x} = {_lit(v)}"
        return f"contains({expr}, {_lit(v)})" if is_array else c
    if kind == "cidr":
        c = f"contains({_lit(v)}, TRY_CAST({x} AS IPADDRESS))"
    elif kind == "domain":
        d = v.lower().rstrip(".")
        c = f"(lower({x}) = {_lit(d)} OR lower({x}) LIKE {_lit('%.' + d)})"
    elif kind == "url":
        c = f"regexp_replace(lower({x}), '^[a-z][a-z0-9+.-]*://', '') = {_lit(strip_scheme(v))}"
    else:  # hash, user, host
        c = f"lower({x}) = {_lit(v.lower())}"
    return f"any_match({expr}, x -> {c})" if is_array else c


def _partition_terms(q: Query, t: TableSpec) -> list[str]:
    terms = [f"{_quote(t.source_col)} IN ({', '.join(_lit(s) for s in q.sources)})"]
    dt, hour = _quote(t.dt_col), _quote(t.hour_col)
    if q.since is not None:
        d, h = q.since.strftime("%Y-%m-%d"), q.since.strftime("%H")
        terms.append(f"({dt} > {_lit(d)} OR ({dt} = {_lit(d)} AND {hour} >= {_lit(h)}))")
    if q.until is not None:
        d, h = q.until.strftime("%Y-%m-%d"), q.until.strftime("%H")
        terms.append(f"({dt} < {_lit(d)} OR ({dt} = {_lit(d)} AND {hour} <= {_lit(h)}))")
    return terms


def _time_terms(q: Query, t: TableSpec) -> list[str]:
    ts = t.col("@timestamp")
    if ts is None:
        return []
    col = ts if t.timestamp_type == "timestamp" else f"from_iso8601_timestamp({ts})"
    out = []
    for op, when in ((">=", q.since), ("<=", q.until)):
        if when is not None:
            iso = when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            out.append(f"{col} {op} from_iso8601_timestamp({_lit(iso)})")
    return out


def athena_sql(q: Query, *, table: str | None = None, spec: TableSpec | None = None) -> str:
    """One SELECT for the query's indicators, newest DDL semantics, Athena engine v3."""
    if spec is None:
        ddl = find_ddl()
        spec = parse_ddl(ddl.read_text(encoding="utf-8")) if ddl else TableSpec()
    if table:
        spec.name = table
    matches: list[str] = []
    for ind in q.indicators:
        for path in FIELDS[ind.kind]:
            is_array = path.endswith("[]")
            expr = spec.col(path.removesuffix("[]"))
            if expr is not None:
                matches.append(_cond(ind, expr, is_array))
    if not matches:
        raise ValueError("the archive table has none of the fields this hunt searches")
    aliases = {"@timestamp": "event_time", "_id": "doc_id"}
    select = [
        f"{expr} AS {aliases.get(p, p.replace('.', '_'))}"
        for p in _SELECT
        if (expr := spec.col(p)) is not None
    ]
    select.append(f"{_quote(spec.source_col)} AS log_source")
    select_sql = ",\n       ".join(select)
    where = _partition_terms(q, spec) + _time_terms(q, spec)
    match_sql = "\n    OR ".join(matches)
    desc = ", ".join(f"{i.kind} {i.value}" for i in q.indicators)
    ts = spec.col("@timestamp")
    order = f"\nORDER BY {ts}" if ts else ""
    return (
        f"-- shippers hunt: {desc}\n"
        f"SELECT {select_sql}\n"
        f"FROM {spec.name}\n"
        f"WHERE {' AND '.join(where)}\n"
        f"  AND (\n    {match_sql}\n  ){order}\n"
    )


def duckdb_compat(con: Any) -> None:
    """Make a DuckDB connection accept the Trino functions this SQL uses (for tests/local)."""
    con.execute("SET lambda_syntax = 'ENABLE_SINGLE_ARROW'")
    con.execute("CREATE OR REPLACE MACRO any_match(l, f) AS list_bool_or(list_transform(l, f))")
    con.execute("CREATE OR REPLACE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)")
