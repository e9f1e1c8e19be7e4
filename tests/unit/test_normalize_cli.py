"""`shippers normalize`: every corpus line accounted for, order kept, bad input dead-lettered."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from shippers.lines import iter_lines, open_path


def _normalize(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "shippers", "normalize", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def _count_lines(path: Path) -> int:
    with open_path(path) as s:
        return sum(1 for _ in iter_lines(s))


@pytest.mark.parametrize(
    ("fmt", "folder"), [("falcon-fdr", "crowdstrike-fdr"), ("panos", "panw-panos")]
)
def test_every_corpus_line_is_normalized_or_dead_lettered(
    corpus: Path, tmp_path: Path, fmt: str, folder: str, event_schema_check
) -> None:
    files = sorted((corpus / folder).glob("*.log"))
    dead = tmp_path / "dead.ndjson"
    res = _normalize(["--format", fmt, "--dead-letter", str(dead), *map(str, files)])
    assert res.returncode == 0, res.stderr
    docs = [json.loads(x) for x in res.stdout.splitlines()]
    letters = [json.loads(x) for x in dead.read_text().splitlines()] if dead.exists() else []
    total = sum(_count_lines(f) for f in files)
    summary = json.loads(res.stderr.splitlines()[-1])
    assert summary == {"read": total, "normalized": len(docs), "dead_lettered": len(letters)}
    assert len(docs) + len(letters) == total
    for letter in letters:
        assert letter["reason"] and "original" in letter and letter["offset"] is not None
    # input order kept: per file, offsets strictly increase
    by_file: dict[str, list[int]] = {}
    for doc in docs:
        by_file.setdefault(doc["log"]["file"]["path"], []).append(doc["log"]["offset"])
    assert set(by_file) <= {str(f) for f in files}
    for offsets in by_file.values():
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    for doc in docs:
        assert isinstance(doc.pop("_id"), str)
        event_schema_check(doc)
    # the line at log.offset is the line the document came from
    first = docs[0]
    raw = Path(first["log"]["file"]["path"]).read_bytes()
    assert raw[first["log"]["offset"] :].split(b"\n", 1)[0].strip()


def test_ids_are_deterministic_and_gzip_equals_plain(corpus: Path, tmp_path: Path) -> None:
    src = corpus / "panw-panos" / "test-panw-panos-traffic-sample.log"
    gz = tmp_path / "traffic.log.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    a = _normalize(["--format", "panos", str(src)])
    b = _normalize(["--format", "panos", str(gz)])
    docs_a = [json.loads(x) for x in a.stdout.splitlines()]
    docs_b = [json.loads(x) for x in b.stdout.splitlines()]
    assert len(docs_a) == len(docs_b) > 100
    assert [d["_id"] for d in docs_a] == [d["_id"] for d in docs_b]
    assert [d["log"]["offset"] for d in docs_a] == [d["log"]["offset"] for d in docs_b]
    assert len({d["_id"] for d in docs_a}) == len(docs_a)


def test_stdin_and_keep_original(corpus: Path) -> None:
    line = (corpus / "crowdstrike-fdr" / "test-linux.log").read_bytes().splitlines()[0]
    res = _normalize(["--format", "falcon-fdr", "--keep-original", "-"], stdin=line + b"\n")
    (doc,) = [json.loads(x) for x in res.stdout.splitlines()]
    assert doc["event"]["original"] == line.decode()
    assert doc["log"]["offset"] == 0 and "file" not in doc["log"]


def test_malformed_input_is_dead_lettered_never_crashes(tmp_path: Path) -> None:
    good = (
        b'{"event_simpleName":"ProcessRollup2","timestamp":"1700000000000",'
        b'"aid":"a1","cid":"c1","id":"i1","event_platform":"Lin"}'
    )
    bad = [
        b'{"event_simpleName":"ProcessRollup2","timest',  # truncated JSON
        bytes(range(256)).replace(b"\n", b""),  # binary garbage
        b"X" * (10 * 1024 * 1024),  # a 10 MB line
        b"[1,2,3]",
    ]
    src = tmp_path / "in.log"
    src.write_bytes(b"\n".join([good, *bad, good.replace(b'"i1"', b'"i2"')]) + b"\n")
    dead = tmp_path / "dead.ndjson"
    res = _normalize(["--format", "falcon-fdr", "--dead-letter", str(dead), str(src)])
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == 2
    letters = [json.loads(x) for x in dead.read_text().splitlines()]
    assert len(letters) == 4
    assert all(letter["reason"] for letter in letters)
    assert letters[0]["original"] == bad[0].decode()
    assert "original_b64" in letters[1]  # not UTF-8: kept as base64, not lost
    assert letters[2]["offset"] == len(good) + 1 + len(bad[0]) + 1 + len(bad[1]) + 1


def test_panos_malformed_lines(tmp_path: Path) -> None:
    src = tmp_path / "bad.log"
    src.write_bytes(
        # too few columns
        b"1,2024/01/01 00:00:00,001,TRAFFIC,end,2561,2024/01/01 00:00:00,10.0.0.1\n"
        b"1,2024/01/01 00:00:00,001,NOSUCHTYPE,x,2561,2024/01/01 00:00:00\n"
        b"\x00\x01\x02garbage\n"
    )
    dead = tmp_path / "dead.ndjson"
    res = _normalize(["--format", "panos", "--dead-letter", str(dead), str(src)])
    assert res.returncode == 0
    assert res.stdout == b""
    assert len(dead.read_text().splitlines()) == 3


def test_unreadable_file_is_an_io_error_exit(tmp_path: Path) -> None:
    res = _normalize(["--format", "panos", str(tmp_path / "missing.log")])
    assert res.returncode == 1 and b"cannot open" in res.stderr
