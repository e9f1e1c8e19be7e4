"""`shippers run` applies index retention periodically through RetentionTimer."""

from __future__ import annotations

from typing import Any

from shippers.commands.run import RetentionTimer


class _KeepsRetention:
    """A sink-shaped object recording retention calls (the Elasticsearch sink's method)."""

    name = "es"

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    def apply_retention(self) -> list[str]:
        self.calls += 1
        if self.fail:
            raise ConnectionError("cluster down")
        return []


def test_runs_at_start_then_once_per_interval() -> None:
    sink = _KeepsRetention()
    timer = RetentionTimer([sink, object()], interval_s=3600)
    timer()
    timer()
    assert sink.calls == 1
    timer._next = 0.0  # the interval elapsed
    timer()
    assert sink.calls == 2


def test_failure_is_logged_not_raised_and_other_sinks_still_run(caplog: Any) -> None:
    bad, good = _KeepsRetention(fail=True), _KeepsRetention()
    RetentionTimer([bad, good], interval_s=60)()
    assert bad.calls == good.calls == 1
    assert "retention on sink es failed" in caplog.text


def test_disabled_with_zero_interval() -> None:
    sink = _KeepsRetention()
    RetentionTimer([sink], interval_s=0)()
    assert sink.calls == 0
