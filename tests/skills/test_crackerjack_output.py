"""The Crackerjack output parser, on output captured from real runs of
crackerjack 0.74.4 (tests/samples/crackerjack, see capture.py there)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tracker.crackerjack_output import CrackerjackOutputParser, HookRun, parse_lines, skill_for_hook
from tracker.phases import Outcome

from ..conftest import SAMPLES

CRACKERJACK = SAMPLES / "crackerjack"
FAST_HOOKS = {
    "validate-regex-patterns",
    "trailing-whitespace",
    "end-of-file-fixer",
    "format-json",
    "codespell",
    "ruff-check",
    "ruff-format",
    "mdformat",
    "uv-lock",
    "check-local-links",
    "pip-audit",
    "check-ast",
    "check-added-large-files",
    "check-json",
    "check-yaml",
    "check-toml",
}


def load(name: str) -> tuple[dict[str, Any], list[tuple[float, str]]]:
    lines = (CRACKERJACK / name).read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    return header, [(d["t"], d["line"]) for d in map(json.loads, lines[1:])]


def parsed(name: str) -> CrackerjackOutputParser:
    return parse_lines(load(name)[1])


def by(runs: list[HookRun], attempt: int = 1) -> dict[str, HookRun]:
    return {r.name: r for r in runs if r.attempt == attempt}


def test_fast_hooks_failing_and_retried() -> None:
    p = parsed("run-n.jsonl")
    assert p.version == "0.74.4" and p.failed_task == "fast_hooks"
    assert len(p.runs) == 32 and {r.phase for r in p.runs} == {"fast_hooks"}
    for attempt in (1, 2):
        runs = by(p.runs, attempt)
        assert set(runs) == FAST_HOOKS
        failed = {n for n, r in runs.items() if r.outcome is Outcome.FAILURE}
        assert failed == {"codespell", "uv-lock", "pip-audit"}
    first = by(p.runs, 1)
    # Failed hooks: Crackerjack's own duration and issue count.
    assert (first["codespell"].duration, first["codespell"].issues) == (5.01, 1)
    assert first["codespell"].error_message() == "1 issue found"
    assert first["uv-lock"].error_message() == "uv-lock failed"
    # Passed hooks are not in its results block: the time since the previous
    # hook line (the formatters run one after another).
    assert first["ruff-check"].duration is None
    assert first["ruff-check"].stream_duration == pytest.approx(5.006, abs=0.01)
    assert first["ruff-check"].seconds == first["ruff-check"].stream_duration
    assert first["trailing-whitespace"].skill == "whitespace-check"


def test_verbose_details_become_error_messages() -> None:
    second = by(parsed("run-n-verbose.jsonl").runs, 2)
    assert second["uv-lock"].details == ["Exit code: 1", "Error: [Errno 2] No such file or directory: 'uv'"]
    assert second["codespell"].error_message() == "1 issue found\nHook failed with code 127"
    assert not second["ruff-check"].details


def test_all_fast_hooks_reported_then_comprehensive_hooks() -> None:
    p = parsed("run-n-fast-pass.jsonl")
    assert p.failed_task == "comprehensive_hooks"
    fast = [r for r in p.runs if r.phase == "fast_hooks"]
    comprehensive = {r.name: r for r in p.runs if r.phase == "comprehensive_hooks"}
    assert len(fast) == 16 and all(r.duration is not None for r in fast)  # the summary lists every hook
    statuses = Counter(r.status for r in fast)
    assert statuses == {"passed": 15, "skipped": 1}
    pip_audit = next(r for r in fast if r.name == "pip-audit")
    assert pip_audit.outcome is Outcome.SKIPPED and pip_audit.duration == 5.02
    assert len(comprehensive) == 11
    assert {n for n, r in comprehensive.items() if r.outcome is Outcome.FAILURE} == {
        "semgrep",
        "betterleaks",
        "refurb",
        "lychee",
        "ty",
    }
    assert comprehensive["refurb"].duration == 5.01 and comprehensive["pyscn"].duration is None


def test_hook_results_keep_their_issue_counts() -> None:
    first = by(parsed("run-n-venv-path.jsonl").runs, 1)
    assert (first["pip-audit"].status, first["pip-audit"].duration, first["pip-audit"].issues) == (
        "failed",
        5.03,
        2,
    )
    assert first["codespell"].outcome is Outcome.SUCCESS


def test_a_run_resumed_at_the_comprehensive_hooks() -> None:
    p = parsed("run-n-resumed.jsonl")
    assert {r.phase for r in p.runs} == {"comprehensive_hooks"} and len(p.runs) == 11


def test_test_phase_error() -> None:
    p = parsed("run-s-t.jsonl")
    [tests] = p.runs
    assert (tests.phase, tests.skill, tests.outcome, tests.duration) == (
        "tests",
        "pytest-run",
        Outcome.FAILURE,
        0.0,
    )
    # Rich wrapped the message over two lines; both are kept.
    assert tests.error_message() == "'PosixPath' object has no attribute 'startswith'"
    assert p.failed_task == "tests"


def test_passing_tests_and_key_failures() -> None:
    # Lines as Crackerjack's test manager prints them (managers/test_manager.py).
    ok = parse_lines([(0.0, "🧪 TESTS Running test suite"), (12.5, "✅ Tests passed in 12.3s")])
    assert [(r.skill, r.outcome, r.seconds) for r in ok.runs] == [("pytest-run", Outcome.SUCCESS, 12.3)]
    failing = parse_lines(
        [
            (0.0, "🧪 TESTS Running test suite"),
            (3.0, ""),
            (3.0, "━━━━━━━━━━"),
            (3.0, "Key Test Failures"),
            (3.0, "━━━━━━━━━━"),
            (3.0, ""),
            (3.0, " FAILED tests/test_a.py::test_add - assert 2 == 3"),
            (3.5, ""),
            (4.0, "Workflow failed: Task tests failed after 1 attempt(s): workflow-task-failed: tests"),
        ]
    )
    [run] = failing.runs
    assert run.outcome is Outcome.FAILURE and run.seconds == 3.0
    assert run.error_message() == "FAILED tests/test_a.py::test_add - assert 2 == 3"


def test_unknown_text_and_ansi_codes_are_harmless() -> None:
    p = CrackerjackOutputParser()
    for at, line in [
        (0.0, "\x1b[1m🔍 Fast Hooks - Formatters\x1b[0m"),
        (0.5, "ruff-check\x1b[2m....................\x1b[0m ✅"),
        (0.6, "something Crackerjack 0.99 might print"),
        (0.7, " - ruff-check :: PASSED | 0.42s | issues=!"),
    ]:
        p.feed(line, at)
    [run] = p.runs
    assert (run.name, run.outcome, run.stream_duration) == ("ruff-check", Outcome.SUCCESS, 0.5)


def test_odd_numbers_in_the_output_never_stop_the_parse() -> None:
    """Digits int() or float() refuse ("²", 5,000 of them, "1.2.3") are
    text the parser does not read, not an exception that ends the run."""
    p = CrackerjackOutputParser()
    for at, line in [
        (0.0, "🔍 Fast Hooks - Formatters"),
        (0.5, "ruff-check.................... ❌"),
        (0.6, "Fast hooks attempt ²: 1/2 passed in 1.2.3s"),
        (0.7, "Fast Hook Results:"),
        (0.8, " - ruff-check :: FAILED | 0.42s | issues=" + "7" * 5000),
        (0.9, " - ruff-check :: FAILED | 1.2.3s | issues=²"),
    ]:
        p.feed(line, at)
    [run] = p.runs
    assert (run.name, run.outcome, run.duration, run.issues) == ("ruff-check", Outcome.FAILURE, 0.42, None)


def test_hook_names_map_to_vocabulary_skills() -> None:
    assert skill_for_hook("zuban") == "zuban-check"
    assert skill_for_hook("bandit") == "bandit-security"
    assert skill_for_hook("complexipy") == "complexity-check"
    assert skill_for_hook("skylos") == "skylos-deadcode"
    assert skill_for_hook("refurb") == "refurb"


def test_samples_are_real_captures() -> None:
    for path in sorted(CRACKERJACK.glob("*.jsonl")):
        header, lines = load(path.name)
        assert header["argv"][1:2] == ["run"] and isinstance(header["exit_code"], int), path
        assert lines[0][1] == "Crackerjack v0.74.4", path
        assert [t for t, _ in lines] == sorted(t for t, _ in lines), path


def sample_path(name: str) -> Path:
    return CRACKERJACK / name
