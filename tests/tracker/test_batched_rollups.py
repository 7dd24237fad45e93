"""Rollups of batched writes: stage results group-committed from many
threads, and record_invocations, sum their increments by key before
writing them. The rollups must still equal the plain Python reference."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tracker.records import InvocationRecord
from tracker.storage import SkillsStorage, StoredResult

from .helpers import assert_same_rollups, expected_rollups, snapshot
from .test_group_commit import wait_until
from .test_rollups import varied_records


def hold_first_batch(storage: SkillsStorage, until_queued: int, threads: int) -> list[int]:
    """Make the first group-commit batch wait until ``until_queued`` items
    queue behind it (or every one of the ``threads`` that it does not hold
    has queued: its leader gathers, so it may hold most of them), so that
    the next batches hold many items; returns the list of batch sizes,
    filled as batches run."""
    group = storage._stage_results()
    inner = group._write_batch
    sizes: list[int] = []
    lock = threading.Lock()

    def write(items: Sequence[Any]) -> Any:
        with lock:
            sizes.append(len(items))
            first = len(sizes) == 1
        if first:
            wait_until(lambda: len(group._queue) >= min(until_queued, threads - len(items)))
        return inner(items)

    group._write_batch = write
    return sizes


def test_concurrent_stage_results_roll_up_like_the_reference(storage: SkillsStorage) -> None:
    records = varied_records(300, seed=11)
    sizes = hold_first_batch(storage, until_queued=12, threads=16)

    def post(n: int) -> StoredResult:
        # Keys 0..299 once each, then 60 of them again with the same body:
        # replays, some in the batch of their first write.
        key = n % 300
        return storage.record_stage_result(records[key], idempotency_key=f"k-{key}", body={"n": key})

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(post, [*range(300), *range(0, 300, 5)]))

    assert max(sizes) > 1, "the writes were never batched"
    first, again = results[:300], results[300:]
    assert not any(r.duplicate for r in first)
    assert all(r.duplicate for r in again)
    assert [r.id for r in again] == [first[n].id for n in range(0, 300, 5)]
    rows = storage.invocations(limit=10_000)
    assert len(rows) == 300
    want = expected_rollups(rows)
    # Batches mixed every branch of the rules: outcomes, stages, sessions.
    assert len(want["stage_daily"]) > 1 and want["stage_failure_daily"] and want["skill_metric_counts"]
    assert_same_rollups(snapshot(storage), want)


def test_record_invocations_counts_each_external_id_once(storage: SkillsStorage) -> None:
    base = varied_records(80, seed=5)

    def with_id(r: InvocationRecord, n: int) -> InvocationRecord:
        return dataclasses.replace(r, external_id=f"gh:job:{n}:step:1")

    # One call holds 60 records of which 20 repeat an external id of the
    # same call; the second call repeats 20 of the first and adds 20 new.
    first = [with_id(r, n) for n, r in enumerate(base[:40])] + [with_id(base[n], n) for n in range(20)]
    ids = storage.record_invocations(first)
    assert all(i is not None for i in ids[:40]) and ids[40:] == [None] * 20
    second = [with_id(base[n], n) for n in range(20, 40)] + [
        with_id(r, n) for n, r in enumerate(base[40:], start=40)
    ]
    ids = storage.record_invocations(second)
    assert ids[:20] == [None] * 20 and all(i is not None for i in ids[20:])

    rows = storage.invocations(limit=10_000)
    assert len(rows) == 80
    assert_same_rollups(snapshot(storage), expected_rollups(rows))
