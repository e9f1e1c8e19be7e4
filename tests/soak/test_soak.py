"""The soak as a pytest test (marker `soak`, excluded from the default run by addopts).

    python -m pytest -m soak tests/soak

Runs `python -m tests.soak.run_soak --size small` as a subprocess (it starts and stops its
own servers) and asserts on its one-line JSON verdict.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.soak]

ROOT = Path(__file__).resolve().parents[2]


def test_small_soak_loses_and_duplicates_nothing(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "tests.soak.run_soak", "--size", "small", "--seed", "3",
         "--workdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no verdict line:\n{res.stdout}\n{res.stderr[-5000:]}"
    verdict = json.loads(lines[-1])
    report = f"{verdict}\n{res.stderr[-5000:]}"
    assert verdict["verdict"] == "pass", report
    assert verdict["lost"] == 0 and verdict["duplicated"] == 0, report
    assert verdict["delivered"] + verdict["dead_lettered"] == verdict["events"], report
    assert verdict["archive_ok"] and verdict["metrics_agree"], report
    for fault in ("sigkill", "es_restart", "bulk_429_requests", "s3_503", "s3_truncated",
                  "duplicate_sqs", "poison_message", "malformed_lines", "gzip_bomb"):  # fmt: skip
        assert verdict["faults_injected"].get(fault, 0) >= 1, (fault, report)
    assert res.returncode == 0, report
