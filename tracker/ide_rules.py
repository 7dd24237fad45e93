"""The editor's rule tables: languages, code patterns, test files, shortcuts,
and the workflow phase a piece of code is in.

Standard library only. The tables are the product vocabulary's, kept as
written; extend them through the catalogue and shortcuts, never by renaming.

>>> normalise_language("py"), normalise_language("TSX")
('python', 'typescript')
>>> is_test_path("src/test_main.py"), is_test_path("web/app.spec.tsx"), is_test_path("src/main.py")
(True, True, False)
>>> [p.skills for p in matching_patterns("def test_add():")][0]
('pytest-run', 'pytest-coverage')
>>> normalise_shortcut("ctrl+shift+t")
'Ctrl+Shift+T'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from types import MappingProxyType

from .phases import WorkflowPhase

#: Editor and file-extension names of a language → the name the tables use.
LANGUAGE_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "py": "python",
        "python3": "python",
        "py3": "python",
        "pyi": "python",
        "ipython": "python",
        "js": "javascript",
        "jsx": "javascript",
        "mjs": "javascript",
        "cjs": "javascript",
        "node": "javascript",
        "javascriptreact": "javascript",
        "ecmascript": "javascript",
        "ts": "typescript",
        "tsx": "typescript",
        "mts": "typescript",
        "cts": "typescript",
        "typescriptreact": "typescript",
        "sh": "shell",
        "bash": "shell",
        "zsh": "shell",
        "shellscript": "shell",
        "yml": "yaml",
        "md": "markdown",
        "rs": "rust",
        "golang": "go",
        "tf": "terraform",
        "hcl": "terraform",
        "psql": "sql",
        "postgresql": "sql",
        "mysql": "sql",
        "sqlite": "sql",
    }
)

#: File extension (no dot) → language, for a context that names none.
EXTENSION_LANGUAGES: Mapping[str, str] = MappingProxyType(
    {
        "py": "python",
        "pyi": "python",
        "js": "javascript",
        "jsx": "javascript",
        "mjs": "javascript",
        "cjs": "javascript",
        "ts": "typescript",
        "tsx": "typescript",
        "mts": "typescript",
        "sql": "sql",
        "sh": "shell",
        "yml": "yaml",
        "yaml": "yaml",
        "toml": "toml",
        "json": "json",
        "md": "markdown",
        "tf": "terraform",
        "go": "go",
        "rs": "rust",
    }
)

_LANGUAGE_NAME = re.compile(r"^[a-z0-9+#._-]{1,50}$")


def normalise_language(value: str) -> str:
    """The table name of a language: lower case, aliases resolved
    (``py`` → ``python``, ``ts``/``tsx`` → ``typescript``, ``jsx`` →
    ``javascript``…). Unknown languages are kept, lower-cased.

    :raises ValueError: for an empty or malformed name.
    """
    if not isinstance(value, str):
        raise ValueError("language must be a string")
    key = value.strip().lower()
    key = LANGUAGE_ALIASES.get(key, key)
    if not _LANGUAGE_NAME.match(key):
        raise ValueError(f"language {value!r} must be 1-50 ASCII letters, digits or + # . _ -")
    return key


#: Skills of each language, by category (the vocabulary's table).
LANGUAGE_SKILLS: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "python": MappingProxyType(
            {
                "testing": ("pytest-run", "pytest-coverage", "pytest-debug"),
                "formatting": ("ruff-format", "black-format"),
                "linting": ("ruff-check", "pylint-check", "flake8-check"),
                "type_checking": ("mypy-check", "pyright-check"),
                "security": ("bandit-security", "safety-check"),
            }
        ),
        "javascript": MappingProxyType(
            {
                "testing": ("jest-run", "mocha-test"),
                "formatting": ("prettier-format", "eslint-format"),
                "linting": ("eslint-check",),
            }
        ),
        "typescript": MappingProxyType(
            {
                "testing": ("jest-run", "vitest-run"),
                "formatting": ("prettier-format",),
                "linting": ("eslint-check",),
                "type_checking": ("tsc-check",),
            }
        ),
    }
)

#: The phase each language-table category serves.
CATEGORY_PHASES: Mapping[str, WorkflowPhase] = MappingProxyType(
    {
        "testing": WorkflowPhase.EXECUTION,
        "formatting": WorkflowPhase.SETUP,
        "linting": WorkflowPhase.VERIFICATION,
        "type_checking": WorkflowPhase.VERIFICATION,
        "security": WorkflowPhase.VERIFICATION,
    }
)


@dataclass(frozen=True)
class CodePattern:
    """A regex over selected code and the skills it suggests, first = best."""

    name: str
    regex: re.Pattern[str]
    skills: tuple[str, ...]


def _p(name: str, pattern: str, skills: tuple[str, ...], flags: int = 0) -> CodePattern:
    return CodePattern(name, re.compile(pattern, flags), skills)


#: The vocabulary's code patterns, exactly.
CODE_PATTERNS: tuple[CodePattern, ...] = (
    _p("python-test", r"\b(def test_|class Test|@pytest|@unittest)", ("pytest-run", "pytest-coverage")),
    _p("js-test", r"\b(describe|it|test)\(", ("jest-run", "vitest-run")),
    _p("imports", r"^import |^from ", ("ruff-check", "import-sort"), re.MULTILINE),
    _p("function", r"\bdef \w+\(", ("mypy-check", "ruff-check")),
    _p("class", r"\bclass \w+\(", ("mypy-check", "pylint-check")),
    _p("async", r"\basync def ", ("asyncio-check", "pytest-asyncio")),
    _p("generic-annotation", r": \w+\[", ("mypy-check", "pyright-check")),
    _p("docstring", r'"""', ("doc-generate", "docstring-check")),
    _p("sql", r"\b(SELECT|INSERT|UPDATE|DELETE)\b", ("sql-lint", "sql-format")),
    _p("dynamic-code", r"\b(eval|exec|__import__)\(", ("bandit-security", "security-scan")),
    _p("subprocess", r"\bsubprocess\.", ("security-scan", "bandit-security")),
)


def matching_patterns(code: str) -> list[CodePattern]:
    """The patterns that match ``code``, in table order."""
    return [p for p in CODE_PATTERNS if p.regex.search(code)]


_TEST_NAME = re.compile(r"^(test_.+\.py|.+_test\.py|.+\.(test|spec)\.(ts|js|tsx|jsx))$")
_TEST_DIRS = frozenset({"tests", "__tests__"})


def is_test_path(path: str) -> bool:
    """A test file: named ``test_*.py``, ``*_test.py``, ``*.test.ts`` or
    ``*.spec.ts`` (and ``js``/``tsx``/``jsx``), or under a ``tests/`` or
    ``__tests__/`` folder. Windows separators count as ``/``."""
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if not parts:
        return False
    return bool(_TEST_NAME.match(parts[-1])) or any(p in _TEST_DIRS for p in parts[:-1])


_DEPLOY_NAME = re.compile(
    r"^(dockerfile(\..+)?|.+\.dockerfile|containerfile|docker-compose.*\.ya?ml|compose\.ya?ml|"
    r"chart\.yaml|values(-.+)?\.ya?ml|.*deploy.*|.*release.*|procfile|.+\.tf|.+\.tfvars|skaffold\.ya?ml)$"
)
_DEPLOY_DIRS = frozenset(
    {"k8s", "kubernetes", "helm", "charts", "deploy", "deployment", "terraform", "infra"}
)
_LINT_CONFIG = re.compile(
    r"^(ruff\.toml|\.ruff\.toml|\.flake8|\.pylintrc|pylintrc|mypy\.ini|\.mypy\.ini|pyrightconfig\.json|"
    r"\.eslintrc(\..+)?|eslint\.config\..+|\.prettierrc(\..+)?|prettier\.config\..+|\.editorconfig|"
    r"\.pre-commit-config\.yaml|tox\.ini|setup\.cfg|\.codespellrc|\.bandit|\.sqlfluff|tsconfig(\..+)?\.json)$"
)
_SETUP_NAME = re.compile(
    r"^(requirements.*\.(txt|in)|pyproject\.toml|setup\.py|uv\.lock|poetry\.lock|pipfile(\.lock)?|"
    r"package\.json|package-lock\.json|yarn\.lock|pnpm-lock\.yaml|makefile|justfile|\.python-version|"
    r"\.nvmrc|environment\.ya?ml)$"
)


def infer_phase(path: str, *, is_test: bool | None = None) -> WorkflowPhase:
    """The workflow phase of editing ``path``:

    - a test file → ``execution`` (you are about to run it);
    - a Dockerfile, compose file, Helm/Kubernetes/Terraform file or a
      deploy/release script → ``deployment``;
    - a linter or type-checker configuration → ``verification``;
    - a dependency or build manifest → ``setup``;
    - any other source file → ``verification`` (what follows writing code
      is checking it: lint, types, security).
    """
    posix = PurePosixPath(path.replace("\\", "/"))
    name = posix.name.lower()
    if is_test if is_test is not None else is_test_path(path):
        return WorkflowPhase.EXECUTION
    folders = {p.lower() for p in posix.parts[:-1]}
    if _DEPLOY_NAME.match(name) or folders & _DEPLOY_DIRS:
        return WorkflowPhase.DEPLOYMENT
    if _LINT_CONFIG.match(name):
        return WorkflowPhase.VERIFICATION
    if _SETUP_NAME.match(name):
        return WorkflowPhase.SETUP
    return WorkflowPhase.VERIFICATION


#: Skills a kind of file calls for, whatever is selected (first = best).
#: Not in the vocabulary's tables, which only look at code; these give a
#: Dockerfile or a manifest the suggestions its inferred phase implies.
FILE_KIND_SKILLS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(pattern), skills)
    for pattern, skills in (
        (r"^(dockerfile(\..+)?|.+\.dockerfile|containerfile)$", ("docker-build", "docker-push")),
        (r"^(docker-compose.*|compose)\.ya?ml$", ("docker-build",)),
        (r"^.+\.tf(vars)?$", ("terraform-apply",)),
        (r"^(chart\.yaml|values(-.+)?\.ya?ml)$", ("helm-deploy",)),
        (r"^(pyproject\.toml|requirements.*\.(txt|in)|uv\.lock|setup\.py|setup\.cfg)$", ("uv-install",)),
        (r"^(package\.json|package-lock\.json|yarn\.lock|pnpm-lock\.yaml)$", ("npm-install",)),
        (r"^\.?ruff\.toml$", ("ruff-check", "ruff-format")),
        (r"^\.?mypy\.ini$", ("mypy-check",)),
        (r"^pyrightconfig\.json$", ("pyright-check",)),
        (r"^(\.eslintrc(\..+)?|eslint\.config\..+)$", ("eslint-check",)),
        (r"^(\.prettierrc(\..+)?|prettier\.config\..+)$", ("prettier-format",)),
        (r"^tsconfig(\..+)?\.json$", ("tsc-check",)),
        (r"^(\.pylintrc|pylintrc)$", ("pylint-check",)),
        (r"^\.flake8$", ("flake8-check",)),
    )
)


def file_kind_skills(path: str) -> tuple[str, ...]:
    """The skills :data:`FILE_KIND_SKILLS` gives the file's name."""
    name = PurePosixPath(path.replace("\\", "/")).name.lower()
    for regex, skills in FILE_KIND_SKILLS:
        if regex.match(name):
            return skills
    return ()


#: The vocabulary's default shortcuts.
DEFAULT_SHORTCUTS: Mapping[str, str] = MappingProxyType(
    {
        "pytest-run": "Ctrl+Shift+T",
        "pytest-coverage": "Ctrl+Shift+U",
        "ruff-format": "Ctrl+Alt+F",
        "ruff-check": "Ctrl+Alt+L",
        "mypy-check": "Ctrl+Alt+M",
        "refactoring-agent": "Ctrl+Shift+R",
        "doc-generate": "Ctrl+Shift+D",
    }
)

_MODIFIERS = {
    "ctrl": "Ctrl",
    "control": "Ctrl",
    "alt": "Alt",
    "option": "Alt",
    "opt": "Alt",
    "shift": "Shift",
    "cmd": "Cmd",
    "command": "Cmd",
    "meta": "Cmd",
    "super": "Cmd",
    "win": "Cmd",
}
_MODIFIER_ORDER = ("Ctrl", "Alt", "Shift", "Cmd")
_NAMED_KEYS = {
    k.lower(): k
    for k in (
        "Enter",
        "Tab",
        "Space",
        "Escape",
        "Backspace",
        "Delete",
        "Insert",
        "Home",
        "End",
        "PageUp",
        "PageDown",
        "Up",
        "Down",
        "Left",
        "Right",
    )
}
_PUNCTUATION = set("`-=[]\\;',./")
_FKEY = re.compile(r"^f([1-9]|1[0-9]|2[0-4])$")


def _normalise_combo(combo: str) -> str:
    parts = combo.split("+")
    if len(parts) > 1 and parts[-1] == "" and parts[-2] == "":  # "Ctrl++" : the plus key
        parts = [*parts[:-2], "+"]
    *mods, key = [p.strip() for p in parts]
    if not key:
        raise ValueError(f"shortcut {combo!r} has no key after the modifiers")
    seen: set[str] = set()
    for mod in mods:
        canonical = _MODIFIERS.get(mod.lower())
        if canonical is None:
            raise ValueError(f"shortcut {combo!r}: {mod!r} is not a modifier (Ctrl, Alt, Shift, Cmd)")
        if canonical in seen:
            raise ValueError(f"shortcut {combo!r} repeats {canonical}")
        seen.add(canonical)
    lowered = key.lower()
    if len(key) == 1 and key.isalnum():
        name = key.upper()
    elif len(key) == 1 and (key in _PUNCTUATION or key == "+"):
        name = key
    elif _FKEY.match(lowered):
        name = lowered.upper()
    elif lowered in _NAMED_KEYS:
        name = _NAMED_KEYS[lowered]
    else:
        raise ValueError(f"shortcut {combo!r}: {key!r} is not a key (a letter, digit, F1-F24, Enter, Tab…)")
    if not seen and not name.startswith("F"):
        raise ValueError(f"shortcut {combo!r} needs a modifier (Ctrl, Alt, Shift or Cmd) unless it is F1-F24")
    if seen == {"Shift"} and len(name) == 1:
        raise ValueError(f"shortcut {combo!r} would type a character; add Ctrl, Alt or Cmd")
    return "+".join([m for m in _MODIFIER_ORDER if m in seen] + [name])


def normalise_shortcut(value: str) -> str:
    """A key combination in canonical form: modifiers in the order Ctrl,
    Alt, Shift, Cmd, then one key (``ctrl+shift+t`` → ``Ctrl+Shift+T``). A
    two-step chord is two combinations separated by a space
    (``Ctrl+K Ctrl+C``).

    :raises ValueError: saying what is wrong with it.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError("shortcut must be a non-empty string such as Ctrl+Shift+T")
    if len(value) > 60:
        raise ValueError("shortcut is longer than 60 characters")
    steps = value.split()
    if len(steps) > 2:
        raise ValueError(f"shortcut {value!r}: at most two combinations (a chord such as Ctrl+K Ctrl+C)")
    return " ".join(_normalise_combo(step) for step in steps)
