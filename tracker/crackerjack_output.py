"""Reading what Crackerjack prints: one outcome per hook run and per test run.

Crackerjack 0.74 has no machine-readable report of its hook results: its
``run`` command has no JSON option, writes no results file, and
``PhaseCoordinator.to_json`` is never called. So this parses its plain
output (what it prints to a pipe), fed line by line with the time each line
arrived. What it prints, and what is taken from it:

- a section header per suite attempt (``🔍 Fast Hooks - …``, ``🔍
  Comprehensive Hooks - …``): suite and attempt;
- one ``name.....✅`` / ``name.....❌`` line per hook as it finishes: the
  outcome;
- ``Fast Hook Results:`` / ``Comprehensive Hook Results:`` with lines
  ``- name :: STATUS | 1.23s | issues=N``: the exact status (``PASSED``,
  ``FAILED``, ``SKIPPED``, ``ERROR``, ``TIMEOUT``) and Crackerjack's own
  duration. It lists every hook when all passed, but only the failed ones
  otherwise; a hook it leaves out gets the time since the previous hook
  line arrived (exact for the formatters, which run one after another; for
  hooks that ran in parallel, the gap between their completions);
- ``Details for failing … hooks`` (``-v``): the error lines of each hook;
- the test phase: ``Tests passed in 12.3s``, ``Test execution error after
  …: message``, ``Test environment validation failed``, ``Key Test
  Failures``, and ``Workflow failed: Task tests failed …``.

The parser never raises on unexpected text: lines it does not know are
ignored, so a new Crackerjack version degrades to fewer records, not errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .phases import Outcome

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_VERSION = re.compile(r"^Crackerjack v(?P<version>\S+)")
_SECTION = re.compile(r"(?P<suite>Fast|Comprehensive) Hooks - ")
_HOOK_LINE = re.compile(r"^(?P<name>[A-Za-z0-9][\w.:/+-]*?)\.{3,}\s*(?P<icon>✅|❌)\s*$")
_SKIPPED_LINE = re.compile(r"^⏭️?\s*(?P<name>[A-Za-z0-9][\w.:/+-]*?)\.{3,}\s*skipped")
# Numbers as ASCII digits of a sane length: \d would also take "²" or
# 5,000 digits, which int() and float() refuse, and one line of odd output
# must not stop the parse.
_COUNT = r"[0-9]{1,9}"
_SECONDS = r"[0-9]{1,9}(?:\.[0-9]{1,9})?"
_ATTEMPT = re.compile(
    rf"(?P<suite>Fast|Comprehensive) hooks attempt (?P<attempt>{_COUNT}): (?P<passed>{_COUNT})/"
    rf"(?P<total>{_COUNT}) passed in (?P<seconds>{_SECONDS})s"
)
_RESULTS = re.compile(r"^(?P<suite>Fast|Comprehensive) Hook Results:")
_RESULT_LINE = re.compile(
    rf"^\s*-\s+(?P<name>\S.*?) :: (?P<status>[A-Z_]+) \| (?P<seconds>{_SECONDS})s \| issues=(?P<issues>\S+)"
)
_DETAILS = re.compile(r"^Details for failing (?P<suite>fast|comprehensive) hooks")
_DETAIL_HOOK = re.compile(r"^\s*-\s+(?P<name>[A-Za-z0-9][\w.:/+-]*) \((?P<status>[a-z_]+)\)\s*$")
_DETAIL_LINE = re.compile(r"^\s*-\s+(?P<text>.+)$")
_TESTS_HEADER = re.compile(r"TESTS Running test suite")
_TESTS_PASSED = re.compile(r"Tests passed in (?P<seconds>[\d.]+)s")
_TESTS_ERROR = re.compile(r"Test execution error after (?P<seconds>[\d.]+)s: (?P<message>.*)$")
_TESTS_ENV_FAILED = re.compile(r"Test environment validation failed")
_KEY_FAILURES = re.compile(r"Key Test Failures")
_RULE = re.compile(r"^[━─=\-\s]+$")
_WORKFLOW_FAILED = re.compile(r"^Workflow failed: Task (?P<task>\w+) failed(?P<rest>.*)$")

SUITE_PHASES = {"fast": "fast_hooks", "comprehensive": "comprehensive_hooks"}
_STATUS = {
    "passed": Outcome.SUCCESS,
    "success": Outcome.SUCCESS,
    "failed": Outcome.FAILURE,
    "error": Outcome.FAILURE,
    "timeout": Outcome.FAILURE,
    "skipped": Outcome.SKIPPED,
}
MAX_DETAILS = 20

#: Crackerjack hook names whose skill has another name in the vocabulary;
#: any other hook is recorded under its own name.
HOOK_SKILLS = {
    "trailing-whitespace": "whitespace-check",
    "zuban": "zuban-check",
    "pyright": "pyright-check",
    "mypy": "mypy-check",
    "bandit": "bandit-security",
    "complexipy": "complexity-check",
    "skylos": "skylos-deadcode",
    "pytest": "pytest-run",
}
TESTS_SKILL = "pytest-run"


def skill_for_hook(hook: str) -> str:
    """The skill a Crackerjack hook is recorded as."""
    return HOOK_SKILLS.get(hook, hook)


@dataclass
class HookRun:
    """One run of one hook (or of the test suite), as Crackerjack reported it."""

    phase: str
    name: str
    attempt: int
    status: str
    duration: float | None = None
    stream_duration: float | None = None
    issues: int | None = None
    details: list[str] = field(default_factory=list)
    #: When its line arrived, in seconds since the start of the output.
    finished_at: float = 0.0

    @property
    def outcome(self) -> Outcome:
        return _STATUS.get(self.status, Outcome.FAILURE)

    @property
    def seconds(self) -> float:
        """Crackerjack's duration, else the one measured from the stream."""
        if self.duration is not None:
            return self.duration
        return max(0.0, self.stream_duration or 0.0)

    @property
    def skill(self) -> str:
        return TESTS_SKILL if self.phase == "tests" else skill_for_hook(self.name)

    def error_message(self) -> str | None:
        if self.outcome is not Outcome.FAILURE:
            return None
        lines = [*self.details]
        if self.issues:
            lines.insert(0, f"{self.issues} issue{'s' if self.issues != 1 else ''} found")
        return "\n".join(lines) if lines else f"{self.name} {self.status}"


class CrackerjackOutputParser:
    """Feed lines with the time they arrived; read :attr:`runs`."""

    def __init__(self) -> None:
        self.version: str | None = None
        self.runs: list[HookRun] = []
        self.failed_task: str | None = None
        self._suite: str | None = None
        self._attempts: dict[str, int] = {}
        self._last_at: float = 0.0
        self._mode: str | None = None  # results | details | key_failures
        self._results_suite: str | None = None
        self._detail_run: HookRun | None = None
        self._tests_started: float | None = None
        self._tests_run: HookRun | None = None

    def feed(self, line: str, at: float) -> None:
        """Take one line of output (without its newline) printed ``at``
        seconds after the start."""
        text = _ANSI.sub("", line).rstrip()
        if not text.strip():
            # A blank line ends a block; Crackerjack's banner puts one between
            # the "Key Test Failures" title and the failures themselves.
            if self._mode == "details" or (self._mode == "key_failures" and self._tests_run is not None):
                self._mode = None
            return
        if self._mode == "key_failures" and _RULE.match(text):
            return
        if self.version is None and (m := _VERSION.match(text)):
            self.version = m["version"]
        elif m := _SECTION.search(text):
            self._start_section(m["suite"].lower(), at)
        elif self._suite is not None and (m := _HOOK_LINE.match(text)):
            self._hook_line(m["name"], "passed" if m["icon"] == "✅" else "failed", at)
        elif self._suite is not None and (m := _SKIPPED_LINE.match(text)):
            self._hook_line(m["name"], "skipped", at)
        elif m := _ATTEMPT.search(text):
            self._attempt(m["suite"].lower(), int(m["attempt"]))
        elif m := _RESULTS.match(text):
            self._mode, self._results_suite = "results", m["suite"].lower()
        elif self._mode == "results" and (m := _RESULT_LINE.match(text)):
            self._result_line(m["name"], m["status"].lower(), float(m["seconds"]), m["issues"])
        elif m := _DETAILS.match(text):
            self._mode, self._results_suite, self._detail_run = "details", m["suite"], None
        elif self._mode == "details" and (m := _DETAIL_HOOK.match(text)):
            self._detail_run = self._latest(self._results_suite, m["name"])
        elif self._mode == "details" and (m := _DETAIL_LINE.match(text)):
            if self._detail_run is not None and len(self._detail_run.details) < MAX_DETAILS:
                self._detail_run.details.append(m["text"].strip())
        else:
            self._tests_and_workflow(text, at)

    def _start_section(self, suite: str, at: float) -> None:
        self._suite = suite
        self._attempts[suite] = self._attempts.get(suite, 0) + 1
        self._last_at = at
        self._mode = None

    def _hook_line(self, name: str, status: str, at: float) -> None:
        assert self._suite is not None
        self.runs.append(
            HookRun(
                SUITE_PHASES[self._suite],
                name,
                self._attempts[self._suite],
                status,
                stream_duration=round(at - self._last_at, 3),
                finished_at=at,
            )
        )
        self._last_at = at

    def _attempt(self, suite: str, attempt: int) -> None:
        # Crackerjack numbers the attempts; trust its number for this section.
        current = self._attempts.get(suite)
        if current is not None and current != attempt:
            for run in self.runs:
                if run.phase == SUITE_PHASES[suite] and run.attempt == current:
                    run.attempt = attempt
            self._attempts[suite] = attempt
        self._suite = None

    def _latest(self, suite: str | None, name: str) -> HookRun | None:
        phase = SUITE_PHASES.get(suite or "")
        for run in reversed(self.runs):
            if run.phase == phase and run.name == name:
                return run
        return None

    def _result_line(self, name: str, status: str, seconds: float, issues: str) -> None:
        run = self._latest(self._results_suite, name)
        if run is None:  # listed in the results but its line was missed
            suite = self._results_suite or "fast"
            run = HookRun(SUITE_PHASES[suite], name, self._attempts.get(suite, 1), status)
            self.runs.append(run)
        run.status = status
        run.duration = seconds
        run.issues = int(issues) if re.fullmatch(_COUNT, issues) else None
        if issues == "!":
            run.details.append("configuration or tool error")

    def _tests_and_workflow(self, text: str, at: float) -> None:
        if _TESTS_HEADER.search(text):
            self._tests_started, self._tests_run, self._suite = at, None, None
        elif m := _TESTS_PASSED.search(text):
            self._tests_result("passed", at, float(m["seconds"]))
        elif m := _TESTS_ERROR.search(text):
            self._tests_result("error", at, float(m["seconds"]), m["message"])
            self._mode = "tests_error"  # Rich wraps a long message onto the next line
        elif _TESTS_ENV_FAILED.search(text):
            self._tests_result("error", at, None, "test environment validation failed")
        elif _KEY_FAILURES.search(text):
            self._mode = "key_failures"
        elif self._mode == "key_failures" and self._tests_run is None and self._tests_started is not None:
            self._tests_result("failed", at, None)
            self._add_test_detail(text)
        elif self._mode == "key_failures":
            self._add_test_detail(text)
        elif m := _WORKFLOW_FAILED.match(text):
            self.failed_task = m["task"]
            if m["task"] == "tests" and self._tests_started is not None and self._tests_run is None:
                self._tests_result("failed", at, None, text)
            self._mode = None
        elif self._mode == "tests_error" and self._tests_run is not None and self._tests_run.details:
            self._tests_run.details[-1] += " " + text.strip()
            self._mode = None

    def _tests_result(
        self, status: str, at: float, seconds: float | None, message: str | None = None
    ) -> None:
        started = self._tests_started if self._tests_started is not None else at
        run = HookRun("tests", "tests", 1, status, seconds, round(at - started, 3), finished_at=at)
        if message:
            run.details.append(message.strip())
        self.runs.append(run)
        self._tests_run = run

    def _add_test_detail(self, text: str) -> None:
        if self._tests_run is not None and len(self._tests_run.details) < MAX_DETAILS:
            self._tests_run.details.append(text.strip())


def parse_lines(lines: list[tuple[float, str]]) -> CrackerjackOutputParser:
    """Parse a whole captured run of ``(seconds, line)`` pairs."""
    parser = CrackerjackOutputParser()
    for at, line in lines:
        parser.feed(line, at)
    return parser
