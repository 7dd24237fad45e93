"""SkillsTracker: record skill invocations of a session, recommend skills.

>>> tracker = SkillsTracker(session_id="crackerjack_123")        # doctest: +SKIP
>>> done = tracker.track_invocation("pytest-run", user_query="run the tests")  # doctest: +SKIP
>>> done(completed=True)        # duration measured since track_invocation  # doctest: +SKIP
>>> tracker.recommend_skills("check my types", limit=3)           # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from .catalogue import BUILTIN
from .embeddings import Embedder
from .phases import Outcome, Source, WorkflowPhase
from .ranking import SkillRecommendation, blend, history_score, phase_fit
from .records import MAX_PATH_LENGTH, InvocationRecord, check_duration, check_length, check_name, utcnow
from .semantic import SkillCatalogue
from .settings import Settings
from .storage import SkillsStorage

MAX_LIMIT = 100


class InvocationCompleter:
    """Returned by :meth:`SkillsTracker.track_invocation`: call it once
    when the skill has finished. The duration is measured from
    ``track_invocation`` unless given."""

    def __init__(self, tracker: SkillsTracker, fields: dict[str, Any], invoked_at: datetime) -> None:
        self._tracker = tracker
        self._fields = fields
        self._invoked_at = invoked_at
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self.invocation_id: int | None = None
        self.done = False

    def __call__(
        self,
        completed: bool = True,
        duration: float | None = None,
        error_type: str | None = None,
        *,
        error_message: str | None = None,
        follow_up_actions: list[str] | None = None,
    ) -> int | None:
        """Record the outcome; returns the stored row id.

        :raises RuntimeError: when called a second time.
        :raises ValueError: for a negative or non-finite duration.
        """
        with self._lock:
            if self.done:
                raise RuntimeError(f"the invocation of {self._fields['skill_name']} was already completed")
            seconds = (
                time.monotonic() - self._started if duration is None else check_duration(duration, "duration")
            )
            record = self._tracker._record(
                self._fields,
                self._invoked_at,
                completed=bool(completed),
                duration=seconds,
                error_type=error_type,
                error_message=error_message,
                follow_up_actions=follow_up_actions,
            )
            self.invocation_id = self._tracker.storage.record_invocation(record)
            self.done = True
            return self.invocation_id

    complete = __call__


class SkillsTracker:
    """Tracks the skill invocations of one session and recommends skills.

    :param session_id: e.g. ``crackerjack_{id}``, ``{project}_{timestamp}``.
    :param storage: default: the database the settings name (the documented
        default file when nothing is set).
    :param project: the project the session belongs to; stored in
        ``workflow_path`` and used for "recent use in this project".
    :param refresh_baselines: recompute stale community baselines on a
        recommendation call (the receiver turns this off and refreshes them
        on its own schedule).
    """

    def __init__(
        self,
        session_id: str,
        storage: SkillsStorage | None = None,
        *,
        project: str | None = None,
        source: Source | str = Source.SESSION,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        catalogue: SkillCatalogue | None = None,
        refresh_baselines: bool = True,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.session_id = check_name(session_id, "session_id", limit=300)
        self.settings = settings or (storage.settings if storage else Settings.from_env())
        self.storage = storage or SkillsStorage(settings=self.settings)
        self.project = check_name(project, "project") if project is not None else None
        self.source = Source(source)
        self.refresh_baselines = refresh_baselines
        self.clock = clock
        self._embedder = embedder
        self._catalogue = catalogue

    @property
    def catalogue(self) -> SkillCatalogue:
        """The catalogue (its embedder loads on the first search, not here)."""
        if self._catalogue is None:
            self._catalogue = SkillCatalogue(self.storage, self._embedder)
        return self._catalogue

    def track_invocation(
        self,
        skill_name: str,
        workflow_phase: WorkflowPhase | str | None = None,
        user_query: str | None = None,
        alternatives_considered: Sequence[str] | None = None,
        selection_rank: int | None = None,
        *,
        workflow_path: str | None = None,
        stage: str | None = None,
        workflow_step_id: str | None = None,
    ) -> InvocationCompleter:
        """Start tracking a run of ``skill_name``; call the returned
        completer when it ends. Without ``workflow_phase`` the skill's usual
        phase from the catalogue is used (else ``execution``).

        :raises ValueError: for a malformed name or phase, now rather than
            at completion.
        """
        fields = {
            "skill_name": check_name(skill_name, "skill_name"),
            "workflow_phase": WorkflowPhase.parse(workflow_phase) if workflow_phase is not None else None,
            "user_query": user_query,
            "alternatives_considered": list(alternatives_considered) if alternatives_considered else None,
            "selection_rank": selection_rank,
            "workflow_path": check_length(workflow_path or self.project, "workflow_path", MAX_PATH_LENGTH),
            "stage": stage,
            "workflow_step_id": check_length(workflow_step_id, "workflow_step_id", MAX_PATH_LENGTH),
        }
        if selection_rank is not None and (
            isinstance(selection_rank, bool) or not isinstance(selection_rank, int)
        ):
            raise ValueError("selection_rank must be an integer")
        return InvocationCompleter(self, fields, self.clock())

    def _record(
        self,
        fields: dict[str, Any],
        invoked_at: datetime,
        *,
        completed: bool,
        duration: float,
        error_type: str | None,
        error_message: str | None,
        follow_up_actions: list[str] | None,
    ) -> InvocationRecord:
        phase = fields["workflow_phase"] or self.usual_phase(fields["skill_name"]) or WorkflowPhase.EXECUTION
        if fields["user_query"]:
            self.storage.remember_query(fields["user_query"])
        return InvocationRecord(
            skill_name=fields["skill_name"],
            session_id=self.session_id,
            workflow_phase=phase,
            source=self.source,
            outcome=Outcome.from_completed(completed),
            duration_seconds=duration,
            invoked_at=invoked_at,
            stage=fields["stage"],
            error_type=error_type,
            error_message=error_message,
            workflow_path=fields["workflow_path"],
            workflow_step_id=fields["workflow_step_id"],
            user_query=fields["user_query"],
            alternatives_considered=fields["alternatives_considered"],
            selection_rank=fields["selection_rank"],
            follow_up_actions=follow_up_actions,
        )

    def usual_phase(self, skill_name: str) -> WorkflowPhase | None:
        """The catalogue's usual phase of a skill (built-in or user-added)."""
        entry = BUILTIN.get(skill_name)
        if entry is not None:
            return entry.workflow_phase
        rows = self.storage.catalogue_entries([skill_name])
        phase = rows[0]["workflow_phase"] if rows else None
        return WorkflowPhase(phase) if phase else None

    def recommend_skills(
        self,
        query: str,
        limit: int = 5,
        workflow_phase: WorkflowPhase | str | None = None,
        *,
        project: str | None = None,
        candidates: Iterable[str] = (),
        candidates_only: bool = False,
    ) -> list[SkillRecommendation]:
        """The ``limit`` best skills for ``query``, ranked by the blend of
        :mod:`tracker.ranking` (similarity, phase fit, history). The
        distinct query is stored with its embedding. ``candidates`` are
        considered beside the semantic neighbours (the usual skills of a
        phase, say); with ``candidates_only`` only they are ranked.

        :raises ValueError: for an empty query, a bad limit or phase.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
        phase = WorkflowPhase.parse(workflow_phase).value if workflow_phase is not None else None
        catalogue = self.catalogue
        vector = catalogue.embed_query(query, remember=True)
        matches = [] if candidates_only else catalogue.search(vector, k=max(4 * limit, 20))
        sims = {m.name: m.similarity for m in matches}
        extra = [c for c in dict.fromkeys(candidates) if c not in sims]
        sims.update(catalogue.similarities(vector, extra))
        names = list(dict.fromkeys([*sims, *extra]))
        if self.refresh_baselines:
            self.storage.refresh_baselines_if_stale(self.settings.baseline_refresh_hours)
        entries = catalogue.entries(names)
        histories = self.storage.skill_history(names, project=project or self.project)
        ranked = []
        for name in names:
            entry = entries.get(name)
            usual = entry.workflow_phase.value if entry and entry.workflow_phase else None
            hist = histories.get(name)
            fit = phase_fit(usual, hist, phase)
            h = history_score(hist)
            sim = sims.get(name, 0.0)
            ranked.append(
                SkillRecommendation(
                    skill_name=name,
                    description=entry.description if entry else "",
                    score=blend(similarity=sim, phase_fit=fit, history=h),
                    similarity=sim,
                    phase_fit=fit,
                    history_score=h,
                    workflow_phase=usual,
                    history_source=hist.source if hist else "none",
                    completion_rate=hist.completion_rate if hist else None,
                    mean_duration=hist.mean_duration if hist else None,
                    embedder=catalogue.embedder_name,
                )
            )
        ranked.sort(key=lambda r: (-r.score, r.skill_name))
        return ranked[:limit]

    def get_recommendations(
        self, user_query: str, limit: int = 5, workflow_phase: str | None = None
    ) -> list[dict[str, Any]]:
        """:meth:`recommend_skills` as dicts (the shape Crackerjack's own
        skills-tracking protocol expects)."""
        return [r.to_dict() for r in self.recommend_skills(user_query, limit, workflow_phase)]

    def close(self) -> None:
        self.storage.close()
