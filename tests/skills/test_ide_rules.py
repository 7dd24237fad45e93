"""The editor's rule tables: every code pattern, every test-file rule,
language names, shortcuts, and the phase inferred from a file."""

from __future__ import annotations

import pytest

from tracker.ide_rules import (
    CODE_PATTERNS,
    DEFAULT_SHORTCUTS,
    file_kind_skills,
    infer_phase,
    is_test_path,
    matching_patterns,
    normalise_language,
    normalise_shortcut,
)
from tracker.phases import WorkflowPhase

# (pattern name, code that matches, code that looks close but does not, skills)
PATTERN_CASES = [
    ("python-test", "def test_add():", "def add_test():", ("pytest-run", "pytest-coverage")),
    ("python-test", "class TestCart:", "class CartTest:", ("pytest-run", "pytest-coverage")),
    # The vocabulary's \b before "@" needs a word character right before it.
    ("python-test", "x@pytest.fixture", "@pytest.fixture", ("pytest-run", "pytest-coverage")),
    ("python-test", "x@unittest.skip", "@unittest.skip", ("pytest-run", "pytest-coverage")),
    ("js-test", "describe('cart', () => {})", "describer('x')", ("jest-run", "vitest-run")),
    ("js-test", "it('adds', () => {})", "submit('x')", ("jest-run", "vitest-run")),
    ("js-test", "test('adds', () => {})", "latest('x')", ("jest-run", "vitest-run")),
    ("imports", "x = 1\nimport os", "x = 1  # import os", ("ruff-check", "import-sort")),
    ("imports", "from pathlib import Path", " from x import y", ("ruff-check", "import-sort")),
    ("function", "def area(r):", "define area", ("mypy-check", "ruff-check")),
    ("class", "class User(Base):", "class User:", ("mypy-check", "pylint-check")),
    ("async", "async def fetch(url):", "asyncdef fetch", ("asyncio-check", "pytest-asyncio")),
    ("generic-annotation", "names: list[str] = []", "names = list()", ("mypy-check", "pyright-check")),
    ("docstring", '"""Return the sum."""', "'''Return the sum.'''", ("doc-generate", "docstring-check")),
    ("sql", "SELECT id FROM users", "selection of ids", ("sql-lint", "sql-format")),
    ("sql", "DELETE FROM users", "UNDELETED rows", ("sql-lint", "sql-format")),
    ("dynamic-code", "eval(expr)", "evaluate(expr)", ("bandit-security", "security-scan")),
    ("dynamic-code", "__import__('os')", "my__import__()", ("bandit-security", "security-scan")),
    ("subprocess", "subprocess.run(cmd)", "import subprocess", ("security-scan", "bandit-security")),
]


@pytest.mark.parametrize(("name", "hit", "miss", "skills"), PATTERN_CASES)
def test_each_code_pattern(name: str, hit: str, miss: str, skills: tuple[str, ...]) -> None:
    pattern = next(p for p in CODE_PATTERNS if p.name == name)
    assert pattern.skills == skills
    assert name in [p.name for p in matching_patterns(hit)]
    assert pattern.regex.search(miss) is None


def test_patterns_are_the_vocabularys_exactly() -> None:
    assert [p.regex.pattern for p in CODE_PATTERNS] == [
        r"\b(def test_|class Test|@pytest|@unittest)",
        r"\b(describe|it|test)\(",
        r"^import |^from ",
        r"\bdef \w+\(",
        r"\bclass \w+\(",
        r"\basync def ",
        r": \w+\[",
        r'"""',
        r"\b(SELECT|INSERT|UPDATE|DELETE)\b",
        r"\b(eval|exec|__import__)\(",
        r"\bsubprocess\.",
    ]


@pytest.mark.parametrize(
    "path",
    [
        "test_main.py",
        "src/test_main.py",
        "pkg/cart_test.py",
        "web/cart.test.ts",
        "web/cart.spec.ts",
        "web/cart.test.js",
        "web/cart.spec.js",
        "web/Cart.test.tsx",
        "web/Cart.spec.tsx",
        "web/Cart.test.jsx",
        "web/Cart.spec.jsx",
        "tests/helpers.py",
        "proj/tests/data/fixture.json",
        "web/__tests__/cart.ts",
        "C:\\proj\\tests\\conftest.py",
    ],
)
def test_test_files(path: str) -> None:
    assert is_test_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "src/main.py",
        "src/testing.py",  # not test_*.py
        "src/test_main.txt",
        "src/latest.py",
        "web/cart.ts",
        "web/cart.test.py.bak",
        "web/cart.spec.css",
        "tests",  # a file named tests, not a folder
        "src/mytests/cart.py",
        "test/cart.py",  # only tests/ and __tests__/ count
    ],
)
def test_not_test_files(path: str) -> None:
    assert not is_test_path(path)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("python", "python"),
        ("py", "python"),
        ("Python3", "python"),
        ("ts", "typescript"),
        ("tsx", "typescript"),
        ("typescriptreact", "typescript"),
        ("js", "javascript"),
        ("JSX", "javascript"),
        ("javascriptreact", "javascript"),
        (" yml ", "yaml"),
        ("c++", "c++"),
        ("Go", "go"),
    ],
)
def test_language_normalisation(given: str, expected: str) -> None:
    assert normalise_language(given) == expected


@pytest.mark.parametrize("bad", ["", "  ", "python script", "py\tthon", "é", "x" * 51])
def test_malformed_languages(bad: str) -> None:
    with pytest.raises(ValueError, match="language"):
        normalise_language(bad)


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("ctrl+shift+t", "Ctrl+Shift+T"),
        ("Shift+Ctrl+T", "Ctrl+Shift+T"),
        ("cmd+alt+l", "Alt+Cmd+L"),
        ("Control+Option+F5", "Ctrl+Alt+F5"),
        ("F12", "F12"),
        ("ctrl+k ctrl+c", "Ctrl+K Ctrl+C"),
        ("Ctrl+/", "Ctrl+/"),
        ("Ctrl++", "Ctrl++"),
        ("alt+enter", "Alt+Enter"),
    ],
)
def test_shortcut_normalisation(given: str, canonical: str) -> None:
    assert normalise_shortcut(given) == canonical


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("", "non-empty"),
        ("T", "needs a modifier"),
        ("Shift+T", "would type a character"),
        ("Ctrl+Shift+", "no key"),
        ("Hyper+T", "not a modifier"),
        ("Ctrl+Ctrl+T", "repeats Ctrl"),
        ("Ctrl+Shift+TT", "not a key"),
        ("Ctrl+A Ctrl+B Ctrl+C", "at most two"),
        ("F25", "not a key"),
    ],
)
def test_shortcut_validation(bad: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        normalise_shortcut(bad)


def test_default_shortcuts_are_valid_and_distinct() -> None:
    assert dict(DEFAULT_SHORTCUTS) == {
        "pytest-run": "Ctrl+Shift+T",
        "pytest-coverage": "Ctrl+Shift+U",
        "ruff-format": "Ctrl+Alt+F",
        "ruff-check": "Ctrl+Alt+L",
        "mypy-check": "Ctrl+Alt+M",
        "refactoring-agent": "Ctrl+Shift+R",
        "doc-generate": "Ctrl+Shift+D",
    }
    assert all(normalise_shortcut(v) == v for v in DEFAULT_SHORTCUTS.values())
    assert len(set(DEFAULT_SHORTCUTS.values())) == len(DEFAULT_SHORTCUTS)


@pytest.mark.parametrize(
    ("path", "phase"),
    [
        ("src/test_main.py", WorkflowPhase.EXECUTION),
        ("web/__tests__/cart.ts", WorkflowPhase.EXECUTION),
        ("Dockerfile", WorkflowPhase.DEPLOYMENT),
        ("docker/Dockerfile.prod", WorkflowPhase.DEPLOYMENT),
        ("scripts/deploy.sh", WorkflowPhase.DEPLOYMENT),
        ("infra/main.tf", WorkflowPhase.DEPLOYMENT),
        ("k8s/service.yaml", WorkflowPhase.DEPLOYMENT),
        ("charts/app/Chart.yaml", WorkflowPhase.DEPLOYMENT),
        ("ruff.toml", WorkflowPhase.VERIFICATION),
        (".eslintrc.json", WorkflowPhase.VERIFICATION),
        ("mypy.ini", WorkflowPhase.VERIFICATION),
        ("pyproject.toml", WorkflowPhase.SETUP),
        ("requirements-dev.txt", WorkflowPhase.SETUP),
        ("package.json", WorkflowPhase.SETUP),
        ("src/app.py", WorkflowPhase.VERIFICATION),
    ],
)
def test_phase_inferred_from_the_file(path: str, phase: WorkflowPhase) -> None:
    assert infer_phase(path) is phase


def test_file_kinds() -> None:
    assert file_kind_skills("Dockerfile") == ("docker-build", "docker-push")
    assert file_kind_skills("infra/prod.tfvars") == ("terraform-apply",)
    assert file_kind_skills("web/package.json") == ("npm-install",)
    assert file_kind_skills("src/app.py") == ()
