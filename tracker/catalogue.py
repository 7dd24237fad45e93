"""The skill catalogue's entries, and the built-in ones it is seeded with.

Every skill the product vocabulary names (the Crackerjack and CI/CD tables,
the IDE language tables, the code patterns, the default shortcuts) has an
entry here with a one-line description, its usual workflow phase and the
languages it applies to (empty: any language). Users add their own with
``session-buddy-ci skills add`` or ``POST /api/v1/skills``.

>>> BUILTIN["pytest-run"].workflow_phase
<WorkflowPhase.EXECUTION: 'execution'>
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .ide_rules import normalise_language
from .phases import WorkflowPhase
from .records import check_name

MAX_DESCRIPTION = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_LANGUAGES = 20


@dataclass(frozen=True)
class CatalogueEntry:
    """A skill: name, one-line description, usual phase, languages.

    :raises ValueError: naming the field that is empty or malformed.
    """

    name: str
    description: str
    workflow_phase: WorkflowPhase | None = None
    languages: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "name", check_name(self.name, "name"))
        if not isinstance(self.description, str) or not self.description.strip():
            raise ValueError("description must be a non-empty string")
        if len(self.description) > MAX_DESCRIPTION:
            raise ValueError(f"description is longer than {MAX_DESCRIPTION} characters")
        set_(self, "description", " ".join(self.description.split()))
        # Line breaks and tabs became spaces; what control characters are left
        # (NUL, escape…) have no place in a one-line description.
        if _CONTROL.search(self.description):
            raise ValueError("description must not contain control characters")
        if self.workflow_phase is not None:
            set_(self, "workflow_phase", WorkflowPhase.parse(self.workflow_phase))
        if isinstance(self.languages, str) or not isinstance(self.languages, Iterable):
            raise ValueError("languages must be a list of language names")
        langs = tuple(dict.fromkeys(normalise_language(check_name(x, "languages")) for x in self.languages))
        if len(langs) > MAX_LANGUAGES:
            raise ValueError(f"languages lists more than {MAX_LANGUAGES} languages")
        set_(self, "languages", langs)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CatalogueEntry:
        """An entry read back from the catalogue table (validated when it
        was stored, so not again: thousands are read at once)."""
        entry = object.__new__(cls)
        phase = row["workflow_phase"]
        for name, value in (
            ("name", row["name"]),
            ("description", row["description"]),
            ("workflow_phase", WorkflowPhase(phase) if phase else None),
            ("languages", tuple(row["languages"] or ())),
        ):
            object.__setattr__(entry, name, value)
        return entry

    def embedding_text(self) -> str:
        """What is embedded: the name's words, then the description."""
        words = self.name.replace("-", " ").replace("_", " ")
        return f"{words}: {self.description}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "workflow_phase": self.workflow_phase.value if self.workflow_phase else None,
            "languages": list(self.languages),
        }


_S, _E, _V, _D = (
    WorkflowPhase.SETUP,
    WorkflowPhase.EXECUTION,
    WorkflowPhase.VERIFICATION,
    WorkflowPhase.DEPLOYMENT,
)
_PY = ("python",)
_JS = ("javascript", "typescript")

_SEED: tuple[tuple[str, str, WorkflowPhase, tuple[str, ...]], ...] = (
    # Formatting and quick fixes (Crackerjack's fast hooks).
    ("ruff-format", "Format Python code with ruff's formatter (Black-compatible style).", _S, _PY),
    ("black-format", "Format Python code with Black, the uncompromising code formatter.", _S, _PY),
    ("prettier-format", "Format JavaScript, TypeScript, JSON and CSS with Prettier.", _S, _JS),
    ("eslint-format", "Auto-fix JavaScript and TypeScript style problems with eslint --fix.", _S, _JS),
    ("import-sort", "Sort and group import statements (isort rules via ruff).", _S, _PY),
    ("codespell", "Find and fix common spelling mistakes in code, comments and docs.", _S, ()),
    ("whitespace-check", "Remove trailing whitespace and fix missing final newlines.", _S, ()),
    ("sql-format", "Format SQL queries consistently (keywords, indentation).", _S, ("sql", "python")),
    # Building and installing.
    ("uv-install", "Install Python dependencies into the virtualenv with uv sync.", _S, _PY),
    ("npm-install", "Install Node.js dependencies with npm ci.", _S, _JS),
    ("docker-build", "Build the container image from the Dockerfile.", _S, ()),
    ("compile", "Compile or build the project's sources and packages.", _S, ()),
    # Tests.
    ("pytest-run", "Run the Python unit tests with pytest.", _E, _PY),
    ("pytest-coverage", "Run pytest with coverage and report untested lines.", _E, _PY),
    ("pytest-debug", "Debug a failing Python test with pytest --pdb, stopping at the failure.", _E, _PY),
    (
        "pytest-asyncio",
        "Run async Python tests (coroutines, event loop fixtures) with pytest-asyncio.",
        _E,
        _PY,
    ),
    ("test-discovery", "Discover which test files and test cases exist and would run.", _E, ()),
    ("jest-run", "Run JavaScript and TypeScript unit tests with Jest.", _E, _JS),
    ("mocha-test", "Run JavaScript tests with Mocha.", _E, ("javascript",)),
    ("vitest-run", "Run TypeScript and JavaScript unit tests with Vitest.", _E, _JS),
    ("coverage-report", "Produce a test coverage report (HTML, XML or terminal).", _E, ()),
    # AI agents (Crackerjack's ai_fix phase).
    ("refactoring-agent", "AI agent that refactors code to reduce complexity and duplication.", _E, ()),
    ("security-agent", "AI agent that fixes security issues found by scanners.", _E, ()),
    ("performance-agent", "AI agent that optimises slow code paths and algorithms.", _E, ()),
    ("test-creation-agent", "AI agent that writes missing unit tests for untested code.", _E, ()),
    ("doc-generate", "Generate docstrings and API documentation for functions and classes.", _E, ()),
    # Linting, type checking, analysis.
    ("ruff-check", "Lint Python code with ruff: errors, unused imports, style and bug patterns.", _V, _PY),
    ("pylint-check", "Lint Python code with pylint: code smells, design and naming checks.", _V, _PY),
    ("flake8-check", "Lint Python code with flake8 for PEP 8 style errors.", _V, _PY),
    ("mypy-check", "Check Python type annotations and type errors with mypy.", _V, _PY),
    ("pyright-check", "Check Python types with pyright, a fast static type checker.", _V, _PY),
    ("zuban-check", "Check Python types with zuban, a mypy-compatible type checker.", _V, _PY),
    ("eslint-check", "Lint JavaScript and TypeScript code with ESLint.", _V, _JS),
    ("tsc-check", "Type-check TypeScript with the compiler (tsc --noEmit).", _V, ("typescript",)),
    ("complexity-check", "Flag functions whose cognitive complexity is too high (complexipy).", _V, _PY),
    ("skylos-deadcode", "Find dead code: unused functions, classes and imports (skylos).", _V, _PY),
    ("asyncio-check", "Check async code for blocking calls and un-awaited coroutines.", _V, _PY),
    ("docstring-check", "Check that docstrings exist and follow the project's style.", _V, _PY),
    ("sql-lint", "Lint SQL statements for errors and risky patterns (sqlfluff).", _V, ("sql", "python")),
    # Security.
    (
        "bandit-security",
        "Scan Python code for security issues (eval, exec, subprocess, secrets) with bandit.",
        _V,
        _PY,
    ),
    ("security-scan", "Scan code for injection risks, dangerous calls and hard-coded secrets.", _V, ()),
    ("safety-check", "Check Python dependencies for known vulnerabilities.", _V, _PY),
    ("npm-audit", "Check Node.js dependencies for known vulnerabilities with npm audit.", _V, _JS),
    # Deployment and publishing.
    ("docker-push", "Push the built container image to the registry.", _D, ()),
    ("helm-deploy", "Deploy to Kubernetes with a Helm chart upgrade.", _D, ()),
    ("terraform-apply", "Apply infrastructure changes with terraform apply.", _D, ()),
    ("npm-publish", "Publish the package to the npm registry.", _D, _JS),
    ("pypi-publish", "Build and publish the Python package to PyPI.", _D, _PY),
)

#: The built-in skills, by name.
BUILTIN: Mapping[str, CatalogueEntry] = MappingProxyType(
    {name: CatalogueEntry(name, text, phase, langs) for name, text, phase, langs in _SEED}
)


def builtin_entries() -> list[CatalogueEntry]:
    """The built-in skills, in a stable order."""
    return list(BUILTIN.values())


def usual_phase(skill_name: str) -> WorkflowPhase | None:
    """The usual phase of a built-in skill, or ``None``."""
    entry = BUILTIN.get(skill_name)
    return entry.workflow_phase if entry else None
