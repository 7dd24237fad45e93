"""End to end: the real ``act`` runs .github/workflows/example.yml in host
mode, offline; each stage goes through action.yml and entrypoint.py to a
real receiver under gunicorn; the database holds exactly those stages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import gunicorn
from tracker.storage import SkillsStorage

from .conftest import REPO

pytestmark = pytest.mark.slow

ACT = Path(sys.executable).parent / "act"
TOKEN = "e2e-token-8d2f61"
REMOTE = "https://github.com/octo-org/session-buddy-ci.git"
#: What act needs of the repository: the Action and the example workflow.
COPIED = ("action.yml", "entrypoint.py", "ci_action", "tracker", ".github/workflows/example.yml")
#: (stage, skill, phase) of the example's stages, in order.
STAGES = [
    ("build", "compileall", "setup"),
    ("lint", "tabnanny-check", "verification"),
    ("test", "doctest-run", "execution"),
    ("e2e", "smoke-test", "execution"),
]


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=e2e", "-c", "user.email=e2e@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git copy of what the workflow needs, with a GitHub origin (act
    takes GITHUB_REPOSITORY from it)."""
    copy = tmp_path / "repo"
    for name in COPIED:
        source, target = REPO / name, copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    _git(copy, "init", "-q", "-b", "main")
    _git(copy, "add", "-A")
    _git(copy, "commit", "-q", "-m", "example")
    _git(copy, "remote", "add", "origin", REMOTE)
    return copy


def run_act(repo: Path, home: Path, url: str, *, fail: bool) -> tuple[int, list[dict[str, Any]]]:
    home.mkdir(exist_ok=True)
    env = {
        # The venv's python3 first: the steps run `python3` on the host.
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        # A fresh HOME: no ~/.actrc of the machine changes the run.
        "HOME": str(home),
        "ACT_DISABLE_VERSION_CHECK": "1",
        # Anything that tries the internet fails at once; loopback is exempt.
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    argv = [
        str(ACT),
        "push",
        "-P",
        "ubuntu-latest=-self-hosted",
        "--no-cache-server",
        "--action-offline-mode",
        "-W",
        ".github/workflows/example.yml",
        "--json",
        "--env",
        f"SESSION_BUDDY_CI_URL={url}",
        "--secret",
        f"SESSION_BUDDY_CI_TOKEN={TOKEN}",
    ]
    if fail:
        argv += ["--env", "SESSION_BUDDY_CI_EXAMPLE_FAIL=true"]
    done = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=300, check=False)
    log = []
    for line in (done.stdout + done.stderr).splitlines():
        try:
            log.append(json.loads(line))
        except ValueError:
            log.append({"msg": line})
    return done.returncode, log


def summaries(log: list[dict[str, Any]]) -> dict[str, str]:
    """The job-summary content act reported for each step (act prints a
    composite step's summary twice: for the inner and the outer step)."""
    found: dict[str, str] = {}
    for entry in log:
        if entry.get("command") == "summary":
            found[entry["step"]] = entry["content"]
    return found


@pytest.mark.parametrize("fail", [False, True], ids=["green", "failing-stage"])
def test_example_workflow_under_act_lands_in_the_receiver(repo: Path, tmp_path: Path, fail: bool) -> None:
    db = tmp_path / "receiver.db"
    env = {"SESSION_BUDDY_CI_DATABASE_URL": f"sqlite:///{db}", "SESSION_BUDDY_CI_API_TOKENS": TOKEN}
    with gunicorn(env, workers=2, log_dir=tmp_path) as server:
        code, log = run_act(repo, tmp_path / "home", server.url, fail=fail)
    text = "\n".join(str(e.get("msg", "")) for e in log)
    assert (code != 0) is fail, text
    assert ("Job failed" in text) is fail and ("Job succeeded" in text) is not fail

    storage = SkillsStorage(str(db))
    try:
        rows = storage.invocations()
    finally:
        storage.close()
    got = [
        (r["stage"], r["skill_name"], r["workflow_phase"], r["outcome"], r["exit_code"], r["session_id"])
        for r in rows
    ]
    outcomes = ["success"] * 3 + ["failure" if fail else "success"]
    assert got == [
        (stage, skill, phase, outcome, 1 if outcome == "failure" else 0, "Example pipeline-1")
        for (stage, skill, phase), outcome in zip(STAGES, outcomes, strict=True)
    ]
    sha = _git(repo, "rev-parse", "HEAD")
    for row in rows:
        assert row["source"] == "ci"
        assert row["pipeline_name"] == "Example pipeline" and row["build_number"] == "1"
        assert row["repository"] == "octo-org/session-buddy-ci"
        assert row["git_commit"] == sha and row["git_branch"] == "main"
        assert row["triggered_by"] == "push" and row["job"] == "pipeline"
        assert row["environment"] == "ci"
    assert rows[-1]["error_message"] == ("exit code 1" if fail else None)

    steps = summaries(log)
    names = ["Build", "Lint", "Test", "End-to-end (fails on purpose when asked)"]
    assert set(steps) == set(names)
    for name, (stage, skill, phase), outcome in zip(names, STAGES, outcomes, strict=True):
        result = "✅ success" if outcome == "success" else "❌ exit code 1"
        assert f"| {stage} | {skill} | {phase} | {result} | " in steps[name]
        assert steps[name].rstrip().endswith("| delivered |")
    assert "session Example pipeline-1, delivered=true" in text
    assert TOKEN not in text
