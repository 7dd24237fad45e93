"""The brief's example, run as written in a fresh process; a second process
sees what the first stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

EXAMPLE = """\
from pathlib import Path
from tracker import CICDTracker, CIPipelineContext
tracker = CICDTracker(db_path="skills.db")
context = CIPipelineContext(pipeline_name="test-pipeline", build_number="123",
    git_commit="abc123def456", git_branch="main", environment="staging",
    triggered_by="github")
tracker.track_pipeline_stage(context, "test", "pytest-run", True, 45.2)
analytics = tracker.get_pipeline_analytics("test-pipeline", days=7)
print(tracker.generate_pipeline_report("test-pipeline", days=30))
tracker.export_analytics(context.pipeline_name, Path("analytics.json"))
"""

READER = """\
from tracker import CICDTracker
tracker = CICDTracker(db_path="skills.db")
stage = tracker.get_pipeline_analytics("test-pipeline", days=7).stage("test")
print(stage.total_runs, stage.successful_runs, stage.mean_duration, stage.skills_used)
"""


def run(code: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_BUDDY_CI_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_brief_example_as_written(tmp_path: Path) -> None:
    out = run(EXAMPLE, tmp_path)
    assert out.startswith("## Pipeline report: test-pipeline — last 30 days\n")
    assert "| test | execution | 1 | 100.0% | 0 | 45.2s | 45.2s | 45.2s | new | pytest-run |" in out
    assert (tmp_path / "skills.db").is_file()
    data = json.loads((tmp_path / "analytics.json").read_text(encoding="utf-8"))
    assert data["schema_version"] == 1
    assert data["pipeline_name"] == "test-pipeline"
    assert [(s["stage_name"], s["total_runs"], s["mean_duration"]) for s in data["stages"]] == [
        ("test", 1, 45.2)
    ]

    # Another process, the same file.
    assert run(READER, tmp_path) == "1 1 45.2 ('pytest-run',)\n"
    run(EXAMPLE, tmp_path)
    assert run(READER, tmp_path) == "2 2 45.2 ('pytest-run',)\n"
