"""The archive layout and the `archive` sink on a local directory (same keys as S3)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

from shippers.archive_layout import (
    ArchiveStore,
    normalized_key,
    parse_raw_key,
    partition_of,
    raw_key,
    segment_name,
    split_url,
)
from shippers.options import build_options
from shippers.plugin import Context
from shippers.record import Ack, Provenance, Record, content_id
from shippers.sinks.archive import ArchiveOptions, ArchiveSink
from shippers.sinks.dead_letter import DeadLetterSink


def test_layout_keys():
    assert split_url("s3://bkt/a/b/") == ("bkt", "a/b")
    assert partition_of({"@timestamp": "2025-04-01T11:59:59.999Z"}) == ("2025-04-01", "11")
    assert partition_of({"@timestamp": "2025-04-01T01:30:00+02:00"}) == ("2025-03-31", "23")
    assert partition_of({}) == ("1970-01-01", "00")
    name = segment_name("s3://b/k.gz", 3)
    assert name == f"{content_id('s3://b/k.gz')}-000003.ndjson.gz"
    assert normalized_key("p", "falcon", "2025-04-01", "11", name) == (
        f"p/normalized/source=falcon/dt=2025-04-01/hour=11/{name}"
    )
    when = datetime(2025, 4, 1, 11, 5, tzinfo=UTC)
    key = raw_key("arch", when, "data/x/part-0.gz")
    assert key == "arch/raw/falcon/2025/04/01/11/data/x/part-0.gz"
    assert parse_raw_key(key) == (datetime(2025, 4, 1, 11, tzinfo=UTC), "data/x/part-0.gz")
    assert parse_raw_key("data/x/part-0.gz") is None


def _records(loc: str, n: int, ack: Ack, hour: int = 11, line_len: int = 100) -> list[Record]:
    out = []
    for i in range(n):
        doc = {"@timestamp": f"2025-04-01T{hour:02d}:00:{i % 60:02d}Z", "event": {"id": str(i)}}
        ack.add()
        out.append(
            Record(
                doc,
                content_id(loc, str(i)),
                Provenance("falcon-fdr", loc, i * line_len),
                ack=ack,
                source_type="falcon",
            )
        )
    return out


def _sink(root, **over) -> ArchiveSink:
    ctx = Context(dead_letter=DeadLetterSink(root / "dl.ndjson"))
    return ArchiveSink(build_options(ArchiveOptions, {"url": str(root / "arch"), **over}, "s"), ctx)


def _objects(root) -> dict[str, list[dict]]:
    base = root / "arch"
    return {
        p.relative_to(base).as_posix(): [
            json.loads(x) for x in gzip.decompress(p.read_bytes()).splitlines()
        ]
        for p in sorted(base.rglob("*.ndjson.gz"))
    }


def test_records_are_acked_only_once_their_object_is_written(tmp_path):
    sink = _sink(tmp_path)
    ack = Ack("unit")
    recs = _records("s3://b/data/part-0.gz", 10, ack)
    sink.write(recs)
    assert ack.pending == 10 and _objects(tmp_path) == {}  # buffered, nothing acked
    sink.flush()
    assert ack.pending == 0
    ((key, docs),) = _objects(tmp_path).items()
    assert key.startswith("normalized/source=falcon/dt=2025-04-01/hour=11/")
    assert [d["_id"] for d in docs] == [r.doc_id for r in recs]
    assert docs[0]["event"] == {"id": "0"}


def test_same_input_writes_same_keys_and_content(tmp_path):
    def run(root) -> dict[str, list[dict]]:
        sink = _sink(root, segment_bytes=2048, max_open_segments=2)
        ack = Ack("u")
        for loc in ("s3://b/data/a.gz", "s3://b/data/b.gz"):
            for chunk in range(0, 60, 7):  # arbitrary batch boundaries and flushes
                sink.write(_records(loc, 60, ack, hour=11 + (chunk > 30))[chunk : chunk + 7])
                if chunk % 2:
                    sink.flush()
        sink.close()
        return _objects(root)

    first, second = run(tmp_path / "one"), run(tmp_path / "two")
    assert first == second
    assert len(first) > 4  # several segments and two hour partitions per input
    ids = [d["_id"] for docs in first.values() for d in docs]
    assert len(ids) == len(set(ids)) == 120
    assert {k.split("/")[3] for k in first} == {"hour=11", "hour=12"}


def test_reopened_segment_is_merged_not_overwritten(tmp_path):
    sink = _sink(tmp_path)
    ack = Ack("u")
    recs = _records("s3://b/data/a.gz", 20, ack)
    ack.add(-10)  # only the first 10 are written in this pass
    sink.write(recs[:10])
    sink.close()  # segment written and dropped from memory
    ack2 = Ack("redelivered")
    again = _records("s3://b/data/a.gz", 20, ack2)[5:]  # overlaps 5..9, then new ones
    ack2.add(-5)  # _records counted all 20
    sink.write(again)
    sink.close()
    (docs,) = _objects(tmp_path).values()
    assert [d["_id"] for d in docs] == [r.doc_id for r in recs]
    assert ack.pending == 0 and ack2.pending == 0


def test_stream_locations_roll_over_by_size_without_overwriting(tmp_path):
    sink = _sink(tmp_path, segment_bytes=1024)
    ack = Ack("u")
    recs = _records("tcp://10.0.0.1:514", 50, ack)
    sink.write(recs)
    sink.close()
    objs = _objects(tmp_path)
    assert len(objs) > 1
    assert sorted(d["_id"] for docs in objs.values() for d in docs) == sorted(
        r.doc_id for r in recs
    )


def test_local_store_streams_and_lists(tmp_path):
    import io

    store = ArchiveStore(str(tmp_path / "s"))
    store.upload_stream("raw/falcon/2025/04/01/11/data/x.gz", io.BytesIO(b"x" * 5000))
    store.put_bytes("raw/falcon/2025/04/01/12/data/y.gz", b"y")
    assert [o.key for o in store.list("raw/falcon/2025/04/01/1")] == [
        "raw/falcon/2025/04/01/11/data/x.gz",
        "raw/falcon/2025/04/01/12/data/y.gz",
    ]
    assert store.size_of("raw/falcon/2025/04/01/11/data/x.gz") == 5000
    assert store.size_of("nope") is None


def test_duckdb_reads_the_layout_with_hive_partitions(tmp_path):
    duckdb = __import__("pytest").importorskip("duckdb")
    sink = _sink(tmp_path)
    ack = Ack("u")
    sink.write(
        _records("s3://b/data/a.gz", 30, ack, hour=11)
        + _records("s3://b/data/b.gz", 12, ack, hour=12)
    )
    sink.close()
    pattern = str(tmp_path / "arch" / "normalized" / "**" / "*.ndjson.gz")
    rows = duckdb.sql(
        f"SELECT source, dt, hour, count(*) AS n, count(DISTINCT _id) AS ids "
        f"FROM read_json_auto('{pattern}', hive_partitioning = true) "
        f"GROUP BY ALL ORDER BY hour"
    ).fetchall()
    assert [(r[0], str(r[1]), int(r[2]), r[3], r[4]) for r in rows] == [
        ("falcon", "2025-04-01", 11, 30, 30),
        ("falcon", "2025-04-01", 12, 12, 12),
    ]


def test_fully_redelivered_unit_is_acked_without_duplicates(tmp_path):
    # A redelivered SQS message whose records are all archived already (the segment was
    # written and closed): their acks must still complete, and the object stays as it was.
    sink = _sink(tmp_path)
    ack = Ack("first")
    recs = _records("s3://b/data/a.gz", 10, ack)
    sink.write(recs)
    sink.close()
    before = _objects(tmp_path)
    again = Ack("redelivered")
    sink.write(_records("s3://b/data/a.gz", 10, again))
    sink.flush()
    assert again.pending == 0
    assert _objects(tmp_path) == before


def test_redelivery_into_an_open_segment_adds_no_second_copy(tmp_path):
    sink = _sink(tmp_path)
    first, again = Ack("first"), Ack("redelivered")
    sink.write(_records("s3://b/data/a.gz", 10, first))
    sink.flush()  # written, still open in memory
    sink.write(_records("s3://b/data/a.gz", 10, again))
    sink.flush()
    assert first.pending == 0 and again.pending == 0
    (docs,) = _objects(tmp_path).values()
    ids = [d["_id"] for d in docs]
    assert len(ids) == len(set(ids)) == 10
