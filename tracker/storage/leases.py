"""Leasing rows of a work table (webhook deliveries, PR-comment jobs) to
one worker at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Row, Table, select, update


def claim_rows(
    conn: Connection,
    table: Table,
    key: Column[Any],
    *,
    free: ColumnElement[bool],
    oldest_first: Column[Any],
    limit: int,
    owner: str,
    now: datetime,
    lease_seconds: float,
    columns: Sequence[Column[Any]] | None = None,
) -> list[Row[Any]]:
    """Lease up to ``limit`` rows matching ``free`` to ``owner``, oldest
    first, counting an attempt on each; return them as leased.

    Each row is taken by an ``UPDATE … WHERE key = ? AND free``, so a row
    another worker leased in between is skipped, never taken twice. The
    table needs ``lease_owner``, ``lease_until`` and ``attempts`` columns.
    """
    keys = conn.execute(select(key).where(free).order_by(oldest_first).limit(limit)).scalars().all()
    claimed = []
    for value in keys:
        took = conn.execute(
            update(table)
            .where(key == value, free)
            .values(
                lease_owner=owner,
                lease_until=now + timedelta(seconds=lease_seconds),
                attempts=table.c.attempts + 1,
            )
        ).rowcount
        if took:
            claimed.append(conn.execute(select(*(columns or table.c)).where(key == value)).one())
    return claimed
