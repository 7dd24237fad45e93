"""The examples of issue 6, run as written in a fresh process: the default
database is the documented default location (``$XDG_DATA_HOME``), the
embedder the default setting (``auto``: MiniLM here)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from tracker.settings import Settings
from tracker.storage import SkillsStorage

from ..conftest import REPO

EXAMPLE = """\
from pathlib import Path
from tracker import SkillsTracker, CrackerjackIntegration, IDEPluginProtocol, IDEContext
tracker = SkillsTracker(session_id="crackerjack_123")
integration = CrackerjackIntegration(tracker, Path("."))
integration.track_crackerjack_phase("fast_hooks", "ruff-check", True, 2.5)
integration.track_crackerjack_phase("tests", "pytest-run", True, 45.0)
print(integration.get_crackerjack_workflow_report())

plugin = IDEPluginProtocol(db_path="skills.db")
context = IDEContext(file_path="src/test_main.py", line_number=42,
    selected_code="def test_foo():", language="python",
    cursor_position=(42, 0), project_name="myproject")
for sugg in plugin.get_code_context_recommendations(context, limit=5):
    print(f"{sugg.skill_name}: {sugg.description} ({sugg.confidence:.2f})")
"""


def test_the_brief_examples_run_as_written(tmp_path: Path) -> None:
    workdir = tmp_path / "myproject"
    workdir.mkdir()
    (workdir / "example.py").write_text(EXAMPLE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_BUDDY_CI_")}
    env.update(PYTHONPATH=str(REPO), XDG_DATA_HOME=str(tmp_path / "xdg"), HF_HUB_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, "example.py"], cwd=workdir, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    report_line, *suggestions = out.stdout.strip().splitlines()
    report = ast.literal_eval(report_line)
    assert report["session_id"] == "crackerjack_123" and report["project"] == "myproject"
    assert report["phases"]["fast_hooks"]["tools"][0]["skill"] == "ruff-check"
    assert report["phases"]["tests"]["mean_duration"] == 45.0
    assert len(suggestions) == 5
    assert re.fullmatch(r"pytest-run: Run the Python unit tests with pytest\. \(0\.\d\d\)", suggestions[0])
    assert {s.split(":")[0] for s in suggestions[:3]} == {"pytest-run", "pytest-coverage", "pytest-debug"}
    # The tracker wrote to the documented default database; the plugin to skills.db.
    default_db = tmp_path / "xdg" / "session-buddy-ci" / "session-buddy-ci.db"
    assert default_db.exists() and (workdir / "skills.db").exists()
    storage = SkillsStorage(default_db, settings=Settings())
    assert storage.count_invocations(session_id="crackerjack_123") == 2
    assert {r["embedder"] for r in SkillsStorage(workdir / "skills.db").catalogue_entries()} == {
        "all-MiniLM-L6-v2"
    }
    storage.close()
