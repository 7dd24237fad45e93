"""CrackerjackIntegration: Crackerjack's phases, recorded and reported.

Every phase result is a ``skill_invocation`` row with ``source =
'crackerjack'``, the Crackerjack phase in ``stage``, the project in
``workflow_path`` and the session ``crackerjack_{id}``. Reports are SQL over
those rows, so they cover every run of the project, from any process.

>>> tracker = SkillsTracker(session_id="crackerjack_123")          # doctest: +SKIP
>>> integration = CrackerjackIntegration(tracker, Path("."))         # doctest: +SKIP
>>> integration.track_crackerjack_phase("fast_hooks", "ruff-check", True, 2.5)  # doctest: +SKIP
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .crackerjack_output import HookRun
from .phases import CRACKERJACK_PHASES, Outcome, Source, WorkflowPhase
from .ranking import SkillRecommendation
from .records import InvocationRecord, check_duration, check_name, to_utc_naive
from .skills import SkillsTracker

SESSION_PREFIX = "crackerjack_"


def project_name_of(path: Path) -> str:
    """The name a project's runs are filed under: ``[project] name`` of
    its ``pyproject.toml``, else the folder's name. A name, not a path, so
    a developer's checkout and CI's count as one project."""
    resolved = path.expanduser().resolve()
    try:
        with (resolved / "pyproject.toml").open("rb") as fh:
            name = tomllib.load(fh).get("project", {}).get("name")
        if isinstance(name, str) and name.strip():
            return check_name(name, "project name")
    except (OSError, tomllib.TOMLDecodeError, ValueError):
        pass
    return check_name(resolved.name or "root", "project name")


def crackerjack_session_id(session_id: str) -> str:
    """``crackerjack_{session_id}`` (a prefix already there is kept)."""
    return session_id if session_id.startswith(SESSION_PREFIX) else SESSION_PREFIX + session_id


class CrackerjackIntegration:
    """Records Crackerjack phases for a project and reports on them.

    :param skills_tracker: its storage is used, and its session id becomes
        ``crackerjack_{session_id}`` unless it has the prefix already.
    :param project_path: the project Crackerjack checks.
    :param project_name: default: :func:`project_name_of` the path.
    """

    def __init__(
        self, skills_tracker: SkillsTracker, project_path: Path | str, *, project_name: str | None = None
    ) -> None:
        self.tracker = skills_tracker
        self.storage = skills_tracker.storage
        self.project_path = Path(project_path)
        self.project = (
            check_name(project_name, "project_name") if project_name else project_name_of(self.project_path)
        )
        self.session_id = crackerjack_session_id(skills_tracker.session_id)

    @staticmethod
    def get_workflow_phase(phase: str) -> WorkflowPhase:
        """The workflow phase of a Crackerjack phase.

        :raises ValueError: for an unknown phase, listing the valid ones.
        """
        if not isinstance(phase, str):
            raise ValueError(
                f"unknown crackerjack phase {phase!r}; valid phases: {', '.join(CRACKERJACK_PHASES.table)}"
            )
        return CRACKERJACK_PHASES.strict_phase_for(phase)

    def build_record(
        self,
        phase: str,
        skill: str,
        outcome: Outcome,
        duration: float,
        *,
        error_message: str | None = None,
        error_type: str | None = None,
        started_at: datetime | None = None,
        artifacts: dict[str, Any] | None = None,
    ) -> InvocationRecord:
        """The record of one phase result (validated)."""
        workflow_phase = self.get_workflow_phase(phase)
        seconds = check_duration(duration, "duration")
        invoked_at = (
            to_utc_naive(started_at)
            if started_at is not None
            else self.tracker.clock() - timedelta(seconds=seconds)
        )
        return InvocationRecord(
            skill_name=skill,
            session_id=self.session_id,
            workflow_phase=workflow_phase,
            source=Source.CRACKERJACK,
            outcome=outcome,
            duration_seconds=seconds,
            invoked_at=invoked_at,
            stage=phase.strip().lower(),
            error_message=error_message,
            error_type=error_type,
            workflow_path=self.project,
            artifacts=artifacts,
        )

    def track_crackerjack_phase(
        self,
        phase: str,
        skill: str,
        completed: bool,
        duration: float,
        error_message: str | None = None,
        *,
        error_type: str | None = None,
        started_at: datetime | None = None,
    ) -> int:
        """Record one skill run in a Crackerjack phase; returns the row id.

        :raises ValueError: for an unknown phase (listing the valid ones), a
            bad skill name or duration.
        """
        record = self.build_record(
            phase,
            skill,
            Outcome.from_completed(bool(completed)),
            duration,
            error_message=error_message,
            error_type=error_type,
            started_at=started_at,
        )
        new_id = self.storage.record_invocation(record)
        assert new_id is not None
        return new_id

    def record_hook_runs(self, runs: Iterable[HookRun], *, started_at: datetime | None = None) -> int:
        """Store what :mod:`tracker.crackerjack_output` parsed from a run
        that began at ``started_at`` (default: now), in one transaction;
        returns how many were stored."""
        base = to_utc_naive(started_at) if started_at is not None else self.tracker.clock()
        records = [
            self.build_record(
                run.phase,
                run.skill,
                run.outcome,
                run.seconds,
                error_message=run.error_message(),
                started_at=base + timedelta(seconds=max(0.0, run.finished_at - run.seconds)),
                artifacts={
                    "hook": run.name,
                    "attempt": run.attempt,
                    "status": run.status,
                    "issues": run.issues,
                    "duration_source": "crackerjack" if run.duration is not None else "stream",
                },
            )
            for run in runs
        ]
        if records:
            self.storage.record_invocations(records)
        return len(records)

    def get_recommended_skills(
        self, phase: str, limit: int = 5, query: str | None = None
    ) -> list[SkillRecommendation]:
        """Skills for a phase: its usual skills and what this project ran in
        it, ranked by similarity to the phase (and to ``query``, whose
        semantic neighbours then join them) and by the project's history."""
        workflow_phase = self.get_workflow_phase(phase)
        key = phase.strip().lower()
        usual = CRACKERJACK_PHASES.usual_skills.get(key, ())
        seen = self.storage.crackerjack_phases(self.project, key).get(key)
        ran = [t.skill_name for t in seen.tools] if seen else []
        text = query or f"crackerjack {key.replace('_', ' ')}: {', '.join(usual)}"
        return self.tracker.recommend_skills(
            text,
            limit,
            workflow_phase,
            project=self.project,
            candidates=[*usual, *ran],
            candidates_only=query is None,
        )

    def get_phase_summary(self, phase: str) -> dict[str, Any]:
        """Invocations, completion rate, mean duration, tools and common
        failures of one phase, over every run of the project."""
        self.get_workflow_phase(phase)
        key = phase.strip().lower()
        figures = self.storage.crackerjack_phases(self.project, key).get(key)
        return self._summary(key, figures)

    def _summary(self, key: str, figures: Any) -> dict[str, Any]:
        threshold = self.tracker.settings.bottleneck_success_rate
        base: dict[str, Any] = {
            "phase": key,
            "workflow_phase": CRACKERJACK_PHASES.phase_for(key).value,
            "invocations": 0,
            "completed": 0,
            "failed": 0,
            "completion_rate": None,
            "mean_duration": None,
            "total_duration": 0.0,
            "runs": 0,
            "tools": [],
            "common_failures": [],
            "bottleneck": False,
            "bottleneck_tool": None,
            "slowest_tool": None,
            "last_run": None,
        }
        if figures is None:
            return base
        tools = [
            {
                "skill": t.skill_name,
                "invocations": t.invocations,
                "completion_rate": round(t.completion_rate, 4),
                "mean_duration": round(t.mean_duration, 3),
            }
            for t in figures.tools
        ]
        worst = min(
            figures.tools, key=lambda t: (t.completion_rate, -t.mean_duration, t.skill_name), default=None
        )
        slowest = max(figures.tools, key=lambda t: (t.mean_duration, t.skill_name), default=None)
        base.update(
            invocations=figures.invocations,
            completed=figures.completed,
            failed=figures.invocations - figures.completed,
            completion_rate=round(figures.completion_rate, 4),
            mean_duration=round(figures.mean_duration, 3),
            total_duration=round(figures.total_duration, 3),
            runs=figures.runs,
            tools=tools,
            common_failures=[{"error": e, "count": n} for e, n in figures.common_failures],
            bottleneck=figures.completion_rate < threshold,
            bottleneck_tool=worst.skill_name if worst is not None and worst.completion_rate < 1.0 else None,
            slowest_tool=slowest.skill_name if slowest else None,
            last_run=figures.last_at.isoformat() if figures.last_at else None,
        )
        return base

    def get_crackerjack_workflow_report(self) -> dict[str, Any]:
        """Every phase's summary over all of the project's runs, with the
        bottleneck phases (completion rate below the bottleneck threshold)
        and the slowest phase."""
        figures = self.storage.crackerjack_phases(self.project)
        phases = {key: self._summary(key, figures.get(key)) for key in CRACKERJACK_PHASES.table}
        recorded = [p for p in phases.values() if p["invocations"]]
        slowest = max(recorded, key=lambda p: (p["mean_duration"], p["phase"]), default=None)
        return {
            "project": self.project,
            "session_id": self.session_id,
            "runs": self.storage.crackerjack_runs(self.project),
            "invocations": sum(p["invocations"] for p in recorded),
            "phases": phases,
            "bottlenecks": [p["phase"] for p in recorded if p["bottleneck"]],
            "slowest_phase": slowest["phase"] if slowest else None,
        }
