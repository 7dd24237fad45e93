"""The dashboard in a real browser: headless Chromium against gunicorn."""

from __future__ import annotations

import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from tests.support.days import earlier_today
from tests.support.server import gunicorn
from tracker.cicd import CICDTracker
from tracker.context import CIPipelineContext
from tracker.records import utcnow
from tracker.settings import Settings

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (scripts/bootstrap test installs it)"
    ),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browse(url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra, url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_pipeline_page_renders_charts_without_running_hostile_text(tmp_path: Path) -> None:
    db = tmp_path / "browser.db"
    tracker = CICDTracker(db, settings=Settings(database_url=f"sqlite:///{db}"))
    name = "CI <img src=x onerror=alert(1)>"
    ctx = CIPipelineContext(
        pipeline_name=name,
        build_number="7",
        git_commit="abcdef1",
        git_branch="main",
        environment="ci",
        triggered_by="push",
    )
    now = utcnow()
    tracker.track_pipeline_stage(
        ctx, "test", "pytest-run", True, 12.0, started_at=earlier_today(now, hours=2)
    )
    tracker.track_pipeline_stage(
        ctx,
        "test",
        "pytest-run",
        False,
        14.0,
        started_at=earlier_today(now, hours=1),
        error_message="<script>x</script>",
    )
    tracker.close()

    with gunicorn(
        {"SESSION_BUDDY_CI_DATABASE_URL": f"sqlite:///{db}"}, workers=1, log_dir=tmp_path
    ) as server:
        url = f"{server.url}/pipelines/{urllib.parse.quote(name)}?days=7"
        dom = _browse(url, tmp_path, "--dump-dom").stdout
        shot = tmp_path / "dashboard.png"
        _browse(url, tmp_path, "--window-size=1200,900", f"--screenshot={shot}")

    # The browser built the page: the heading holds the name as text, the
    # runs chart has one success and one failure bar for today.
    assert "<h1>CI &lt;img src=x onerror=alert(1)&gt;</h1>" in dom
    runs_svg = dom.split('aria-label="Runs per day')[1].split("</svg>")[0]
    assert runs_svg.count('class="ok"') == 1 and runs_svg.count('class="fail"') == 1
    # No element came out of the hostile text.
    assert "<img" not in dom and "<script>x" not in dom
    assert shot.stat().st_size > 10_000
