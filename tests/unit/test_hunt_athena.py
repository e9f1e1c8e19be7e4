"""`--print-athena-sql`: the emitted SQL parses with DuckDB's parser, and — run on DuckDB
against a local archive through a view with the DDL's columns — finds the same documents
as the cold tier.

The DDL is `schemas/athena/*.sql` when the checkout has it (the table the FDR/archive work
ships); otherwise a DDL of the same shape written here stands in.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from shippers.hunt import ColdArchive, Indicator, Query
from shippers.hunt.athena import _split_top, athena_sql, duckdb_compat, find_ddl, parse_ddl
from shippers.hunt.cold import search_cold
from tests.unit.test_hunt_support import SHARED_IP, demo_records, write_layout

STAND_IN_DDL = """
CREATE EXTERNAL TABLE IF NOT EXISTS shippers_archive.normalized (
  `_id` string,
  `@timestamp` string,
  event struct<action:string, category:array<string>, kind:string>,
  host struct<name:string, hostname:string, id:string, ip:array<string>>,
  user struct<name:string, domain:string, target:struct<name:string>>,
  src struct<ip:string, port:bigint, domain:string, nat:struct<ip:string, port:bigint>,
             user:struct<name:string>>,
  destination struct<ip:string, port:bigint, domain:string, nat:struct<ip:string, port:bigint>,
                     user:struct<name:string>>,
  related struct<ip:array<string>, user:array<string>, hash:array<string>, hosts:array<string>>,
  dns struct<question:struct<name:string>, resolved_ip:array<string>>,
  url struct<original:string, full:string, domain:string>,
  process struct<executable:string, name:string,
                 hash:struct<md5:string, sha1:string, sha256:string>>,
  file struct<path:string, hash:struct<md5:string, sha1:string, sha256:string>>,
  observer struct<name:string, hostname:string>
)
PARTITIONED BY (log_source string, dt string, hour string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json'='true', 'mapping.src'='source')
LOCATION 's3://archive-bucket/prefix/normalized/'
TBLPROPERTIES (
  'projection.enabled'='true',
  'storage.location.template'='s3://archive-bucket/prefix/normalized/source=${log_source}/dt=${dt}/hour=${hour}'
);
"""

DDL_TEXT = find_ddl().read_text() if find_ddl() else STAND_IN_DDL
SPEC = parse_ddl(DDL_TEXT)

CASES = [
    Indicator("ip", SHARED_IP),
    Indicator("ip", "192.0.2.10"),
    Indicator("domain", "badcdn.example"),
    Indicator("hash", "DE96A6E69944335375DC1AC238336066889D9FFC7D73628EF4FE1B1B160AB32C"),
    Indicator("user", "JDoe"),
    Indicator("host", "wkstn-0142"),
    Indicator("url", "http://telemetry.badcdn.example/"),
]
WINDOW = {
    "since": datetime(2024, 5, 14, 9, 15, tzinfo=UTC),
    "until": datetime(2024, 5, 14, 9, 20, tzinfo=UTC),
}


@pytest.mark.parametrize("ind", [*CASES, Indicator("cidr", "203.0.113.0/24")], ids=str)
@pytest.mark.parametrize("windowed", [False, True])
def test_sql_parses_with_duckdb(ind: Indicator, windowed: bool) -> None:
    sql = athena_sql(Query([ind], **(WINDOW if windowed else {})), spec=SPEC)
    assert len(duckdb.extract_statements(sql)) == 1
    parsed = duckdb.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()[0]
    assert '"error":false' in parsed, parsed
    assert SPEC.name in sql


def test_ddl_is_understood() -> None:
    assert SPEC.dt_col and SPEC.hour_col and SPEC.source_col
    assert SPEC.col("related.ip") is not None
    assert SPEC.col("@timestamp") is not None
    stand_in = parse_ddl(STAND_IN_DDL)
    assert stand_in.name == "shippers_archive.normalized"
    assert stand_in.col("source.ip") == "src.ip"  # the SerDe mapping renames the column
    assert stand_in.col("source.nat.ip") == "src.nat.ip"
    assert stand_in.col("tls.client.server_name") is None  # not in the table: left out
    assert stand_in.source_col == "log_source"
    assert stand_in.types["related.ip"] == "array<string>"


def test_fields_missing_from_the_table_are_left_out() -> None:
    sql = athena_sql(Query([Indicator("domain", "badcdn.example")]), spec=parse_ddl(STAND_IN_DDL))
    assert "tls" not in sql and "dns.question.name" in sql


# ---- run the SQL on DuckDB over the local archive ----------------------------------------

_SCALARS = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "integer": "INTEGER",
            "double": "DOUBLE", "float": "FLOAT", "boolean": "BOOLEAN", "timestamp": "TIMESTAMP",
            "date": "DATE", "smallint": "SMALLINT", "tinyint": "TINYINT"}  # fmt: skip


def hive_to_duckdb(t: str) -> str:
    t = t.strip()
    m = re.fullmatch(r"(?is)(array|struct|map)\s*<(.*)>", t)
    if not m:
        base = t.lower().split("(")[0]
        return "DECIMAL" + t[len(base) :] if base == "decimal" else _SCALARS[base]
    kind, inner = m.group(1).lower(), m.group(2)
    if kind == "array":
        return hive_to_duckdb(inner) + "[]"
    if kind == "map":
        k, v = _split_top(inner)
        return f"MAP({hive_to_duckdb(k)}, {hive_to_duckdb(v)})"
    members = []
    for member in _split_top(inner):
        name, _, sub = member.strip().partition(":")
        members.append(f'"{name.strip().strip("`")}" {hive_to_duckdb(sub)}')
    return f"STRUCT({', '.join(members)})"


def athena_view(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """The DDL's table as a DuckDB view over the local archive (same columns and types)."""
    from shippers.hunt.athena import _column_defs, _paren_body

    stmt = re.sub(r"--[^\n]*", "", DDL_TEXT)
    m = re.search(r"(?is)CREATE\s+EXTERNAL\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?[`\"\w.]+", stmt)
    assert m
    body, _ = _paren_body(stmt, m.end())
    mapping = {c.lower(): k for c, k in re.findall(r"'mapping\.([^']+)'\s*=\s*'([^']+)'", stmt)}
    cols = _column_defs(body)
    json_cols = {mapping.get(c.lower(), c): hive_to_duckdb(t) for c, t in cols}
    select = [f'"{mapping.get(c.lower(), c)}" AS "{c}"' for c, _ in cols]
    for part, rx in ((SPEC.source_col, "source"), (SPEC.dt_col, "dt"), (SPEC.hour_col, "hour")):
        select.append(f"regexp_extract(filename, '/{rx}=([^/]+)/', 1) AS \"{part}\"")
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in json_cols.items()) + "}"
    schema, _, _table = SPEC.name.rpartition(".")
    if schema:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute(
        f"CREATE VIEW {SPEC.name} AS SELECT {', '.join(select)} FROM read_json("
        f"'{root}/normalized/*/*/*/*.ndjson.gz', format='newline_delimited', "
        f"columns={columns}, filename=true, hive_partitioning=false)"
    )


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("athena-archive")
    write_layout(root, demo_records())
    return root


@pytest.mark.parametrize("ind", CASES, ids=str)
@pytest.mark.parametrize("windowed", [False, True])
def test_sql_runs_on_duckdb_and_agrees_with_the_cold_tier(
    archive: Path, ind: Indicator, windowed: bool
) -> None:
    q = Query([ind], **(WINDOW if windowed else {}))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    duckdb_compat(con)
    athena_view(con, archive)
    rows = con.execute(athena_sql(q, spec=SPEC)).fetchall()
    cols = [d[0] for d in con.description]
    ids = {r[cols.index("doc_id")] for r in rows}
    cold = {h.id for h in search_cold(q, ColdArchive(str(archive)))}
    assert ids == cold
    if ind.value == SHARED_IP and not windowed:
        assert {r[cols.index("log_source")] for r in rows} == {"falcon", "panos"}
