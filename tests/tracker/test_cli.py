"""The command line: track, report, export, on one database; bad input is
one line on stderr and exit code 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from receiver.cli import main
from tracker.storage import SkillsStorage


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SESSION_BUDDY_CI_"):
            monkeypatch.delenv(name)


def cli(db_path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--database", str(db_path), *args])


TRACK = [
    "track",
    "--pipeline",
    "CI",
    "--build",
    "42",
    "--commit",
    "abc123def456",
    "--branch",
    "main",
    "--stage",
    "test",
    "--skill",
    "pytest-run",
]


def fill(db_path: Path) -> None:
    for args in (
        ["--duration", "45.2"],
        ["--duration", "30", "--failure", "--error", "AssertionError: boom\nmore"],
        ["--duration", "15"],
    ):
        result = cli(db_path, *TRACK, *args)
        assert result.exit_code == 0, result.output


def test_track(db_path: Path) -> None:
    result = cli(db_path, *TRACK, "--duration", "45.2")
    assert result.exit_code == 0, result.output
    assert result.output == "recorded #1: CI-42 test (execution) pytest-run\n"
    crackerjack = cli(
        db_path,
        *TRACK[:-4],
        "--stage",
        "fast_hooks",
        "--skill",
        "ruff-check",
        "--integration",
        "crackerjack",
        "--duration",
        "3",
    )
    assert crackerjack.output == "recorded #2: CI-42 fast_hooks (setup) ruff-check\n"


def test_report_formats(db_path: Path) -> None:
    fill(db_path)
    md = cli(db_path, "report", "CI")
    assert md.exit_code == 0, md.output
    assert md.output.startswith("## Pipeline report: CI — last 30 days\n")
    # 45.2 + 30 + 15 = 90.2 s over 3 runs: 30.1 s. Sorted 15, 30, 45.2: p50 30 s,
    # p95 rank 1.9 → 30 + 0.9 × 15.2 = 43.68 s.
    assert "| test | execution | 3 | 66.7% | 1 | 30.1s | 30.0s | 43.7s | new | pytest-run |" in md.output
    assert "`AssertionError: boom` ×1" in md.output

    text = cli(db_path, "report", "CI", "--format", "text", "--days", "7")
    assert text.exit_code == 0
    assert text.output.startswith("Pipeline report: CI — last 7 days\n")
    assert "3 runs, 66.7% success" in text.output

    data = json.loads(cli(db_path, "report", "CI", "--format", "json").output)
    assert data["schema_version"] == 1
    assert data["stages"][0]["total_runs"] == 3
    assert data["stages"][0]["p95_duration"] == pytest.approx(43.68)


def test_export(db_path: Path, tmp_path: Path) -> None:
    fill(db_path)
    target = tmp_path / "out.json"
    result = cli(db_path, "export", "CI", str(target), "--days", "7")
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {target}\n"
    data = json.loads(target.read_text(encoding="utf-8"))
    assert (data["schema_version"], data["days"], data["total_runs"]) == (1, 7, 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [*TRACK[:5], "--commit", "xyz", *TRACK[7:], "--duration", "1"],
            "Error: git_commit 'xyz' must be 7 to 40 hexadecimal characters",
        ),
        ([*TRACK, "--duration", "-1"], "Error: duration_seconds must be finite and >= 0, not -1.0"),
        ([*TRACK, "--duration", "nan"], "Error: duration_seconds must be finite and >= 0, not nan"),
        (
            [
                *TRACK[:-4],
                "--stage",
                "slow_hooks",
                "--skill",
                "x",
                "--integration",
                "crackerjack",
                "--duration",
                "1",
            ],
            "Error: unknown crackerjack phase 'slow_hooks'; valid phases: fast_hooks, tests, "
            "comprehensive_hooks, ai_fix",
        ),
        ([*TRACK[:3], "--build", "4 2", *TRACK[5:], "--duration", "1"], "Error: build_number '4 2' must be"),
        (
            ["export", "CI", "/nonexistent-dir/x.json"],
            "Error: cannot write /nonexistent-dir/x.json: No such file",
        ),
        ([*TRACK, "--duration", "1e11"], "Error: duration_seconds must be at most 31622400"),
        (["report", "CI"], "Error: no database at "),
        (["rebuild-rollups"], "Error: no database at "),
    ],
)
def test_bad_input_is_one_line_and_exit_1(db_path: Path, args: list[str], message: str) -> None:
    if args[0] == "export":
        SkillsStorage(f"sqlite:///{db_path}").close()  # a database there, but nowhere to write
    result = cli(db_path, *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(message)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("foo://bar", "foo://bar: Can't load plugin: sqlalchemy.dialects:foo"),
        ("mysql://user:secret@db/ci", "mysql://user:***@db/ci: mysql is not supported"),
        ("postgresql://user:secret@db:abc/ci", "postgresql://…: invalid literal for int()"),
        ("sqlite+aiosqlite:///ci.db", "sqlite+aiosqlite:///ci.db: sqlite+aiosqlite is an async driver"),
        ("sqlite+pysqlcipher://:secret@/ci.db", "sqlite+pysqlcipher://:***@/ci.db: sqlite+pysqlcipher is"),
        ("postgresql+pg8000://user:secret@db/ci", "postgresql+pg8000://user:***@db/ci: No module named"),
        ("mysql://user@db/ci?PassWord=secret&x=1", "mysql://user@db/ci?PassWord=hidden&x=1: mysql is not"),
    ],
)
def test_a_database_url_we_cannot_use_is_one_line(url: str, shown: str) -> None:
    result = CliRunner().invoke(main, ["--database", url, "report", "CI"])
    assert result.exit_code == 1
    assert (
        result.stderr.startswith(f"Error: cannot use the database {shown}") and "secret" not in result.stderr
    )
    assert len(result.stderr.splitlines()) == 1


def test_usage_errors_name_the_option(db_path: Path) -> None:
    # Click's own checks (unknown choice, out-of-range number) keep click's
    # usage message and exit code 2.
    result = cli(db_path, "report", "CI", "--format", "html")
    assert result.exit_code == 2
    assert "Invalid value for '--format': 'html' is not one of 'md', 'text', 'json'." in result.stderr
    result = cli(db_path, "report", "CI", "--days", "0")
    assert result.exit_code == 2
    assert "Invalid value for '--days'" in result.stderr


def test_a_sqlite_uri_database_is_read_where_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "a.db"
    SkillsStorage(f"sqlite:///{db}").close()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = CliRunner().invoke(main, ["--database", f"sqlite:///file:{db}?mode=ro&uri=true", "report", "CI"])
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
    assert "No runs recorded" in result.stdout
    assert list(work.iterdir()) == []  # no stray file: folder where it ran
