"""Which workflow phase a GitHub job or step belongs to.

Job and step names are free text ("linters", "Run yarn run js-lint",
"Analyze (javascript)"), so the rules look for words: a name maps to the
phase of the first word stem found at a word start. Exact names come first
(the CI stage table and the ``SESSION_BUDDY_CI_STAGE_PHASES`` setting),
then the ``SESSION_BUDDY_CI_GITHUB_PHASE_WORDS`` setting, then the defaults
below. A step none of them recognise takes its job's phase; a job none of
them recognise takes the CI default (``execution``).

>>> rules = PhaseRules.default()
>>> [rules.job_phase(n).value for n in ("linters", "Analyze (javascript)", "Unit tests", "update")]
['verification', 'verification', 'execution', 'execution']
>>> rules.job_phase("fast_hooks").value   # a Crackerjack phase, as for any stage name
'setup'
>>> rules.step_phase("Run actions/checkout@v2", WorkflowPhase.VERIFICATION).value
'setup'
>>> rules.step_phase("Complete job", WorkflowPhase.VERIFICATION).value
'verification'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from ..phases import CI_STAGES, CRACKERJACK_PHASES, PhaseMap, WorkflowPhase, parse_phase_overrides, stage_key
from ..settings import Settings

_S, _E, _V, _D = (
    WorkflowPhase.SETUP,
    WorkflowPhase.EXECUTION,
    WorkflowPhase.VERIFICATION,
    WorkflowPhase.DEPLOYMENT,
)

#: Default word stems, in the order they are tried: security and lint words
#: before the others, so "lint and test" is verification and
#: "dependency-review" is not mistaken for installing dependencies.
DEFAULT_WORDS: tuple[tuple[str, WorkflowPhase], ...] = (
    *((w, _V) for w in ("secur", "codeql", "audit", "bandit", "brakeman", "snyk", "trivy", "semgrep")),
    *((w, _V) for w in ("sast", "vulnerab", "scan", "dependency-review", "analy")),
    *((w, _V) for w in ("lint", "format", "fmt", "ruff", "mypy", "pyright", "eslint", "prettier")),
    *((w, _V) for w in ("rubocop", "flake8", "pylint", "isort", "clippy", "shellcheck", "hadolint")),
    *((w, _V) for w in ("typecheck", "type-check", "type check", "codespell", "zizmor")),
    *((w, _D) for w in ("deploy", "publish", "release", "upload", "push", "helm", "terraform")),
    *((w, _E) for w in ("test", "pytest", "jest", "vitest", "mocha", "coverage", "e2e", "tox", "nox")),
    *((w, _S) for w in ("build", "compil", "install", "setup", "set up", "checkout", "cache")),
    *((w, _S) for w in ("depend", "deps", "bootstrap", "prepare", "restore", "download", "configure")),
)


def _pattern(stem: str) -> re.Pattern[str]:
    # A stem matches at a word start: "lint" in "js-lint" and "linters",
    # never in "splinter".
    return re.compile(r"(?<![0-9A-Za-z])" + re.escape(stage_key(stem)))


@dataclass(frozen=True)
class PhaseRules:
    """Exact names, then word stems in order, then ``fallback``."""

    exact: Mapping[str, WorkflowPhase]
    words: tuple[tuple[str, WorkflowPhase], ...]
    fallback: WorkflowPhase = CI_STAGES.default
    _compiled: tuple[tuple[re.Pattern[str], WorkflowPhase], ...] = field(
        default=(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        exact = {stage_key(k): WorkflowPhase.parse(v) for k, v in self.exact.items()}
        object.__setattr__(self, "exact", MappingProxyType(exact))
        object.__setattr__(self, "_compiled", tuple((_pattern(w), p) for w, p in self.words if w.strip()))

    @classmethod
    def default(cls) -> PhaseRules:
        return cls(dict(CI_STAGES.table), DEFAULT_WORDS)

    @classmethod
    def build(
        cls,
        *,
        exact: Mapping[str, WorkflowPhase] | None = None,
        words: Sequence[tuple[str, WorkflowPhase]] = (),
    ) -> PhaseRules:
        """The defaults with ``exact`` names and ``words`` (tried first) added."""
        table = {**dict(CI_STAGES.table), **dict(exact or {})}
        return cls(table, (*words, *DEFAULT_WORDS))

    @classmethod
    def from_settings(cls, settings: Settings) -> PhaseRules:
        """Rules with ``stage_phases`` (exact names) and ``github_phase_words``."""
        words = parse_phase_overrides(settings.github_phase_words)
        return cls.build(exact=settings.stage_phase_overrides, words=tuple(words.items()))

    def match(self, name: str) -> WorkflowPhase | None:
        """The phase a name names, or ``None`` when no rule recognises it."""
        key = stage_key(name)
        if key in self.exact:
            return self.exact[key]
        for pattern, phase in self._compiled:
            if pattern.search(key):
                return phase
        return None

    def job_phase(self, job_name: str) -> WorkflowPhase:
        """The phase of a job (the stage), as of any stage name: exact names,
        Crackerjack's phases, words, else ``fallback``."""
        key = stage_key(job_name)
        if key in self.exact:
            return self.exact[key]
        if CRACKERJACK_PHASES.knows(job_name):
            return CRACKERJACK_PHASES.phase_for(job_name)
        return self.match(job_name) or self.fallback

    def step_phase(self, step_name: str, job_phase: WorkflowPhase) -> WorkflowPhase:
        """The phase of a step: a rule's, else its job's."""
        return self.match(step_name) or job_phase


def stage_phase(stage: str, ci_map: PhaseMap = CI_STAGES, rules: PhaseRules | None = None) -> WorkflowPhase:
    """The phase of a stage name, whoever reported it (the Action, a
    webhook's job): the CI map's names first, then Crackerjack's phases (a
    CI step may be named after one), then the words of the name
    (``rules``), then the CI default.

    >>> [stage_phase(n, rules=PhaseRules.default()).value for n in ("lint", "tests", "linters", "smoke")]
    ['verification', 'execution', 'verification', 'execution']
    """
    if ci_map.knows(stage):
        return ci_map.phase_for(stage)
    if rules is not None:
        return rules.job_phase(stage)
    if CRACKERJACK_PHASES.knows(stage):
        return CRACKERJACK_PHASES.phase_for(stage)
    return ci_map.phase_for(stage)
