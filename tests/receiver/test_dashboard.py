"""The dashboard pages, on a real SQLite file with hand-built runs."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from receiver.charts import daily_runs_chart, horizontal_bars
from tests.support.days import earlier_today
from tracker.cicd import CICDTracker
from tracker.context import CIPipelineContext
from tracker.records import utcnow
from tracker.storage import SkillsStorage

HOSTILE = 'CI <script>alert("x")</script>'


def _ctx(build: int, pipeline: str = HOSTILE) -> CIPipelineContext:
    return CIPipelineContext(
        pipeline_name=pipeline,
        build_number=str(build),
        git_commit="abcdef1",
        git_branch="main",
        environment="ci",
        triggered_by="push",
    )


@pytest.fixture
def seeded(app: Flask, storage: SkillsStorage) -> CICDTracker:
    tracker = CICDTracker(storage=storage)
    now = utcnow()
    # Yesterday: test passes twice and fails once; lint passes once.
    for build, ok in ((1, True), (2, True), (3, False)):
        tracker.track_pipeline_stage(
            _ctx(build),
            "test",
            "pytest-run",
            ok,
            10.0 * build,
            started_at=now - timedelta(days=1),
            error_message=None if ok else "<b>boom</b> @octocat",
        )
    tracker.track_pipeline_stage(
        _ctx(1), "lint", "ruff-check", True, 4.0, started_at=earlier_today(now, hours=1)
    )
    return tracker


def test_index_lists_pipelines_escaped(client: FlaskClient, seeded: CICDTracker) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "CI &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    # 4 runs, 3 successes.
    assert re.search(r'<td class="num">4</td>\s*<td class="num">75.0%</td>', html)


def test_index_without_data_explains_how_to_start(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "No pipeline has reported yet" in html


def test_pipeline_page_shows_stages_charts_and_failures(client: FlaskClient, seeded: CICDTracker) -> None:
    response = client.get("/pipelines/" + HOSTILE, query_string={"days": 7})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<script>alert" not in html and "<b>boom" not in html
    assert "&lt;b&gt;boom&lt;/b&gt; @octocat" in html
    # The test stage: 3 runs, 66.7% success, p50 of 10/20/30 s is 20 s: a bottleneck row.
    row = re.search(r'<tr class="bottleneck">(.*?)</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert cells[:8] == ["test", "execution", "3", "66.7%", "1", "20.0s", "20.0s", "29.0s"]
    # Runs per day: yesterday has a success bar and a failure bar, today one success bar.
    runs_svg = html.split('aria-label="Runs per day')[1].split("</svg>")[0]
    assert runs_svg.count('class="ok"') == 2
    assert runs_svg.count('class="fail"') == 1
    assert "high" in html and "investigate common failures" in html


@pytest.mark.parametrize("days", ["0", "²", "9" * 5000])
def test_pipeline_page_rejects_bad_days(client: FlaskClient, days: str) -> None:
    response = client.get("/pipelines/CI", query_string={"days": days})
    assert response.status_code == 400
    assert "days must be" in response.get_data(as_text=True)


def test_unknown_pipeline_page_is_empty_not_an_error(client: FlaskClient) -> None:
    response = client.get("/pipelines/nothing-here")
    assert response.status_code == 200
    assert "No runs in the last 7 days" in response.get_data(as_text=True)


def test_daily_chart_scales_to_the_busiest_day() -> None:
    today = utcnow().date()
    rows = [
        {"day": today, "successes": 3, "failures": 1},
        {"day": today - timedelta(days=1), "successes": 2, "failures": 0},
    ]
    chart = daily_runs_chart(rows, today - timedelta(days=1), today, width=200)
    assert chart.max_label == "4"
    heights = sorted(round(b.height, 1) for b in chart.bars)
    plot = chart.height - 34
    assert heights == sorted(round(plot * n / 4, 1) for n in (3, 1, 2))


def test_horizontal_bars_keep_the_longest_full_width() -> None:
    chart = horizontal_bars([("a", 50.0, "50"), ("b", 100.0, "100")], css="ok", width=400, label_width=100)
    widths = [b.width for b in chart.bars]
    assert widths[1] == pytest.approx(400 - 100 - 70)
    assert widths[0] == pytest.approx(widths[1] / 2)
