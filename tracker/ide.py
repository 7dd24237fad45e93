"""The IDE plugin protocol: what to run on the code in front of you.

An editor sends an :class:`IDEContext` (file, line, selection, language,
cursor, project); :meth:`IDEPluginProtocol.get_code_context_recommendations`
answers with :class:`IDESuggestion` objects. Each skill gets these signals
(0–1):

- **rules**: a code-pattern regex matched the selection (first skill of
  the pattern 1.0, second 0.9); the file is a test file (the language's
  testing skills 0.9, 0.8, 0.7); the kind of file calls for it
  (:data:`~tracker.ide_rules.FILE_KIND_SKILLS`: a Dockerfile → docker-build
  0.8, docker-push 0.7…); the language table lists the skill (0.35 in the
  category of the inferred phase, else 0.25: a table says what a language
  has, a pattern what this code needs). Each further rule naming the skill
  adds 0.05.
- **similarity** of the context (language, file name words, the phase's
  verbs, the selection) to the skill's catalogue text.
- **phase fit**: 1 when the skill's usual phase is the phase inferred from
  the file (:func:`tracker.ide_rules.infer_phase`).
- **history**: as in :mod:`tracker.ranking`, for the context's project.
- **language fit**: 1 when the skill has no languages or lists the
  context's, else 0.4 (a factor).

``confidence = language fit × (0.45 rules + 0.25 similarity + 0.15 phase
fit + 0.15 history) + feedback``, clipped to 0–1, where feedback is
``0.3 × (acceptance − 0.5)`` with acceptance the smoothed share of accepted
suggestions ``(accepted + 1) / (accepted + rejected + 2)`` for the language
once it has 3 answers, else over all languages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .embeddings import Embedder
from .ide_context import FieldError, IDEContext
from .ide_rules import (
    CATEGORY_PHASES,
    LANGUAGE_SKILLS,
    file_kind_skills,
    matching_patterns,
    normalise_shortcut,
)
from .phases import Outcome, Source, WorkflowPhase
from .ranking import history_score
from .records import InvocationRecord, check_duration, check_name, utcnow
from .semantic import SkillCatalogue
from .settings import Settings
from .storage import SkillsStorage
from .storage.ide import FeedbackStats

W_RULES, W_SIMILARITY, W_PHASE, W_HISTORY = 0.45, 0.25, 0.15, 0.15
FEEDBACK_WEIGHT = 0.3
LANGUAGE_MISMATCH = 0.4
SEMANTIC_NEIGHBOURS = 20
MAX_LIMIT = 50

_PHASE_WORDS = {
    WorkflowPhase.SETUP: "install build format",
    WorkflowPhase.EXECUTION: "run tests",
    WorkflowPhase.VERIFICATION: "lint check types security",
    WorkflowPhase.DEPLOYMENT: "deploy publish release container",
}

__all__ = ["FieldError", "IDEContext", "IDEPluginProtocol", "IDERecommendations", "IDESuggestion"]


@dataclass(frozen=True)
class IDESuggestion:
    """A skill to offer in the editor."""

    skill_name: str
    description: str
    confidence: float
    shortcut: str | None = None
    estimated_duration: float | None = None
    workflow_phase: WorkflowPhase | None = None
    reasons: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "skill_name", check_name(self.skill_name, "skill_name"))
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be between 0 and 1, not {self.confidence}")
        if self.estimated_duration is not None and self.estimated_duration < 0:
            raise ValueError("estimated_duration must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return {
            "skill_name": self.skill_name,
            "description": self.description,
            "confidence": round(self.confidence, 4),
            "shortcut": self.shortcut,
            "estimated_duration": None
            if self.estimated_duration is None
            else round(self.estimated_duration, 3),
            "workflow_phase": self.workflow_phase.value if self.workflow_phase else None,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class IDERecommendations:
    """Suggestions with what produced them."""

    suggestions: list[IDESuggestion]
    workflow_phase: WorkflowPhase
    embedder: str
    session_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "suggestions": [s.to_dict() for s in self.suggestions],
            "workflow_phase": self.workflow_phase.value,
            "embedder": self.embedder,
            "session_id": self.session_id,
        }


def _rule_signals(context: IDEContext, phase: WorkflowPhase) -> dict[str, tuple[float, list[str]]]:
    """Skill → (rule signal, reasons) from patterns, test file and language."""
    hits: dict[str, list[tuple[float, str]]] = {}

    def hit(skill: str, value: float, reason: str) -> None:
        hits.setdefault(skill, []).append((value, reason))

    if context.has_selection():
        for pattern in matching_patterns(context.selected_code or ""):
            for rank, skill in enumerate(pattern.skills):
                hit(skill, 1.0 - 0.1 * rank, f"pattern:{pattern.name}")
    for rank, skill in enumerate(file_kind_skills(context.file_path)):
        hit(skill, 0.8 - 0.1 * rank, "file-kind")
    tables = LANGUAGE_SKILLS.get(context.language, {})
    if context.is_test_file():
        testing = tables.get("testing", ("test-discovery",))
        for rank, skill in enumerate(testing):
            hit(skill, max(0.5, 0.9 - 0.1 * rank), "test-file")
    for category, skills in tables.items():
        base = 0.35 if CATEGORY_PHASES.get(category) is phase else 0.25
        for rank, skill in enumerate(skills):
            hit(skill, base - 0.02 * rank, f"language:{context.language}:{category}")
    return {
        skill: (min(1.0, max(v for v, _ in found) + 0.05 * (len(found) - 1)), [r for _, r in found])
        for skill, found in hits.items()
    }


def _feedback_shift(stats: FeedbackStats | None) -> float:
    if stats is None:
        return 0.0
    accepted, rejected = stats.accepted, stats.rejected
    if stats.language_accepted + stats.language_rejected >= 3:
        accepted, rejected = stats.language_accepted, stats.language_rejected
    acceptance = (accepted + 1) / (accepted + rejected + 2)
    return FEEDBACK_WEIGHT * (acceptance - 0.5)


class IDEPluginProtocol:
    """Recommendations, shortcuts and feedback for editor extensions.

    :param storage: an open storage to share; else ``db_path`` (a SQLite file
        or URL); else the settings' database.
    """

    def __init__(
        self,
        storage: SkillsStorage | None = None,
        db_path: str | Path | None = None,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        catalogue: SkillCatalogue | None = None,
        refresh_baselines: bool = True,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings or (storage.settings if storage else Settings.from_env())
        self.storage = storage or SkillsStorage(db_path, settings=self.settings)
        self._catalogue = catalogue
        self._embedder = embedder
        self.refresh_baselines = refresh_baselines
        self.clock = clock

    @property
    def catalogue(self) -> SkillCatalogue:
        if self._catalogue is None:
            self._catalogue = SkillCatalogue(self.storage, self._embedder)
        return self._catalogue

    def infer_workflow_phase(self, context: IDEContext) -> WorkflowPhase:
        """The phase of the context (test file → execution, Dockerfile or
        deploy script → deployment, lint configuration → verification,
        dependency manifest → setup, other source → verification)."""
        return context.workflow_phase()

    def get_code_context_recommendations(self, context: IDEContext, limit: int = 5) -> list[IDESuggestion]:
        """The ``limit`` best skills for ``context``, most confident first."""
        return self.recommend(context, limit).suggestions

    def recommend(self, context: IDEContext, limit: int = 5) -> IDERecommendations:
        """Like :meth:`get_code_context_recommendations`, with the inferred
        phase, the embedder that answered and the IDE session id."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise FieldError("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")
        phase = context.workflow_phase()
        rules = _rule_signals(context, phase)
        catalogue = self.catalogue
        version = catalogue.ensure_embedded()
        vector = catalogue.embed_query(context.query_text(_PHASE_WORDS[phase]))
        sims = {
            m.name: m.similarity for m in catalogue.search(vector, k=SEMANTIC_NEIGHBOURS, version=version)
        }
        missing = [s for s in rules if s not in sims]
        sims.update(catalogue.similarities(vector, missing))
        names = list(dict.fromkeys([*rules, *sims]))
        entries = catalogue.entries(names, version=version)
        names = [n for n in names if n in entries]
        if self.refresh_baselines:
            self.storage.refresh_baselines_if_stale(self.settings.baseline_refresh_hours)
        histories = self.storage.skill_history(names, project=context.project_name, phases=False)
        feedback = self.storage.feedback_stats(names, context.language)
        shortcuts = self.storage.shortcuts()
        scored = []
        for name in names:
            entry = entries[name]
            rule, reasons = rules.get(name, (0.0, []))
            sim = max(0.0, sims.get(name, 0.0))
            fit = 1.0 if entry.workflow_phase is phase else 0.0
            hist = histories.get(name)
            lang_fit = (
                1.0 if not entry.languages or context.language in entry.languages else LANGUAGE_MISMATCH
            )
            shift = _feedback_shift(feedback.get(name))
            raw = W_RULES * rule + W_SIMILARITY * sim + W_PHASE * fit + W_HISTORY * history_score(hist)
            confidence = min(1.0, max(0.0, lang_fit * raw + shift))
            why = [*reasons, f"similarity:{sim:.2f}"]
            if shift:
                why.append(f"feedback:{shift:+.2f}")
            scored.append(
                IDESuggestion(
                    skill_name=name,
                    description=entry.description,
                    confidence=confidence,
                    shortcut=shortcuts.get(name),
                    estimated_duration=hist.mean_duration if hist and hist.runs else None,
                    workflow_phase=entry.workflow_phase,
                    reasons=tuple(why),
                )
            )
        scored.sort(key=lambda s: (-s.confidence, s.skill_name))
        return IDERecommendations(scored[:limit], phase, catalogue.embedder_name, context.session_id)

    # -- shortcuts -------------------------------------------------------------

    def get_shortcut(self, skill_name: str) -> str | None:
        """The key combination of a skill, or ``None``."""
        return self.storage.shortcuts().get(skill_name)

    def get_available_shortcuts(self) -> dict[str, str]:
        """Every skill's shortcut: the defaults overlaid with the user's."""
        return self.storage.shortcuts()

    def register_shortcut(self, skill_name: str, shortcut: str, *, override: bool = False) -> str:
        """Bind ``shortcut`` to a catalogue skill; returns its canonical form.

        :raises FieldError: for a malformed combination or an unknown skill.
        :raises ShortcutConflict: when another skill has it (unless
            ``override``, which takes it from that skill).
        """
        try:
            name = check_name(skill_name, "skill_name")
        except ValueError as exc:
            raise FieldError("skill_name", str(exc)) from None
        try:
            combo = normalise_shortcut(shortcut)
        except ValueError as exc:
            raise FieldError("shortcut", str(exc)) from None
        if not self.catalogue.entries([name]):
            raise FieldError("skill_name", f"unknown skill {name!r}; add it to the catalogue first")
        self.storage.set_shortcut(name, combo, override=override)
        return combo

    # -- feedback --------------------------------------------------------------

    def record_feedback(
        self,
        skill_name: str,
        accepted: bool,
        context: IDEContext | None = None,
        *,
        confidence: float | None = None,
        completed: bool | None = None,
        duration: float | None = None,
    ) -> tuple[int, int | None]:
        """Store whether the user took a suggestion; later rankings move
        towards what is accepted (see the module docs). With ``completed``
        and ``duration`` the run itself is recorded too (source ``ide``,
        session ``{project_name}_{timestamp}``). Returns the feedback id and
        the invocation id (or ``None``)."""
        name = check_name(skill_name, "skill_name")
        run = None
        if completed is not None and duration is not None:
            # Built (and so validated) before anything is written.
            seconds = check_duration(duration, "duration")
            entry = self.catalogue.entries([name]).get(name)
            phase = context.workflow_phase() if context else None
            run = InvocationRecord(
                skill_name=name,
                session_id=context.session_id if context else f"ide_{self.clock():%Y%m%dT%H%M%S}",
                workflow_phase=phase or (entry.workflow_phase if entry else None) or WorkflowPhase.EXECUTION,
                source=Source.IDE,
                outcome=Outcome.from_completed(bool(completed)),
                duration_seconds=seconds,
                invoked_at=self.clock() - timedelta(seconds=seconds),
                workflow_path=context.project_name if context else None,
            )
        return self.storage.record_feedback(
            name,
            bool(accepted),
            language=context.language if context else None,
            project_name=context.project_name if context else None,
            file_path=context.file_path if context else None,
            workflow_phase=context.workflow_phase().value if context else None,
            confidence=confidence,
            run=run,
        )

    def close(self) -> None:
        self.storage.close()
