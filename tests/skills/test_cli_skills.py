"""``session-buddy-ci skills``: add, list, search, baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from receiver.cli import main
from tracker.settings import Settings
from tracker.storage import SkillsStorage


@pytest.fixture
def run(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SESSION_BUDDY_CI_EMBEDDER", "fallback")
    return CliRunner()


def invoke(runner: CliRunner, db_path: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(main, ["--database", str(db_path), *args])
    return result.exit_code, result.output


def test_add_list_search(run: CliRunner, db_path: Path) -> None:
    code, out = invoke(
        run, db_path, "skills", "add", "alembic-check", "-d", "Check database migrations match the models",
        "--phase", "verification", "--language", "py",
    )  # fmt: skip
    assert code == 0 and "added alembic-check" in out and "hashing-v1" in out
    code, out = invoke(run, db_path, "skills", "add", "alembic-check", "-d", "again")
    assert code == 1 and "already in the catalogue" in out
    code, out = invoke(run, db_path, "skills", "list", "--json")
    listed = {e["name"]: e for e in json.loads(out)}
    assert listed["alembic-check"]["languages"] == ["python"] and "pytest-run" in listed
    code, out = invoke(run, db_path, "skills", "search", "database migrations", "--limit", "2", "--json")
    data = json.loads(out)
    assert data["embedder"] == "hashing-v1" and data["results"][0]["skill_name"] == "alembic-check"
    code, out = invoke(run, db_path, "skills", "search", "database migrations", "--phase", "deploy")
    assert code == 2 and "deploy" in out
    storage = SkillsStorage(db_path, settings=Settings(embedder="fallback"))
    assert [q["text"] for q in storage.queries()] == ["database migrations"]
    storage.close()


def test_baselines_command(run: CliRunner, db_path: Path) -> None:
    code, out = invoke(
        run, db_path, "track", "--pipeline", "CI", "--build", "1", "--commit", "abc1234", "--branch", "main",
        "--stage", "test", "--skill", "pytest-run", "--duration", "3",
    )  # fmt: skip
    assert code == 0, out
    code, out = invoke(run, db_path, "skills", "baselines")
    assert code == 0 and out.strip() == "recomputed community baselines of 1 skills"
    storage = SkillsStorage(db_path, settings=Settings(embedder="fallback"))
    [row] = storage.community_baselines()
    assert (row["skill_name"], row["total_invocations"], row["global_completion_rate"]) == (
        "pytest-run",
        1,
        1.0,
    )
    storage.close()
