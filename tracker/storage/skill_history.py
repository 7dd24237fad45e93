"""What recommendations read about skills' past runs, and the community
baselines, all aggregated in SQL.

*Local* history is a project's own: the decisive runs (succeeded or failed)
of a skill whose ``workflow_path`` is the project (the CI pipeline, the
Crackerjack project, the IDE project) in the last ``days`` days. The
*community baselines* aggregate every project of the database; a skill
without local history is ranked on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Connection, DateTime, bindparam, case, func, select, text, update

from ..records import utcnow
from .base import StorageBase
from .schema import skill_community_baselines, skill_invocation, skill_metrics, skills_state

inv = skill_invocation
_DECISIVE = ("success", "failure")


@dataclass(frozen=True)
class SkillHistory:
    """Figures one skill is ranked on.

    ``source`` says where they come from: ``local`` (this project's runs),
    ``baseline`` (the community baseline) or ``none``.
    """

    skill_name: str
    source: str
    runs: int = 0
    completed: int = 0
    mean_duration: float | None = None
    recent_runs: int = 0
    phases: tuple[str, ...] = ()

    @property
    def completion_rate(self) -> float | None:
        return self.completed / self.runs if self.runs else None


#: "The project" of an invocation, for counting users in the baselines: the
#: repository, else the CI pipeline, else the Crackerjack/IDE project, else
#: the session.
_BASELINES_SQL = """
INSERT INTO skill_community_baselines (
    skill_name, total_users, total_invocations, global_completion_rate,
    global_mean_duration, most_common_workflow_phase, effectiveness_percentile, updated_at)
WITH per_skill AS (
    SELECT skill_name,
           COUNT(DISTINCT COALESCE(repository, pipeline_name, workflow_path, session_id)) AS users,
           COUNT(*) AS runs,
           AVG(CASE WHEN outcome = 'success' THEN 1.0 ELSE 0.0 END) AS rate,
           AVG(duration_seconds) AS mean_duration
    FROM skill_invocation
    WHERE outcome IN ('success', 'failure')
    GROUP BY skill_name
), phases AS (
    SELECT skill_name, workflow_phase,
           ROW_NUMBER() OVER (PARTITION BY skill_name ORDER BY COUNT(*) DESC, workflow_phase) AS rn
    FROM skill_invocation
    WHERE outcome IN ('success', 'failure')
    GROUP BY skill_name, workflow_phase
)
SELECT p.skill_name, p.users, p.runs, p.rate, p.mean_duration, ph.workflow_phase,
       100.0 * CUME_DIST() OVER (ORDER BY p.rate), :now
FROM per_skill AS p
LEFT JOIN phases AS ph ON ph.skill_name = p.skill_name AND ph.rn = 1
"""


# Statements of the recommendation path, built once: SQLAlchemy then reuses
# their compiled form (an expanding IN takes any number of names).
_NAMES: BindParameter[Any] = bindparam("names", expanding=True)
_PHASES_OF = select(skill_metrics.c.skill_name, skill_metrics.c.workflow_phase).where(
    skill_metrics.c.skill_name.in_(_NAMES),
    skill_metrics.c.workflow_phase != "all",
    skill_metrics.c.total_invocations > 0,
)
_LOCAL = (
    select(
        inv.c.skill_name,
        func.count().label("runs"),
        func.sum(case((inv.c.outcome == "success", 1), else_=0)).label("completed"),
        func.avg(inv.c.duration_seconds).label("mean_duration"),
        func.sum(case((inv.c.invoked_at >= bindparam("recent_since", type_=DateTime), 1), else_=0)).label(
            "recent"
        ),
    )
    .where(
        inv.c.workflow_path == bindparam("project"),
        inv.c.skill_name.in_(_NAMES),
        inv.c.invoked_at >= bindparam("since", type_=DateTime),
        inv.c.outcome.in_(_DECISIVE),
    )
    .group_by(inv.c.skill_name)
)
_BASELINES_OF = select(skill_community_baselines).where(skill_community_baselines.c.skill_name.in_(_NAMES))


def _baselines_statement() -> Any:
    return text(_BASELINES_SQL).bindparams(bindparam("now", type_=DateTime))


class SkillHistoryQueries(StorageBase):
    """Skill history for ranking, and the community baselines."""

    def skill_history(
        self,
        names: Sequence[str],
        *,
        project: str | None = None,
        days: int = 90,
        recent_days: int = 30,
        now: datetime | None = None,
        phases: bool = True,
    ) -> dict[str, SkillHistory]:
        """History of each of ``names``: the project's own when it has
        some, else the community baseline, else ``source='none'``. With
        ``phases``, also the phases each skill has run in."""
        if not names:
            return {}
        now = now or utcnow()
        wanted = list(dict.fromkeys(names))
        result: dict[str, SkillHistory] = {}
        with self.read("reading skill history") as conn:
            seen = self._phases(conn, wanted) if phases else {}
            if project:
                result.update(self._local(conn, wanted, project, now, days, recent_days, seen))
            missing = [n for n in wanted if n not in result]
            if missing:
                result.update(self._baselines(conn, missing, seen))
        for name in wanted:
            result.setdefault(name, SkillHistory(name, "none", phases=seen.get(name, ())))
        return result

    def _phases(self, conn: Connection, names: list[str]) -> dict[str, tuple[str, ...]]:
        rows = conn.execute(_PHASES_OF, {"names": names}).all()
        found: dict[str, list[str]] = {}
        for r in rows:
            found.setdefault(r.skill_name, []).append(r.workflow_phase)
        return {k: tuple(sorted(v)) for k, v in found.items()}

    def _local(
        self,
        conn: Connection,
        names: list[str],
        project: str,
        now: datetime,
        days: int,
        recent_days: int,
        phases: dict[str, tuple[str, ...]],
    ) -> dict[str, SkillHistory]:
        rows = conn.execute(
            _LOCAL,
            {
                "names": names,
                "project": project,
                "since": now - timedelta(days=days),
                "recent_since": now - timedelta(days=recent_days),
            },
        ).all()
        return {
            r.skill_name: SkillHistory(
                r.skill_name,
                "local",
                int(r.runs),
                int(r.completed or 0),
                float(r.mean_duration) if r.mean_duration is not None else None,
                int(r.recent or 0),
                phases.get(r.skill_name, ()),
            )
            for r in rows
        }

    def _baselines(
        self, conn: Connection, names: list[str], phases: dict[str, tuple[str, ...]]
    ) -> dict[str, SkillHistory]:
        rows = conn.execute(_BASELINES_OF, {"names": names}).all()
        return {
            r.skill_name: SkillHistory(
                r.skill_name,
                "baseline",
                int(r.total_invocations),
                round(float(r.global_completion_rate) * int(r.total_invocations)),
                float(r.global_mean_duration),
                0,
                phases.get(r.skill_name, ()),
            )
            for r in rows
        }

    # -- community baselines ---------------------------------------------------

    def refresh_baselines(self, now: datetime | None = None) -> int:
        """Recompute ``skill_community_baselines`` from every decisive
        invocation of every pipeline and project, in one transaction; returns
        the number of skills.

        ``total_users`` counts distinct projects (repository, else pipeline,
        else Crackerjack/IDE project, else session); the effectiveness
        percentile is the share of skills whose completion rate is at most
        this skill's (``CUME_DIST``, 0–100).
        """
        now = now or utcnow()
        with self.write("recomputing community baselines") as conn:
            conn.execute(skill_community_baselines.delete())
            conn.execute(_baselines_statement(), {"now": now})
            self._mark_refreshed(conn, now)
            return int(conn.execute(select(func.count()).select_from(skill_community_baselines)).scalar_one())

    def refresh_baselines_if_stale(self, max_age_hours: float, now: datetime | None = None) -> int | None:
        """Recompute the baselines when the last refresh is older than
        ``max_age_hours`` (or never happened); ``None`` when they were fresh.
        Several processes may call this at once: the check and the refresh
        share one write transaction, so one of them does the work."""
        if max_age_hours <= 0:
            return None
        now = now or utcnow()
        last = self.baselines_refreshed_at()
        if last is not None and now - last < timedelta(hours=max_age_hours):
            return None  # the common case: no write lock taken
        with self.write("recomputing community baselines") as conn:
            state = conn.execute(
                select(skills_state.c.baselines_refreshed_at).where(skills_state.c.id == 1)
            ).first()
            last = state.baselines_refreshed_at if state is not None else None
            if last is not None and now - last < timedelta(hours=max_age_hours):
                return None
            conn.execute(skill_community_baselines.delete())
            conn.execute(_baselines_statement(), {"now": now})
            self._mark_refreshed(conn, now)
            return int(conn.execute(select(func.count()).select_from(skill_community_baselines)).scalar_one())

    def baselines_refreshed_at(self) -> datetime | None:
        with self.read("reading the baselines' age") as conn:
            row = conn.execute(
                select(skills_state.c.baselines_refreshed_at).where(skills_state.c.id == 1)
            ).first()
        return row.baselines_refreshed_at if row is not None else None

    def _mark_refreshed(self, conn: Connection, now: datetime) -> None:
        self.upsert(conn, skills_state, {"id": 1, "catalogue_version": 0}, ["id"])
        conn.execute(update(skills_state).where(skills_state.c.id == 1).values(baselines_refreshed_at=now))

    def community_baselines(self, names: Sequence[str] | None = None) -> list[dict[str, object]]:
        """Baseline rows (all, or of ``names``), by skill name."""
        b = skill_community_baselines
        query = select(b).order_by(b.c.skill_name)
        if names is not None:
            query = query.where(b.c.skill_name.in_(list(names)))
        with self.read("reading community baselines") as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
