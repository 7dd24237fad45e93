"""The rollups on PostgreSQL (the scale-out store): incremental, rebuilt
and bulk-loaded rollups equal the Python reference there too."""

from __future__ import annotations

import dataclasses

from tracker.records import InvocationRecord
from tracker.storage import SkillsStorage

from .helpers import assert_same_rollups, expected_rollups, snapshot
from .test_rollups import COLUMNS, bulk_row, varied_records


def records(n: int, seed: int) -> list[InvocationRecord]:
    # PostgreSQL enforces the 300-character workflow_path column.
    return [
        dataclasses.replace(r, workflow_path=r.workflow_path[:300] if r.workflow_path else r.workflow_path)
        for r in varied_records(n, seed)
    ]


def test_incremental_and_rebuilt_rollups(pg: SkillsStorage) -> None:
    for r in records(150, seed=2):
        pg.record_invocation(r)
    want = expected_rollups(pg.invocations(limit=10_000))
    assert any(v[3] > 1 for v in want["skill_time_series"].values())  # several sessions a day
    assert_same_rollups(snapshot(pg), want)
    pg.rebuild_rollups()
    assert_same_rollups(snapshot(pg), want)


def test_bulk_load(pg: SkillsStorage) -> None:
    rows = [bulk_row(r) for r in records(80, seed=4)]
    assert pg.bulk_load_invocations(COLUMNS, rows, batch_size=30) == 80
    assert_same_rollups(snapshot(pg), expected_rollups(pg.invocations(limit=10_000)))
