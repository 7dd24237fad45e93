"""CrackerjackIntegration: phases recorded and reported from the database
(across processes), and ``session-buddy-ci crackerjack run`` in front of a
Crackerjack that replays captured output, and of the real one (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tracker.crackerjack import CrackerjackIntegration, project_name_of
from tracker.embeddings import HashingEmbedder
from tracker.phases import CRACKERJACK_PHASES, WorkflowPhase
from tracker.semantic import SkillCatalogue
from tracker.settings import Settings
from tracker.skills import SkillsTracker
from tracker.storage import SkillsStorage

from ..conftest import REPO
from .test_crackerjack_output import load, parsed, sample_path

CLI = [sys.executable, "-c", "from receiver.cli import main; main()"]
REAL_CRACKERJACK = REPO / ".venv-crackerjack" / "bin" / "crackerjack"


def integration(
    storage: SkillsStorage, session: str = "123", project: str = "shop"
) -> CrackerjackIntegration:
    tracker = SkillsTracker(session, storage, catalogue=SkillCatalogue(storage, HashingEmbedder()))
    return CrackerjackIntegration(tracker, Path("."), project_name=project)


def test_phases_and_session_id(storage: SkillsStorage) -> None:
    cj = integration(storage, "123")
    assert cj.session_id == "crackerjack_123"
    assert integration(storage, "crackerjack_9").session_id == "crackerjack_9"
    assert cj.get_workflow_phase("fast_hooks") is WorkflowPhase.SETUP
    assert cj.get_workflow_phase("AI_FIX") is WorkflowPhase.EXECUTION
    with pytest.raises(ValueError, match="fast_hooks, tests, comprehensive_hooks, ai_fix") as caught:
        cj.track_crackerjack_phase("lint", "ruff-check", True, 1.0)
    assert "'lint'" in str(caught.value)
    with pytest.raises(ValueError, match="duration"):
        cj.track_crackerjack_phase("tests", "pytest-run", True, -1)
    assert storage.count_invocations() == 0


def test_summary_and_report(storage: SkillsStorage) -> None:
    cj = integration(storage)
    cj.track_crackerjack_phase("fast_hooks", "ruff-check", True, 2.0)
    cj.track_crackerjack_phase("fast_hooks", "ruff-check", False, 4.0, "E501 line too long\nmore")
    cj.track_crackerjack_phase("fast_hooks", "codespell", False, 1.0, "E501 line too long")
    cj.track_crackerjack_phase("fast_hooks", "ruff-format", True, 2.0)
    cj.track_crackerjack_phase("tests", "pytest-run", True, 45.0)
    integration(storage, project="other").track_crackerjack_phase("tests", "pytest-run", False, 9.0)
    fast = cj.get_phase_summary("fast_hooks")
    assert (fast["invocations"], fast["completed"], fast["failed"]) == (4, 2, 2)
    assert (
        fast["completion_rate"] == 0.5 and fast["mean_duration"] == 2.25 and fast["workflow_phase"] == "setup"
    )
    assert fast["tools"][0] == {
        "skill": "ruff-check",
        "invocations": 2,
        "completion_rate": 0.5,
        "mean_duration": 3.0,
    }
    assert fast["common_failures"] == [{"error": "E501 line too long", "count": 2}]
    assert fast["bottleneck"] is True and fast["bottleneck_tool"] == "codespell"
    assert fast["slowest_tool"] == "ruff-check"
    report = cj.get_crackerjack_workflow_report()
    assert report["project"] == "shop" and report["runs"] == 1 and report["invocations"] == 5
    assert report["bottlenecks"] == ["fast_hooks"] and report["slowest_phase"] == "tests"
    assert report["phases"]["tests"]["completion_rate"] == 1.0  # the other project's failure is not here
    assert report["phases"]["ai_fix"]["invocations"] == 0
    with pytest.raises(ValueError, match="valid phases"):
        cj.get_phase_summary("deploy")


def test_recommended_skills_for_a_phase(storage: SkillsStorage) -> None:
    cj = integration(storage)
    names = [r.skill_name for r in cj.get_recommended_skills("comprehensive_hooks", limit=6)]
    assert set(names) == set(CRACKERJACK_PHASES.usual_skills["comprehensive_hooks"])
    queried = [r.skill_name for r in cj.get_recommended_skills("comprehensive_hooks", 3, "security scan")]
    assert "bandit-security" in queried
    for _ in range(6):
        cj.track_crackerjack_phase("comprehensive_hooks", "mypy-check", False, 60.0)
        cj.track_crackerjack_phase("comprehensive_hooks", "pyright-check", True, 5.0)
    ranked = [r.skill_name for r in cj.get_recommended_skills("comprehensive_hooks", limit=6)]
    assert ranked.index("pyright-check") < ranked.index("mypy-check")


TWO_PROCESS_RUN = """
import sys
from pathlib import Path
from tracker import CrackerjackIntegration, SkillsTracker
tracker = SkillsTracker(session_id=sys.argv[1])
integration = CrackerjackIntegration(tracker, Path("."))
ok = sys.argv[1] == "run1"
integration.track_crackerjack_phase("fast_hooks", "ruff-check", ok, 2.5, "E501 line too long")
integration.track_crackerjack_phase("tests", "pytest-run", True, 45.0)
"""


def test_report_covers_runs_of_two_processes(tmp_path: Path, db_path: Path) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "shop-app"\n')
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SESSION_BUDDY_CI_DATABASE_URL": f"sqlite:///{db_path}",
        "SESSION_BUDDY_CI_EMBEDDER": "fallback",
    }
    for run in ("run1", "run2"):
        subprocess.run(
            [sys.executable, "-c", TWO_PROCESS_RUN, run], cwd=project, env=env, check=True, timeout=60
        )
    storage = SkillsStorage(db_path, settings=Settings(embedder="fallback"))
    report = CrackerjackIntegration(
        SkillsTracker("reader", storage), project
    ).get_crackerjack_workflow_report()
    assert report["project"] == "shop-app" and report["runs"] == 2 and report["invocations"] == 4
    fast = report["phases"]["fast_hooks"]
    assert (fast["invocations"], fast["completion_rate"], fast["runs"]) == (2, 0.5, 2)
    assert fast["common_failures"] == [{"error": "E501 line too long", "count": 1}]
    assert report["phases"]["tests"]["mean_duration"] == 45.0
    sessions = {r["session_id"] for r in storage.invocations(source="crackerjack")}
    assert sessions == {"crackerjack_run1", "crackerjack_run2"}
    storage.close()


def test_project_name(tmp_path: Path) -> None:
    assert project_name_of(tmp_path) == tmp_path.name
    (tmp_path / "pyproject.toml").write_text("not toml [")
    assert project_name_of(tmp_path) == tmp_path.name
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tinypkg"\n')
    assert project_name_of(tmp_path) == "tinypkg"


def replayer(tmp_path: Path, sample: str, exit_code: int | None = None) -> Path:
    """An executable that prints a captured Crackerjack run and exits with its code."""
    header, _ = load(sample)
    script = tmp_path / "crackerjack"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import json, sys
            lines = open({str(sample_path(sample))!r}, encoding="utf-8").read().splitlines()[1:]
            for item in map(json.loads, lines):
                print(item["line"], flush=True)
            print("args:", " ".join(sys.argv[1:]), file=sys.stderr)
            sys.exit({exit_code if exit_code is not None else header["exit_code"]})
            """
        )
    )
    script.chmod(0o755)
    return script


def cli(args: list[str], db_path: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLI, "--database", str(db_path), *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), "SESSION_BUDDY_CI_EMBEDDER": "fallback", **env},
        capture_output=True,
        timeout=300,
    )


def test_cli_run_records_hooks_streams_output_and_passes_the_exit_code(tmp_path: Path, db_path: Path) -> None:
    fake = replayer(tmp_path, "run-n.jsonl", exit_code=3)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "tinypkg"\n')
    out = cli(
        [
            "crackerjack",
            "run",
            "--crackerjack",
            str(fake),
            "--project",
            str(project),
            "--session-id",
            "s1",
            "--",
            "run",
            "-n",
        ],
        db_path,
        tmp_path,
    )
    assert out.returncode == 3
    _, lines = load("run-n.jsonl")
    streamed = out.stdout.decode().splitlines()
    assert streamed[: len(lines)] == [line for _, line in lines]
    assert streamed[len(lines)] == "args: run -n"  # stderr goes through too
    assert b"recorded 32 Crackerjack result(s) of tinypkg (session crackerjack_s1, exit code 3)" in out.stderr
    storage = SkillsStorage(db_path, settings=Settings(embedder="fallback"))
    rows = storage.invocations(session_id="crackerjack_s1")
    expected = parsed("run-n.jsonl").runs
    assert len(rows) == len(expected) == 32
    failed = sorted((r["skill_name"], r["artifacts"]["attempt"]) for r in rows if r["outcome"] == "failure")
    assert failed == sorted((s, a) for s in ("codespell", "uv-lock", "pip-audit") for a in (1, 2))
    codespell = next(r for r in rows if r["skill_name"] == "codespell")
    assert (
        codespell["duration_seconds"] == 5.01 and codespell["artifacts"]["duration_source"] == "crackerjack"
    )
    assert codespell["error_message"] == "1 issue found" and codespell["stage"] == "fast_hooks"
    assert {r["workflow_path"] for r in rows} == {"tinypkg"} and {r["source"] for r in rows} == {
        "crackerjack"
    }
    assert {r["workflow_phase"] for r in rows} == {"setup"}
    storage.close()
    report = cli(["crackerjack", "report", "--project", str(project), "--json"], db_path, tmp_path)
    data = json.loads(report.stdout)
    assert data["runs"] == 1 and data["phases"]["fast_hooks"]["invocations"] == 32
    assert data["bottlenecks"] == []  # 26 of 32 passed: 81%


def test_cli_run_without_crackerjack(tmp_path: Path, db_path: Path) -> None:
    out = cli(["crackerjack", "run", "--", "run"], db_path, tmp_path, PATH=str(tmp_path))
    assert out.returncode == 127 and b"crackerjack not found" in out.stderr
    missing = cli(
        ["crackerjack", "run", "--crackerjack", str(tmp_path / "nope"), "--", "run"], db_path, tmp_path
    )
    assert missing.returncode == 127
    broken = tmp_path / "broken"
    broken.write_text("#!/no/such/interpreter\n")
    broken.chmod(0o755)
    out = cli(["crackerjack", "run", "--crackerjack", str(broken), "--", "run"], db_path, tmp_path)
    assert out.returncode == 126 and b"cannot run" in out.stderr


def test_cli_run_finds_crackerjack_through_the_setting(tmp_path: Path, db_path: Path) -> None:
    fake = replayer(tmp_path, "run-s-t.jsonl")
    out = cli(
        ["crackerjack", "run", "--", "run", "-s", "-t"],
        db_path,
        tmp_path,
        SESSION_BUDDY_CI_CRACKERJACK_COMMAND=str(fake),
    )
    assert out.returncode == 1
    storage = SkillsStorage(db_path, settings=Settings(embedder="fallback"))
    [row] = storage.invocations(source="crackerjack")
    assert (row["stage"], row["skill_name"], row["outcome"]) == ("tests", "pytest-run", "failure")
    assert row["session_id"].startswith("crackerjack_")
    storage.close()


def tiny_project(root: Path) -> Path:
    project = root / "tinypkg-project"
    (project / "tinypkg").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "tinypkg"\nversion = "0.1.0"\nrequires-python = ">=3.13"\n\n'
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
    )
    (project / "tinypkg" / "__init__.py").write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    (project / "tests" / "test_add.py").write_text(
        "from tinypkg import add\n\n\ndef test_add() -> None:\n    assert add(1, 2) == 3\n"
    )
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=project, check=True)
    return project


@pytest.mark.slow
@pytest.mark.skipif(
    not REAL_CRACKERJACK.exists(),
    reason="no .venv-crackerjack (scripts/bootstrap test creates it with Python 3.13 and crackerjack 0.74.4)",
)
def test_real_crackerjack_run(tmp_path: Path, db_path: Path) -> None:
    """About 60-75 s: crackerjack 0.74.4 checks a three-file git project offline."""
    project = tiny_project(tmp_path)
    home = tmp_path / "home"  # its caches and locks, not the user's
    home.mkdir()
    out = cli(
        [
            "crackerjack",
            "run",
            "--crackerjack",
            str(REAL_CRACKERJACK),
            "--project",
            str(project),
            "--",
            "run",
            "-n",
        ],
        db_path,
        tmp_path,
        HOME=str(home),
    )
    text = out.stdout.decode()
    assert "Crackerjack v0.74.4" in text and "Fast Hook Results:" in text
    # Offline, uv-lock and pip-audit cannot pass: Crackerjack exits 1, and so do we.
    assert out.returncode == 1, out.stderr.decode()[-2000:]
    storage = SkillsStorage(db_path, settings=Settings(embedder="fallback"))
    rows = storage.invocations(source="crackerjack")
    hooks = {r["artifacts"]["hook"] for r in rows}
    assert {"ruff-check", "ruff-format", "uv-lock", "pip-audit", "check-toml"} <= hooks
    assert {r["outcome"] for r in rows} >= {"success", "failure"}
    assert all(r["workflow_path"] == "tinypkg" and r["duration_seconds"] >= 0 for r in rows)
    shown = sum(1 for line in text.splitlines() if line.rstrip().endswith(("✅", "❌")))
    assert len(rows) == shown  # one record per hook line Crackerjack printed
    assert f"recorded {len(rows)} Crackerjack result(s)" in out.stderr.decode()
    storage.close()
