"""Fixtures of the Action's tests: the entrypoint called in-process with a
job environment built from scratch (never the host's: CI itself may run on
GitHub Actions, with GITHUB_OUTPUT of its own), a fast retry policy."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
# The Action imports its own folder's modules, as on a runner.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import entrypoint  # noqa: E402
from ci_action import command, delivery  # noqa: E402

TOKEN = "sbci-test-token-5f1d0c9e"
SHA = "0123456789abcdef0123456789abcdef01234567"
GITHUB_ENV = {
    "GITHUB_WORKFLOW": "CI",
    "GITHUB_RUN_NUMBER": "42",
    "GITHUB_RUN_ID": "9876543210",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_SHA": SHA,
    "GITHUB_REF_NAME": "main",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_REPOSITORY": "octo-org/octo-repo",
    "GITHUB_JOB": "test",
}


def parse_outputs(text: str) -> dict[str, str]:
    """Read a GITHUB_OUTPUT file that must use the heredoc form only."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    assert lines[-1] == "", "the file ends with a newline"
    i = 0
    while i < len(lines) - 1:
        name, sep, delimiter = lines[i].partition("<<")
        assert sep and name and delimiter.startswith("ghadelimiter_"), lines[i]
        end = lines.index(delimiter, i + 1)
        outputs[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return outputs


@dataclass
class StepRun:
    code: int
    out: str
    err: str
    outputs: dict[str, str]


class Action:
    """Runs ``entrypoint.main`` like one step of a job; every call of one
    test shares the job's RUNNER_TEMP (the spool) and summary file."""

    def __init__(self, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
        self.capfd = capfd
        self.workspace = tmp_path / "workspace"
        self.runner_temp = tmp_path / "runner-temp"
        self.summary = tmp_path / "step-summary.md"
        self.workspace.mkdir()
        self.runner_temp.mkdir()
        self.calls = 0

    def env(self, **inputs: str) -> dict[str, str]:
        self.calls += 1
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            **GITHUB_ENV,
            "RUNNER_TEMP": str(self.runner_temp),
            "GITHUB_OUTPUT": str(self.runner_temp / f"output-{self.calls}"),
            "GITHUB_STEP_SUMMARY": str(self.summary),
        }
        env.update({"SBCI_" + name.upper(): value for name, value in inputs.items()})
        return env

    def __call__(
        self, run: str, *, drop: tuple[str, ...] = (), extra: dict[str, str] | None = None, **inputs: str
    ) -> StepRun:
        inputs = {"stage": "test", "skill": "pytest-run", **inputs}
        env = self.env(run=run, **inputs)
        env.update(extra or {})
        for name in drop:
            env.pop(name, None)
        self.capfd.readouterr()
        code = entrypoint.main([], env)
        out, err = self.capfd.readouterr()
        output_file = Path(env.get("GITHUB_OUTPUT", "/nonexistent"))
        outputs = parse_outputs(output_file.read_text()) if output_file.exists() else {}
        return StepRun(code, out, err, outputs)

    def spooled(self) -> list[str]:
        path = self.runner_temp / delivery.SPOOL_NAME
        return path.read_text().splitlines() if path.exists() else []


@pytest.fixture(autouse=True)
def fast_policy(monkeypatch: pytest.MonkeyPatch) -> delivery.RetryPolicy:
    """Retries in milliseconds, so the failure paths run fast."""
    policy = delivery.RetryPolicy(attempts=3, timeout=1.0, first_pause=0.01, max_pause=0.3, budget=8.0)
    monkeypatch.setattr(delivery, "POLICY", policy)
    monkeypatch.setattr(command, "KILL_GRACE_SECONDS", 0.5)
    return policy


@pytest.fixture
def action(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Action]:
    step = Action(tmp_path, capfd)
    monkeypatch.chdir(step.workspace)
    yield step


@pytest.fixture
def entry() -> ModuleType:
    return entrypoint
