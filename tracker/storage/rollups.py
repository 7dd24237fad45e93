"""Rebuilding the rollup tables from ``skill_invocation``, and bulk loads.

:meth:`InvocationStore.record_invocation` keeps every rollup up to date one
row at a time. :meth:`RollupMaintenance.rebuild_rollups` recomputes them all
from the invocations with ``INSERT … SELECT … GROUP BY`` — after a bulk
import, a manual repair, or a change of how a rollup is defined. Both paths
follow the same rules (``PendingRollups.add`` is the reference):

- a run that was skipped never ran: it counts in ``stage_daily.skipped`` and
  its queue time, and nowhere else;
- only decisive runs (succeeded or failed) count in ``runs``, durations and
  the duration histogram; cancelled runs count in ``cancelled``, and in the
  skill tables as abandoned runs with their duration;
- the per-stage tables need a pipeline and a stage; the per-skill tables
  take every source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    case,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.sql import ColumnElement

from ..histogram import bucket_of
from ..records import utcnow
from .base import StorageBase
from .pending_rollups import COUNT_KEY_LENGTH
from .schema import (
    skill_invocation,
    skill_metric_counts,
    skill_metrics,
    skill_session_day,
    skill_time_series,
    stage_daily,
    stage_daily_histogram,
    stage_failure_daily,
    stage_skill,
)

inv = skill_invocation

#: Every table :meth:`RollupMaintenance.rebuild_rollups` recomputes.
ROLLUP_TABLES: tuple[Table, ...] = (
    stage_daily,
    stage_daily_histogram,
    stage_failure_daily,
    stage_skill,
    skill_metrics,
    skill_metric_counts,
    skill_time_series,
    skill_session_day,
)

#: Longest key of ``skill_metric_counts`` (the incremental path cuts there too).
_COUNT_KEY_LENGTH = COUNT_KEY_LENGTH

#: Columns a bulk load must give; the others are optional or derived.
_REQUIRED = (
    "skill_name",
    "invoked_at",
    "session_id",
    "duration_seconds",
    "workflow_phase",
    "source",
    "outcome",
)


def _day(dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        # Timestamps are stored as "YYYY-MM-DD HH:MM:SS.ffffff": the day is
        # the first ten characters (faster than date(), same text).
        return func.substr(inv.c.invoked_at, 1, 10)
    return func.date(inv.c.invoked_at)


def _count_if(condition: ColumnElement[bool], amount: Any = 1) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, amount), else_=0)), 0)


def _fine_table() -> Table:
    """A temporary table of invocations grouped at the finest grain any
    rollup needs except sessions: every rollup then reads it instead of
    sorting all invocations again."""
    return Table(
        "rollup_fine",
        MetaData(),
        Column("pipeline_name", String(255)),
        Column("stage", String(200)),
        Column("day", Date),
        Column("skill_name", String(200)),
        Column("workflow_phase", String(20)),
        Column("outcome", String(20)),
        Column("duration_bucket", Integer),
        Column("error_key", String(200)),
        Column("path", String(300)),
        Column("n", Integer),
        Column("duration", Float),
        Column("queued", Integer),
        Column("queue_seconds", Float),
        Column("first_at", DateTime),
        Column("last_at", DateTime),
        prefixes=["TEMPORARY"],
    )


def _fine_select(fine: Table, dialect: str) -> Any:
    day = _day(dialect).label("day")
    path = func.substr(inv.c.workflow_path, 1, _COUNT_KEY_LENGTH).label("path")
    keys = (
        inv.c.pipeline_name,
        inv.c.stage,
        day,
        inv.c.skill_name,
        inv.c.workflow_phase,
        inv.c.outcome,
        inv.c.duration_bucket,
        inv.c.error_key,
        path,
    )
    return select(
        *keys,
        func.count(),
        func.sum(inv.c.duration_seconds),
        func.count(inv.c.queue_seconds),
        func.coalesce(func.sum(inv.c.queue_seconds), 0.0),
        func.min(inv.c.invoked_at),
        func.max(inv.c.invoked_at),
    ).group_by(*keys)


def _rollup_selects(f: Table) -> list[tuple[Table, Any]]:
    """``(table, select)`` for every rollup but the session ones, reading
    the fine table ``f``; in the order of ``PendingRollups.flush``."""
    outcome = f.c.outcome
    decisive = outcome.in_(("success", "failure"))
    success = outcome == "success"
    ran = outcome != "skipped"
    staged = (f.c.pipeline_name.is_not(None), f.c.pipeline_name != "", f.c.stage.is_not(None))
    by_stage_day = (f.c.pipeline_name, f.c.stage, f.c.day)
    total = func.sum(f.c.n)
    completed = _count_if(success, f.c.n)

    def metrics(phase: ColumnElement[Any], *group: ColumnElement[Any]) -> Any:
        return (
            select(
                f.c.skill_name,
                phase,
                total,
                completed,
                total - completed,
                func.sum(f.c.duration),
                func.min(f.c.first_at),
                func.max(f.c.last_at),
            )
            .where(ran)
            .group_by(f.c.skill_name, *group)
        )

    def counts(kind: str, column: ColumnElement[Any]) -> Any:
        return (
            select(f.c.skill_name, literal(kind), column, total)
            .where(ran, column.is_not(None), column != "")
            .group_by(f.c.skill_name, column)
        )

    return [
        (
            stage_daily,
            select(
                *by_stage_day,
                _count_if(decisive, f.c.n),
                completed,
                _count_if(outcome == "failure", f.c.n),
                _count_if(outcome == "skipped", f.c.n),
                _count_if(outcome == "cancelled", f.c.n),
                _count_if(decisive, f.c.duration),
                func.sum(f.c.queued),
                func.sum(f.c.queue_seconds),
            )
            .where(*staged)
            .group_by(*by_stage_day),
        ),
        (
            stage_daily_histogram,
            select(*by_stage_day, f.c.duration_bucket, total)
            .where(*staged, decisive)
            .group_by(*by_stage_day, f.c.duration_bucket)
            # In key order: the clustered table's pages end up full and in
            # sequence, which halves the time of a window's read.
            .order_by(f.c.pipeline_name, f.c.day, f.c.stage, f.c.duration_bucket),
        ),
        (
            stage_failure_daily,
            select(*by_stage_day, f.c.error_key, total)
            .where(*staged, outcome == "failure", f.c.error_key.is_not(None))
            .group_by(*by_stage_day, f.c.error_key),
        ),
        (
            stage_skill,
            select(
                f.c.pipeline_name,
                f.c.stage,
                f.c.skill_name,
                total,
                func.min(f.c.first_at),
                func.max(f.c.last_at),
            )
            .where(*staged, ran)
            .group_by(f.c.pipeline_name, f.c.stage, f.c.skill_name),
        ),
        (skill_metrics, metrics(literal("all"))),
        (skill_metrics, metrics(f.c.workflow_phase, f.c.workflow_phase)),
        (skill_metric_counts, counts("workflow_path", f.c.path)),
        (skill_metric_counts, counts("error_type", f.c.error_key)),
    ]


def _session_selects(f: Table, dialect: str) -> list[tuple[Table, Any]]:
    """``skill_session_day`` from the invocations, then ``skill_time_series``
    from the fine table and ``skill_session_day``."""
    day = _day(dialect).label("day")
    ran = f.c.outcome != "skipped"
    sd = skill_session_day
    sessions = (
        select(sd.c.skill_name, sd.c.period_start, func.count().label("n"))
        .group_by(sd.c.skill_name, sd.c.period_start)
        .subquery()
    )
    per_day = (
        select(
            f.c.skill_name,
            f.c.day,
            func.sum(f.c.n).label("n"),
            _count_if(f.c.outcome == "success", f.c.n).label("completed"),
            func.sum(f.c.duration).label("duration"),
        )
        .where(ran)
        .group_by(f.c.skill_name, f.c.day)
        .subquery()
    )
    return [
        (
            skill_session_day,
            select(inv.c.skill_name, day, inv.c.session_id).where(inv.c.outcome != "skipped").distinct(),
        ),
        (
            skill_time_series,
            select(
                per_day.c.skill_name,
                per_day.c.day,
                per_day.c.n,
                per_day.c.completed,
                per_day.c.duration,
                sessions.c.n,
            ).join_from(
                per_day,
                sessions,
                (sessions.c.skill_name == per_day.c.skill_name) & (sessions.c.period_start == per_day.c.day),
            ),
        ),
    ]


class RollupMaintenance(StorageBase):
    """Recomputing rollups, and loading many invocations at once."""

    def rebuild_rollups(self) -> dict[str, int]:
        """Recompute every rollup table from ``skill_invocation``, in one
        write transaction (readers see the old rollups until it commits).

        Returns the number of rows of each rebuilt table.
        """
        with self.write("rebuilding rollups") as conn:
            return self._rebuild(conn)

    def _rebuild(self, conn: Connection) -> dict[str, int]:
        dialect = conn.dialect.name
        for table in ROLLUP_TABLES:
            conn.execute(delete(table))
        fine = _fine_table()
        # Created inside the transaction, so a failed rebuild rolls it back
        # too; dropped first all the same, should a connection still hold one.
        fine.drop(conn, checkfirst=True)
        fine.create(conn)
        columns = [c.name for c in fine.columns]
        conn.execute(insert(fine).from_select(columns, _fine_select(fine, dialect)))
        for table, query in _rollup_selects(fine) + _session_selects(fine, dialect):
            conn.execute(insert(table).from_select([c.name for c in table.columns], query))
        fine.drop(conn)
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in ROLLUP_TABLES
        }

    def bulk_load_invocations(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        batch_size: int = 50_000,
    ) -> int:
        """Insert many raw ``skill_invocation`` rows, then rebuild every
        rollup, all in one transaction (all or nothing).

        For imports and benchmarks: rows skip the validation of
        :class:`~tracker.records.InvocationRecord`, so give well-formed
        values (naive UTC datetimes, an :class:`~tracker.phases.Outcome`
        value, ``error_key`` only on failures). ``completed``,
        ``duration_bucket`` and ``recorded_at`` are derived when absent.

        :param columns: names of ``skill_invocation`` columns, in the order
            of each row's values.
        :raises ValueError: for an unknown or missing column.
        :returns: the number of rows inserted.
        """
        names = list(columns)
        unknown = [n for n in names if n not in inv.c or n == "id"]
        missing = [n for n in _REQUIRED if n not in names]
        if unknown or missing or len(set(names)) != len(names):
            raise ValueError(
                f"bulk load columns: unknown {unknown or 'none'}, missing {missing or 'none'}, "
                "each column at most once"
            )
        with self.write("bulk loading invocations") as conn:
            count = self._insert_batches(conn, names, rows, batch_size)
            self._rebuild(conn)
        return count

    def _insert_batches(
        self, conn: Connection, names: list[str], rows: Iterable[Sequence[Any]], batch_size: int
    ) -> int:
        # The DB-API's executemany, with each column's own bind processor, is
        # several times faster than SQLAlchemy's per-row parameter handling
        # and stores exactly what an ordinary insert stores.
        dialect = conn.dialect
        derived = [n for n in ("completed", "duration_bucket", "recorded_at") if n not in names]
        all_names = names + derived
        compiled = insert(inv).compile(dialect=dialect, column_keys=all_names)
        order = list(compiled.positiontup or ()) if dialect.positional else all_names
        reorder = itemgetter(*[all_names.index(n) for n in order])
        sql = str(compiled)

        def bind(name: str) -> Callable[[Any], Any] | None:
            processor: Callable[[Any], Any] | None = (
                inv.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            )
            return processor

        convert = [(i, f) for i, n in enumerate(names) if (f := bind(n)) is not None]
        as_bool = bind("completed") or bool
        now, to_db = utcnow(), bind("recorded_at")
        recorded_at = to_db(now) if to_db else now
        duration_at, outcome_at = names.index("duration_seconds"), names.index("outcome")

        def values(row: Sequence[Any]) -> Any:
            out = list(row)
            for i, f in convert:
                if out[i] is not None:
                    out[i] = f(out[i])
            for name in derived:
                if name == "completed":
                    out.append(as_bool(row[outcome_at] == "success"))
                elif name == "duration_bucket":
                    out.append(bucket_of(row[duration_at]))
                else:
                    out.append(recorded_at)
            ordered = reorder(out)
            return ordered if dialect.positional else dict(zip(order, ordered, strict=True))

        count = 0
        batch: list[Any] = []
        for row in rows:
            batch.append(values(row))
            if len(batch) >= batch_size:
                conn.exec_driver_sql(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            conn.exec_driver_sql(sql, batch)
            count += len(batch)
        return count
