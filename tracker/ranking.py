"""How recommendations are ranked: one documented blend, pure functions.

Every signal is a number from 0 to 1:

- **similarity**: cosine similarity of the query and the skill's catalogue
  text, clipped at 0.
- **phase fit**: 1 when the skill's usual phase is the phase asked for, 0.5
  when the skill has history in that phase (but usually belongs to another),
  else 0; 0.5 for every skill when no phase is asked for.
- **history** = 0.6 × completion + 0.2 × speed + 0.2 × recency, where
  completion is the Laplace-smoothed rate ``(completed + 1) / (runs + 2)``,
  speed is ``1 / (1 + mean seconds / 300)`` (300 s is the "slow stage"
  threshold: a skill that takes that long scores 0.5), and recency is
  ``min(1, runs in the last 30 days / 5)``. The figures are the project's
  own (last 90 days) when it has some, else the community baseline, else
  neutral (completion 0.5, speed 0.5, recency 0: history 0.4).

``score = 0.55 × similarity + 0.20 × phase fit + 0.25 × history``

>>> round(blend(similarity=0.8, phase_fit=1.0, history=0.4), 3)
0.74
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .storage.skill_history import SkillHistory

W_SIMILARITY = 0.55
W_PHASE = 0.20
W_HISTORY = 0.25

SLOW_SECONDS = 300.0
RECENT_RUNS_FOR_FULL_SCORE = 5


def blend(*, similarity: float, phase_fit: float, history: float) -> float:
    """The recommendation score (0–1)."""
    return W_SIMILARITY * max(0.0, min(1.0, similarity)) + W_PHASE * phase_fit + W_HISTORY * history


def speed_score(mean_seconds: float | None) -> float:
    """1 for an instant skill, 0.5 at 300 s, towards 0 for slower ones."""
    if mean_seconds is None:
        return 0.5
    return 1.0 / (1.0 + max(0.0, mean_seconds) / SLOW_SECONDS)


def history_score(history: SkillHistory | None) -> float:
    """0.6 × smoothed completion + 0.2 × speed + 0.2 × recency."""
    if history is None or history.source == "none" or history.runs == 0:
        return 0.6 * 0.5 + 0.2 * 0.5
    completion = (history.completed + 1) / (history.runs + 2)
    recency = min(1.0, history.recent_runs / RECENT_RUNS_FOR_FULL_SCORE)
    return 0.6 * completion + 0.2 * speed_score(history.mean_duration) + 0.2 * recency


def phase_fit(usual_phase: str | None, history: SkillHistory | None, wanted: str | None) -> float:
    """1 for the usual phase, 0.5 with history in it (or no phase asked), else 0."""
    if wanted is None:
        return 0.5
    if usual_phase == wanted:
        return 1.0
    if history is not None and wanted in history.phases:
        return 0.5
    return 0.0


@dataclass(frozen=True)
class SkillRecommendation:
    """A ranked skill, with the signals that ranked it."""

    skill_name: str
    description: str
    score: float
    similarity: float
    phase_fit: float
    history_score: float
    workflow_phase: str | None
    history_source: str
    completion_rate: float | None
    mean_duration: float | None
    embedder: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "skill_name": self.skill_name,
            "description": self.description,
            "score": round(self.score, 4),
            "similarity": round(self.similarity, 4),
            "phase_fit": self.phase_fit,
            "history_score": round(self.history_score, 4),
            "workflow_phase": self.workflow_phase,
            "history_source": self.history_source,
            "completion_rate": None if self.completion_rate is None else round(self.completion_rate, 4),
            "mean_duration": None if self.mean_duration is None else round(self.mean_duration, 3),
            "embedder": self.embedder,
        }
