"""Reads behind the PR report: one build's stages, the per-build history
of its pipeline, and the failures that are new. Aggregated in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.sql import ColumnElement

from .base import StorageBase
from .schema import github_job, skill_invocation

inv = skill_invocation
_DECISIVE = ("success", "failure")


@dataclass(frozen=True)
class BuildStage:
    """What one stage did in one build (all its invocations, any source)."""

    stage: str
    invocations: int
    successes: int
    failures: int
    skipped: int
    cancelled: int
    duration_seconds: float  # decisive invocations only, as in the analytics
    queue_seconds: float | None
    sources: str  # "ci", "webhook" or "ci,webhook"
    first_invoked_at: datetime


@dataclass(frozen=True)
class StageHistory:
    """A stage over past builds: how many, and its mean total per build."""

    builds: int
    mean_build_seconds: float


@dataclass(frozen=True)
class NewFailure:
    stage: str
    skill: str
    error_key: str | None


@dataclass(frozen=True)
class BuildJob:
    name: str
    conclusion: str | None
    queue_seconds: float | None
    duration_seconds: float | None
    covered_by_action: bool | None


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


class GitHubReportQueries(StorageBase):
    """Build-level figures for the PR report."""

    def build_stages(self, pipeline: str, build: str) -> list[BuildStage]:
        """Per stage of one build, sorted by first invocation."""
        decisive = inv.c.outcome.in_(_DECISIVE)
        query = (
            select(
                inv.c.stage,
                func.count().label("n"),
                _count(inv.c.outcome == "success").label("ok"),
                _count(inv.c.outcome == "failure").label("failed"),
                _count(inv.c.outcome == "skipped").label("skipped"),
                _count(inv.c.outcome == "cancelled").label("cancelled"),
                func.sum(case((decisive, inv.c.duration_seconds), else_=0.0)).label("duration"),
                func.sum(inv.c.queue_seconds).label("queue"),
                func.min(inv.c.source).label("source_min"),
                func.max(inv.c.source).label("source_max"),
                func.min(inv.c.invoked_at).label("first"),
            )
            .where(inv.c.pipeline_name == pipeline, inv.c.build_number == build, inv.c.stage.is_not(None))
            .group_by(inv.c.stage)
            .order_by(func.min(inv.c.invoked_at), inv.c.stage)
        )
        with self.read("reading a build's stages") as conn:
            return [
                BuildStage(
                    stage=r.stage,
                    invocations=int(r.n),
                    successes=int(r.ok),
                    failures=int(r.failed),
                    skipped=int(r.skipped),
                    cancelled=int(r.cancelled),
                    duration_seconds=float(r.duration or 0.0),
                    queue_seconds=float(r.queue) if r.queue is not None else None,
                    sources=r.source_min
                    if r.source_min == r.source_max
                    else f"{r.source_min},{r.source_max}",
                    first_invoked_at=r.first,
                )
                for r in conn.execute(query)
            ]

    def stage_build_history(
        self, pipeline: str, start: datetime, end: datetime, *, exclude_build: str
    ) -> dict[str, StageHistory]:
        """Per stage: builds in ``[start, end]`` other than ``exclude_build``
        that ran it (decisively), and its mean total duration per build."""
        decisive = inv.c.outcome.in_(_DECISIVE)
        per_build = (
            select(
                inv.c.stage,
                inv.c.build_number,
                func.sum(case((decisive, inv.c.duration_seconds), else_=0.0)).label("total"),
                _count(decisive).label("n"),
            )
            .where(
                inv.c.pipeline_name == pipeline,
                inv.c.invoked_at >= start,
                inv.c.invoked_at <= end,
                inv.c.stage.is_not(None),
                inv.c.build_number != exclude_build,
            )
            .group_by(inv.c.stage, inv.c.build_number)
            .subquery()
        )
        query = (
            select(per_build.c.stage, func.count().label("builds"), func.avg(per_build.c.total).label("mean"))
            .where(per_build.c.n > 0)
            .group_by(per_build.c.stage)
        )
        with self.read("reading a pipeline's per-build history") as conn:
            return {r.stage: StageHistory(int(r.builds), float(r.mean or 0.0)) for r in conn.execute(query)}

    def new_failures(self, pipeline: str, build: str, since: datetime) -> list[NewFailure]:
        """Failures of a build whose stage and skill had not failed in any
        other build from ``since`` until they failed here."""
        f = inv.alias("f")
        h = inv.alias("h")
        earlier = exists().where(
            h.c.pipeline_name == f.c.pipeline_name,
            h.c.stage == f.c.stage,
            h.c.skill_name == f.c.skill_name,
            h.c.outcome == "failure",
            h.c.build_number != f.c.build_number,
            and_(h.c.invoked_at >= since, h.c.invoked_at < f.c.invoked_at),
        )
        query = (
            select(f.c.stage, f.c.skill_name, func.min(f.c.error_key).label("error_key"))
            .where(
                f.c.pipeline_name == pipeline,
                f.c.build_number == build,
                f.c.outcome == "failure",
                f.c.stage.is_not(None),
                ~earlier,
            )
            .group_by(f.c.stage, f.c.skill_name)
            .order_by(f.c.stage, f.c.skill_name)
        )
        with self.read("finding new failures") as conn:
            return [NewFailure(r.stage, r.skill_name, r.error_key) for r in conn.execute(query)]

    def build_jobs(self, pipeline: str, build: str) -> list[BuildJob]:
        """The GitHub jobs of a build, as their payloads reported them."""
        query = (
            select(
                github_job.c.name,
                github_job.c.conclusion,
                github_job.c.queue_seconds,
                github_job.c.duration_seconds,
                github_job.c.covered_by_action,
            )
            .where(github_job.c.pipeline_name == pipeline, github_job.c.build_number == build)
            .order_by(github_job.c.started_at, github_job.c.name)
        )
        with self.read("reading a build's jobs") as conn:
            return [
                BuildJob(r.name, r.conclusion, r.queue_seconds, r.duration_seconds, r.covered_by_action)
                for r in conn.execute(query)
            ]
