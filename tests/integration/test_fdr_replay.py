"""`shippers replay` re-ships raw archive objects (or the FDR bucket) through the pipeline."""

from __future__ import annotations

import json

import pytest

from shippers.cli import main
from tests.integration.test_fdr_support import (
    Env,
    aidmaster_lines,
    corpus_lines,
    expected_ids,
    gz,
    host_name_for,
    start_run,
)

pytestmark = [pytest.mark.s3, pytest.mark.sqs]


def _config(tmp_path, env: Env, out) -> str:
    src = env.source_options()
    lines = [
        f"state_dir = {json.dumps(str(tmp_path / 'replay-state'))}",
        "[dead_letter]",
        f"path = {json.dumps(str(tmp_path / 'replay-dl.ndjson'))}",
        "[[sources]]",
        'type = "falcon-fdr"',
        *(f"{k} = {json.dumps(v)}" for k, v in src.items()),
        "[[sinks]]",
        'type = "ndjson"',
        f"path = {json.dumps(str(out))}",
    ]
    p = tmp_path / "replay.toml"
    p.write_text("\n".join(lines) + "\n")
    return str(p)


def _ids(path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(ln)["_id"] for ln in path.read_text().splitlines() if ln.strip()]


def test_replay_from_raw_archive_and_from_bucket(env, tmp_path):
    lines = corpus_lines("test-windows-a.log") + corpus_lines("test-linux.log")
    files = [
        env.put("data/r/part-0.gz", gz(lines)),
        env.put("fdrv2/aidmaster/r/part-0.gz", gz(aidmaster_lines(lines))),
    ]
    env.send_fdr(files)
    run = start_run(tmp_path / "live", env.source_options(), [])
    run.wait(lambda: env.queue_counts() == (0, 0) and len(env.keys(env.archive_bucket)) == 2)
    run.stop()
    (data_key,) = [k for k in env.keys(env.archive_bucket, "fdr/raw/") if "/data/" in k]
    hour = "/".join(data_key.split("/")[3:7])  # YYYY/MM/DD/HH of the raw layout
    want = expected_ids(lines)

    out = tmp_path / "out.ndjson"
    cfg = _config(tmp_path, env, out)
    archive = f"s3://{env.archive_bucket}/fdr"
    assert main(["replay", "--config", cfg, "--from-archive", archive]) == 0
    ids = _ids(out)
    assert sorted(ids) == sorted(want)
    docs = [json.loads(ln) for ln in out.read_text().splitlines()]
    # The lookup object of the range was loaded first: events are enriched on replay too.
    assert all(d["host"]["name"] for d in docs)
    assert any(d["host"]["name"] == host_name_for(d["host"]["id"]) for d in docs)
    # Provenance is the raw archive copy, the same location the live run recorded.
    assert {d["log"]["file"]["path"] for d in docs} == {f"s3://{env.archive_bucket}/{data_key}"}

    out.unlink()
    y, m, d, h = (int(x) for x in hour.split("/"))
    assert (
        main(
            [
                "replay",
                "--config",
                cfg,
                "--from-archive",
                archive,
                "--since",
                f"{y:04d}-{m:02d}-{d:02d}T{h + 1:02d}" if h < 23 else "2999-01-01",
            ]
        )
        == 0
    )
    assert _ids(out) == []  # the time range excludes the only hour
    assert (
        main(
            [
                "replay",
                "--config",
                cfg,
                "--from-archive",
                archive,
                "--prefix",
                f"raw/falcon/{hour}/data",
            ]
        )
        == 0
    )
    assert sorted(_ids(out)) == sorted(want)

    out.unlink()
    assert (
        main(
            [
                "replay",
                "--config",
                cfg,
                "--from-bucket",
                f"s3://{env.src_bucket}",
                "--prefix",
                "data/",
            ]
        )
        == 0
    )
    assert sorted(_ids(out)) == sorted(want)
