"""Read side of the pipeline analytics: every figure is aggregated in SQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, case, func, or_, select, tuple_
from sqlalchemy.sql import ColumnElement

from ..histogram import percentile_from_buckets, percentile_ranks
from ..metrics import PipelineStageMetrics
from ..phases import Outcome
from .base import StorageBase
from .schema import (
    skill_invocation,
    stage_daily,
    stage_daily_histogram,
    stage_failure_daily,
    stage_skill,
)
from .windows import WindowPlan, plan_window

inv = skill_invocation
_DECISIVE = ("success", "failure")
_COUNTERS = (
    "runs",
    "successes",
    "failures",
    "skipped",
    "cancelled",
    "total_duration_seconds",
    "queued_runs",
    "total_queue_seconds",
)
QUANTILES = (0.5, 0.95)
TOP_FAILURES = 5


@dataclass(frozen=True)
class PipelineListing:
    name: str
    runs: int
    successes: int
    stages: int
    last_day: date


def _raw_filters(plan: WindowPlan) -> list[ColumnElement[bool]]:
    """One condition per raw edge range. Each range is queried on its own:
    with ``a OR b`` SQLite scanned every row of the pipeline (1M rows, 140
    ms) instead of the two ranges of the time index (2 ms)."""
    return [
        and_(
            inv.c.invoked_at >= r.low,
            inv.c.invoked_at <= r.high if r.inclusive else inv.c.invoked_at < r.high,
        )
        for r in plan.raw
    ]


def _counts_of(row: Any) -> dict[str, float]:
    return {c: (getattr(row, c) or 0) for c in _COUNTERS}


class AnalyticsQueries(StorageBase):
    """Window aggregates per stage of a pipeline."""

    def stage_metrics(
        self,
        pipeline: str,
        start: datetime,
        end: datetime,
        *,
        stage: str | None = None,
        exact_limit: int | None = None,
    ) -> list[PipelineStageMetrics]:
        """Per-stage metrics of ``pipeline`` for invocations with
        ``start <= invoked_at <= end`` (naive UTC), sorted by stage name.

        p50/p95 are exact (linear interpolation) while the window holds at
        most ``exact_limit`` runs; above that they come from the per-day
        histograms (within :data:`tracker.histogram.MAX_RELATIVE_ERROR` from 1 ms
        up; a duration under 1 ms reads as 0).
        """
        limit = self.settings.exact_percentile_limit if exact_limit is None else exact_limit
        plan = plan_window(start, end)
        with self.read("computing pipeline analytics") as conn:
            counts = self._window_counts(conn, pipeline, plan, stage)
            if not counts:
                return []
            total_runs = sum(int(c["runs"]) for c in counts.values())
            exact = total_runs <= limit
            percentiles = (
                self._exact_percentiles(conn, pipeline, plan, counts)
                if exact
                else self._histogram_percentiles(conn, pipeline, plan, stage)
            )
            skills = self._skills_used(conn, pipeline, plan, stage)
            failures = self._top_failures(conn, pipeline, plan, stage)
        result = []
        for name in sorted(counts):
            c = counts[name]
            p50, p95 = percentiles.get(name, (None, None))
            result.append(
                PipelineStageMetrics(
                    stage_name=name,
                    total_runs=int(c["runs"]),
                    successful_runs=int(c["successes"]),
                    failed_runs=int(c["failures"]),
                    total_duration=float(c["total_duration_seconds"]),
                    skills_used=tuple(sorted(skills.get(name, ()))),
                    common_failures=tuple(failures.get(name, ())),
                    skipped_runs=int(c["skipped"]),
                    cancelled_runs=int(c["cancelled"]),
                    p50_duration=p50,
                    p95_duration=p95,
                    percentile_method="exact" if exact else "histogram",
                    queued_runs=int(c["queued_runs"]),
                    total_queue_seconds=float(c["total_queue_seconds"]),
                )
            )
        return result

    # -- counts ---------------------------------------------------------

    def _window_counts(
        self, conn: Connection, pipeline: str, plan: WindowPlan, stage: str | None
    ) -> dict[str, dict[str, float]]:
        totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(_COUNTERS, 0.0))
        if plan.first_day is not None:
            sd = stage_daily
            query = (
                select(sd.c.stage, *[func.sum(sd.c[c]).label(c) for c in _COUNTERS])
                .where(
                    sd.c.pipeline_name == pipeline,
                    sd.c.day.between(plan.first_day, plan.last_day),
                )
                .group_by(sd.c.stage)
            )
            if stage is not None:
                query = query.where(sd.c.stage == stage)
            for row in conn.execute(query):
                for k, v in _counts_of(row).items():
                    totals[row.stage][k] += v
        is_ = inv.c.outcome
        decisive = is_.in_(_DECISIVE)
        raw_query = (
            select(
                inv.c.stage,
                func.sum(case((decisive, 1), else_=0)).label("runs"),
                func.sum(case((is_ == "success", 1), else_=0)).label("successes"),
                func.sum(case((is_ == "failure", 1), else_=0)).label("failures"),
                func.sum(case((is_ == "skipped", 1), else_=0)).label("skipped"),
                func.sum(case((is_ == "cancelled", 1), else_=0)).label("cancelled"),
                func.sum(case((decisive, inv.c.duration_seconds), else_=0.0)).label("total_duration_seconds"),
                func.count(inv.c.queue_seconds).label("queued_runs"),
                func.coalesce(func.sum(inv.c.queue_seconds), 0.0).label("total_queue_seconds"),
            )
            .where(inv.c.pipeline_name == pipeline)
            .group_by(inv.c.stage)
        )
        if stage is not None:
            raw_query = raw_query.where(inv.c.stage == stage)
        for row in self._raw_rows(conn, raw_query, plan):
            for k, v in _counts_of(row).items():
                totals[row.stage][k] += v
        return {k: v for k, v in totals.items() if any(v[c] for c in ("runs", "skipped", "cancelled"))}

    @staticmethod
    def _raw_rows(conn: Connection, query: Select[Any], plan: WindowPlan) -> Iterator[Any]:
        """The rows of ``query`` over each raw edge range of ``plan``, for
        invocations that belong to a stage. (``stage IS NOT NULL`` is
        checked here: in SQL it made SQLite prefer the stage index and scan
        the whole pipeline.)"""
        for condition in _raw_filters(plan):
            for row in conn.execute(query.where(condition)).all():
                if row[0] is not None:  # every raw query selects the stage first
                    yield row

    # -- percentiles ----------------------------------------------------

    def _exact_percentiles(
        self,
        conn: Connection,
        pipeline: str,
        plan: WindowPlan,
        counts: dict[str, dict[str, float]],
    ) -> dict[str, tuple[float | None, float | None]]:
        wanted: list[tuple[str, int]] = []
        for name, c in counts.items():
            n = int(c["runs"])
            if n:
                for q in QUANTILES:
                    low, high, _ = percentile_ranks(n, q)
                    wanted += [(name, low), (name, high)]
        if not wanted:
            return {}
        ranked = (
            select(
                inv.c.stage,
                inv.c.duration_seconds,
                (func.row_number().over(partition_by=inv.c.stage, order_by=inv.c.duration_seconds) - 1).label(
                    "r"
                ),
            )
            .where(
                inv.c.pipeline_name == pipeline,
                inv.c.invoked_at >= plan.start,
                inv.c.invoked_at <= plan.end,
                inv.c.outcome.in_(_DECISIVE),
                inv.c.stage.in_(list(counts)),
            )
            .subquery()
        )
        rows = conn.execute(
            select(ranked.c.stage, ranked.c.r, ranked.c.duration_seconds).where(
                tuple_(ranked.c.stage, ranked.c.r).in_(sorted(set(wanted)))
            )
        )
        at: dict[tuple[str, int], float] = {(r.stage, int(r.r)): float(r.duration_seconds) for r in rows}
        result: dict[str, tuple[float | None, float | None]] = {}
        for name, c in counts.items():
            n = int(c["runs"])
            values: list[float | None] = []
            for q in QUANTILES:
                if not n:
                    values.append(None)
                    continue
                low, high, weight = percentile_ranks(n, q)
                lo, hi = at[(name, low)], at[(name, high)]
                values.append(lo + (hi - lo) * weight)
            result[name] = (values[0], values[1])
        return result

    def _histogram_percentiles(
        self, conn: Connection, pipeline: str, plan: WindowPlan, stage: str | None
    ) -> dict[str, tuple[float | None, float | None]]:
        buckets: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        if plan.first_day is not None:
            h = stage_daily_histogram
            query = (
                select(h.c.stage, h.c.bucket, func.sum(h.c.count).label("n"))
                .where(
                    h.c.pipeline_name == pipeline,
                    h.c.day.between(plan.first_day, plan.last_day),
                )
                .group_by(h.c.stage, h.c.bucket)
            )
            if stage is not None:
                query = query.where(h.c.stage == stage)
            for name, bucket, n in conn.execute(query).all():
                buckets[name][bucket] += int(n)
        raw = (
            select(inv.c.stage, inv.c.duration_bucket, func.count().label("n"))
            .where(inv.c.pipeline_name == pipeline, inv.c.outcome.in_(_DECISIVE))
            .group_by(inv.c.stage, inv.c.duration_bucket)
        )
        if stage is not None:
            raw = raw.where(inv.c.stage == stage)
        for name, bucket, n in self._raw_rows(conn, raw, plan):
            buckets[name][bucket] += int(n)
        return {
            name: (
                percentile_from_buckets(counts.items(), QUANTILES[0]),
                percentile_from_buckets(counts.items(), QUANTILES[1]),
            )
            for name, counts in buckets.items()
        }

    # -- skills and failures --------------------------------------------

    def _skills_used(
        self, conn: Connection, pipeline: str, plan: WindowPlan, stage: str | None
    ) -> dict[str, list[str]]:
        # stage_skill knows when each skill was first and last run in a
        # stage: one run inside the window is certain when both are; when
        # the window only lies between them, a run inside it is looked for
        # (a skill run before and after the window was not used in it).
        ss, inv = stage_skill, skill_invocation
        ran_inside = (
            select(inv.c.id)
            .where(
                inv.c.pipeline_name == ss.c.pipeline_name,
                inv.c.stage == ss.c.stage,
                inv.c.skill_name == ss.c.skill_name,
                inv.c.invoked_at.between(plan.start, plan.end),
                inv.c.outcome != Outcome.SKIPPED.value,  # as stage_skill counts
            )
            .exists()
        )
        query = select(ss.c.stage, ss.c.skill_name).where(
            ss.c.pipeline_name == pipeline,
            ss.c.last_seen >= plan.start,
            ss.c.first_seen <= plan.end,
            or_(and_(ss.c.first_seen >= plan.start, ss.c.last_seen <= plan.end), ran_inside),
        )
        if stage is not None:
            query = query.where(ss.c.stage == stage)
        found: dict[str, list[str]] = defaultdict(list)
        for row in conn.execute(query):
            found[row.stage].append(row.skill_name)
        return found

    def _top_failures(
        self, conn: Connection, pipeline: str, plan: WindowPlan, stage: str | None
    ) -> dict[str, list[tuple[str, int]]]:
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        if plan.first_day is not None:
            f = stage_failure_daily
            query = (
                select(f.c.stage, f.c.error_key, func.sum(f.c.count).label("n"))
                .where(
                    f.c.pipeline_name == pipeline,
                    f.c.day.between(plan.first_day, plan.last_day),
                )
                .group_by(f.c.stage, f.c.error_key)
            )
            if stage is not None:
                query = query.where(f.c.stage == stage)
            for row in conn.execute(query):
                counts[row.stage][row.error_key] += int(row.n)
        raw = (
            select(inv.c.stage, inv.c.error_key, func.count().label("n"))
            .where(
                inv.c.pipeline_name == pipeline,
                inv.c.outcome == "failure",
                inv.c.error_key.is_not(None),
            )
            .group_by(inv.c.stage, inv.c.error_key)
        )
        if stage is not None:
            raw = raw.where(inv.c.stage == stage)
        for row in self._raw_rows(conn, raw, plan):
            counts[row.stage][row.error_key] += int(row.n)
        return {
            name: sorted(by_key.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_FAILURES]
            for name, by_key in counts.items()
        }

    # -- listings and series --------------------------------------------

    def pipelines(self) -> list[PipelineListing]:
        """Every pipeline with data, most recently active first."""
        sd = stage_daily
        query = (
            select(
                sd.c.pipeline_name,
                func.sum(sd.c.runs).label("runs"),
                func.sum(sd.c.successes).label("successes"),
                func.count(func.distinct(sd.c.stage)).label("stages"),
                func.max(sd.c.day).label("last_day"),
            )
            .group_by(sd.c.pipeline_name)
            .order_by(func.max(sd.c.day).desc(), sd.c.pipeline_name)
        )
        with self.read("listing pipelines") as conn:
            return [
                PipelineListing(
                    r.pipeline_name,
                    int(r.runs),
                    int(r.successes),
                    int(r.stages),
                    r.last_day,
                )
                for r in conn.execute(query)
            ]

    def daily_totals(
        self,
        pipeline: str,
        first_day: date,
        last_day: date,
        *,
        stages: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Per day and stage: runs, successes, failures, total duration
        (whole days, from the rollup; for trends and charts)."""
        sd = stage_daily
        query = (
            select(
                sd.c.day,
                sd.c.stage,
                sd.c.runs,
                sd.c.successes,
                sd.c.failures,
                sd.c.total_duration_seconds,
            )
            .where(sd.c.pipeline_name == pipeline, sd.c.day.between(first_day, last_day))
            .order_by(sd.c.day, sd.c.stage)
        )
        if stages is not None:
            query = query.where(sd.c.stage.in_(list(stages)))
        with self.read("reading daily totals") as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def stage_totals(
        self, pipeline: str, start: datetime, end: datetime
    ) -> dict[str, tuple[int, int, float]]:
        """Per stage, for invocations with ``start <= invoked_at <= end``
        (exactly, as :meth:`stage_metrics` counts): (runs, successes, total
        duration)."""
        with self.read("reading stage totals") as conn:
            counts = self._window_counts(conn, pipeline, plan_window(start, end), None)
        return {
            name: (int(c["runs"]), int(c["successes"]), float(c["total_duration_seconds"]))
            for name, c in counts.items()
        }
