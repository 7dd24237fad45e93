"""The shared workflow vocabulary: phases, and the maps from each tool's own
stage names onto them.

This module uses the standard library only: the GitHub Action imports it on
every CI step, where nothing has been pip-installed.

>>> CI_STAGES.phase_for("lint")
<WorkflowPhase.VERIFICATION: 'verification'>
>>> CI_STAGES.phase_for("smoke-tests")          # unknown: documented default
<WorkflowPhase.EXECUTION: 'execution'>
>>> CRACKERJACK_PHASES.phase_for("fast_hooks")
<WorkflowPhase.SETUP: 'setup'>
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # ubuntu-22.04 runners run the Action with Python 3.10

    class StrEnum(str, enum.Enum):
        """``enum.StrEnum`` of Python 3.11: members are their values as text."""

        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return str(self.value).__format__(spec)


class WorkflowPhase(StrEnum):
    """The four phases every tool's stages map onto."""

    SETUP = "setup"
    EXECUTION = "execution"
    VERIFICATION = "verification"
    DEPLOYMENT = "deployment"

    @classmethod
    def parse(cls, value: str | WorkflowPhase) -> WorkflowPhase:
        """Return the phase named ``value`` (case-insensitive).

        :raises ValueError: naming the valid phases.
        """
        if isinstance(value, WorkflowPhase):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            valid = ", ".join(p.value for p in cls)
            raise ValueError(f"unknown workflow phase {value!r}; valid phases: {valid}") from None


class Integration(StrEnum):
    """Which stage vocabulary a name belongs to."""

    CI = "ci"
    CRACKERJACK = "crackerjack"


class Source(StrEnum):
    """Where a skill invocation was recorded from."""

    CI = "ci"
    CRACKERJACK = "crackerjack"
    IDE = "ide"
    WEBHOOK = "webhook"
    SESSION = "session"


class Outcome(StrEnum):
    """How a run ended. Skipped and cancelled runs are not failures."""

    SUCCESS = "success"
    FAILURE = "failure"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @classmethod
    def from_completed(cls, completed: bool) -> Outcome:
        return cls.SUCCESS if completed else cls.FAILURE


def stage_key(name: str) -> str:
    """How a stage (or job) name is compared: case and runs of spaces
    ignored, so that every map and rule finds a name alike.

    >>> stage_key("  Smoke   Test ")
    'smoke test'
    """
    return " ".join(name.split()).lower()


@dataclass(frozen=True)
class PhaseMap:
    """A case-insensitive map from stage names to workflow phases.

    Unknown names are not an error: real pipelines name their stages freely,
    so they map to ``default``. Use :meth:`extended` to add your own names
    without touching the built-in table.
    """

    name: str
    table: Mapping[str, WorkflowPhase]
    default: WorkflowPhase
    usual_skills: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        normalised = {stage_key(k): WorkflowPhase.parse(v) for k, v in self.table.items()}
        object.__setattr__(self, "table", MappingProxyType(normalised))
        object.__setattr__(self, "usual_skills", MappingProxyType(dict(self.usual_skills)))

    def phase_for(self, stage: str) -> WorkflowPhase:
        """The phase of ``stage``, or the default for an unknown name."""
        return self.table.get(stage_key(stage), self.default)

    def knows(self, stage: str) -> bool:
        return stage_key(stage) in self.table

    def strict_phase_for(self, stage: str) -> WorkflowPhase:
        """Like :meth:`phase_for`, but an unknown name is a ``ValueError``
        that lists the valid names."""
        key = stage_key(stage)
        if key not in self.table:
            valid = ", ".join(self.table)
            raise ValueError(f"unknown {self.name} phase {stage!r}; valid phases: {valid}")
        return self.table[key]

    def extended(self, extra: Mapping[str, WorkflowPhase | str]) -> PhaseMap:
        """A copy with ``extra`` names added (or overriding built-in ones).

        >>> CI_STAGES.extended({"e2e": "verification"}).phase_for("E2E")
        <WorkflowPhase.VERIFICATION: 'verification'>
        """
        merged: dict[str, WorkflowPhase] = dict(self.table)
        merged.update({stage_key(k): WorkflowPhase.parse(v) for k, v in extra.items()})
        return PhaseMap(self.name, merged, self.default, self.usual_skills)

    def skills_for_phase(self, phase: WorkflowPhase) -> tuple[str, ...]:
        """Usual skills of every stage of this map that lands on ``phase``."""
        seen: dict[str, None] = {}
        for stage, stage_phase in self.table.items():
            if stage_phase is phase:
                seen.update(dict.fromkeys(self.usual_skills.get(stage, ())))
        return tuple(seen)


_S, _E, _V, _D = (
    WorkflowPhase.SETUP,
    WorkflowPhase.EXECUTION,
    WorkflowPhase.VERIFICATION,
    WorkflowPhase.DEPLOYMENT,
)

#: Crackerjack's phases. Unknown Crackerjack phases are errors (use
#: :meth:`PhaseMap.strict_phase_for`): Crackerjack has a fixed set.
CRACKERJACK_PHASES = PhaseMap(
    "crackerjack",
    {"fast_hooks": _S, "tests": _E, "comprehensive_hooks": _V, "ai_fix": _E},
    default=_E,
    usual_skills={
        "fast_hooks": ("ruff-format", "ruff-check", "codespell", "whitespace-check"),
        "tests": ("pytest-run", "pytest-coverage", "test-discovery"),
        "comprehensive_hooks": (
            "mypy-check",
            "pyright-check",
            "zuban-check",
            "bandit-security",
            "complexity-check",
            "skylos-deadcode",
        ),
        "ai_fix": (
            "refactoring-agent",
            "security-agent",
            "performance-agent",
            "test-creation-agent",
        ),
    },
)

#: CI/CD stage names. Unknown stage names map to ``execution``: a stage
#: nobody named is most often "the thing the pipeline runs".
CI_STAGES = PhaseMap(
    "ci",
    {
        "build": _S,
        "test": _E,
        "lint": _V,
        "security": _V,
        "deploy": _D,
        "publish": _D,
    },
    default=_E,
    usual_skills={
        "build": ("uv-install", "npm-install", "docker-build", "compile"),
        "test": ("pytest-run", "jest-run", "test-discovery", "coverage-report"),
        "lint": ("ruff-check", "mypy-check", "eslint-check", "tsc-check"),
        "security": ("bandit-security", "safety-check", "npm-audit"),
        "deploy": ("docker-push", "helm-deploy", "terraform-apply"),
        "publish": ("npm-publish", "pypi-publish"),
    },
)


def parse_phase_overrides(text: str) -> dict[str, WorkflowPhase]:
    """Parse ``"e2e=verification,package=setup"`` into a mapping.

    This is the format of the ``SESSION_BUDDY_CI_STAGE_PHASES`` setting.

    :raises ValueError: on an entry without ``=`` or an unknown phase.
    """
    result: dict[str, WorkflowPhase] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, phase = entry.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"stage phase entry {entry!r} is not of the form name=phase")
        result[stage_key(name)] = WorkflowPhase.parse(phase)
    return result


def phase_map_for(
    integration: Integration | str, overrides: Mapping[str, WorkflowPhase] | None = None
) -> PhaseMap:
    """The phase map of an integration, with user overrides applied."""
    base = CRACKERJACK_PHASES if Integration(integration) is Integration.CRACKERJACK else CI_STAGES
    return base.extended(overrides) if overrides else base
