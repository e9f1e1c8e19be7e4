"""Checkpoint stores (atomic local file, S3) and the contiguous-offset tracker."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

import pytest

from shippers.checkpoint import (
    CheckpointError,
    FileCheckpoint,
    OffsetTracker,
    S3Checkpoint,
    open_checkpoint,
)


def test_file_checkpoint_round_trip_leaves_no_temp_files(tmp_path):
    cp = FileCheckpoint(tmp_path / "sub" / "offsets.json")
    assert cp.load() == {}
    cp.save({"0": 41, "3": 7})
    cp.save({"0": 42, "3": 7})
    assert cp.load() == {"0": 42, "3": 7}
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["offsets.json"]


def test_file_checkpoint_failed_replace_cleans_up_its_temp_file(tmp_path):
    target = tmp_path / "offsets.json"
    target.mkdir()  # rename onto a non-empty directory fails
    (target / "keep").write_text("x")
    with pytest.raises(OSError):
        FileCheckpoint(target).save({"0": 6})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["offsets.json"]
    assert (target / "keep").read_text() == "x"


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"version":1}', b'{"version":1,"offsets":{"0":"12"}}', b"[]"],
)
def test_unreadable_checkpoint_is_an_error_not_a_fresh_start(tmp_path, content):
    path = tmp_path / "offsets.json"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="backlog"):
        FileCheckpoint(path).load()


def test_open_checkpoint_picks_the_store(tmp_path):
    assert isinstance(open_checkpoint(str(tmp_path / "x.json")), FileCheckpoint)
    with pytest.raises(CheckpointError):
        S3Checkpoint("s3://bucket-without-key", client=object())


class MemoryStore:
    """A real in-process store (the Protocol's simplest implementation), recording saves."""

    location = "memory"

    def __init__(self, initial: Mapping[str, int] | None = None, fail: bool = False):
        self.data = dict(initial or {})
        self.saves: list[dict[str, int]] = []
        self.fail = fail

    def load(self) -> dict[str, int]:
        return dict(self.data)

    def save(self, offsets: Mapping[str, int]) -> None:
        if self.fail:
            raise OSError("disk full")
        self.data = dict(offsets)
        self.saves.append(dict(offsets))


def test_tracker_checkpoints_only_the_contiguous_delivered_prefix():
    store = MemoryStore()
    t = OffsetTracker(store)
    a, b, c = t.track("0", 9), t.track("0", 19), t.track("0", 29)
    t.settle(c)
    t.settle(b)
    assert t.committed("0") is None and store.saves == []  # 0..9 still undelivered
    assert t.in_flight("0") == 1
    t.settle(a)
    assert t.committed("0") == 29
    assert store.data == {"0": 29}
    assert t.in_flight("0") == 0


def test_tracker_partitions_are_independent_and_resume_from_the_store():
    store = MemoryStore({"1": 100})
    t = OffsetTracker(store)
    assert t.committed("1") == 100
    slow = t.track("1", 150)
    t.settle(t.track("2", 7))
    assert store.data == {"1": 100, "2": 7}
    t.settle(slow)
    assert store.data == {"1": 150, "2": 7}


def test_tracker_failed_batch_pins_the_watermark_until_forgotten():
    store = MemoryStore()
    t = OffsetTracker(store)
    first, bad, after = t.track("0", 1), t.track("0", 2), t.track("0", 3)
    t.settle(first)
    t.settle(bad, failed=True)
    t.settle(after)
    assert t.committed("0") == 1
    assert t.has_failed("0") and t.in_flight("0") == 1  # the failed one
    t.forget_failed("0")
    assert not t.has_failed("0") and t.in_flight("0") == 0
    t.settle(t.track("0", 3))  # re-read and delivered this time
    assert t.committed("0") == 3


def test_tracker_batches_without_offsets_do_not_move_it():
    store = MemoryStore()
    t = OffsetTracker(store)
    t.settle(t.track("0", None))
    assert t.committed("0") is None and store.saves == []
    t.settle(t.track("0", 4))
    t.settle(t.track("0", None))
    assert t.committed("0") == 4


def test_tracker_save_interval_tick_and_flush():
    store = MemoryStore()
    saved = []
    t = OffsetTracker(store, min_save_interval_s=3600, on_saved=saved.append)
    t.settle(t.track("0", 1))  # first advance saves: nothing was saved yet
    t.settle(t.track("0", 2))
    t.tick()
    assert store.data == {"0": 1}  # throttled
    t.flush()
    assert store.data == {"0": 2}
    assert saved == [{"0": 1}, {"0": 2}]
    t.flush()
    assert len(store.saves) == 2  # nothing new: no write


def test_tracker_save_failure_is_retried_not_raised():
    store = MemoryStore(fail=True)
    t = OffsetTracker(store)
    t.settle(t.track("0", 5))  # must not raise into the delivering thread
    assert store.saves == []
    store.fail = False
    t.flush()
    assert store.data == {"0": 5}


def test_wait_settled_wakes_on_settle_and_honours_cancel():
    t = OffsetTracker(MemoryStore())
    e = t.track("0", 1)
    threading.Timer(0.05, t.settle, args=(e,)).start()
    assert t.wait_settled("0", timeout=30)
    t.track("0", 2)
    cancel = threading.Event()
    cancel.set()
    assert not t.wait_settled("0", timeout=30, cancel=cancel)


def test_tracker_with_file_store_survives_a_restart(tmp_path):
    path = tmp_path / "cp.json"
    t = OffsetTracker(FileCheckpoint(path))
    t.settle(t.track("0", 10))
    t.track("0", 20)  # read, never delivered
    again = OffsetTracker(FileCheckpoint(path))
    assert again.committed("0") == 10


@pytest.mark.s3
def test_s3_checkpoint_round_trip(s3_endpoint):
    from tests.services.seaweedfs import s3_client

    client = s3_client(s3_endpoint)
    bucket = "checkpoints-" + os.urandom(4).hex()
    client.create_bucket(Bucket=bucket)
    cp = S3Checkpoint(f"s3://{bucket}/falcon/stream.json", client=client)
    assert cp.load() == {}
    cp.save({"0": 12, "1": 3})
    assert S3Checkpoint(f"s3://{bucket}/falcon/stream.json", client=client).load() == {
        "0": 12,
        "1": 3,
    }
