"""Read endpoints over results posted through the API: the pipeline list,
analytics and the report in each format."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from ..support.stage import STAGE_PATH, stage_body

STAGES = [
    # (stage, skill, success, seconds)
    ("build", "uv-install", True, 20.0),
    ("test", "pytest-run", True, 40.0),
    ("test", "pytest-run", False, 60.0),
    ("lint", "ruff-check", True, 5.0),
]


@pytest.fixture
def seeded(client: FlaskClient, auth: dict[str, str]) -> None:
    for n, (stage, skill, success, seconds) in enumerate(STAGES):
        body = stage_body(
            stage=stage,
            skill=skill,
            success=success,
            duration_seconds=seconds,
            error=None if success else "AssertionError: boom <b>",
            context={"build_number": str(100 + n)},
        )
        response = client.post(STAGE_PATH, json=body, headers=auth)
        assert response.status_code == 201
    other = stage_body(context={"pipeline_name": "Nightly"}, stage="deploy", skill="helm-deploy")
    assert client.post(STAGE_PATH, json=other, headers=auth).status_code == 201


def test_pipelines_lists_each_with_its_figures(client: FlaskClient, seeded: None) -> None:
    response = client.get("/api/v1/pipelines")
    assert response.status_code == 200
    pipelines = {p["name"]: p for p in response.get_json()["pipelines"]}
    assert set(pipelines) == {"CI", "Nightly"}
    assert pipelines["CI"]["runs"] == 4
    assert pipelines["CI"]["success_rate"] == pytest.approx(0.75)
    assert pipelines["Nightly"]["runs"] == 1


def test_pipelines_empty(client: FlaskClient) -> None:
    assert client.get("/api/v1/pipelines").get_json() == {"pipelines": []}


def test_analytics_per_stage(client: FlaskClient, seeded: None) -> None:
    response = client.get("/api/v1/pipelines/CI/analytics?days=7")
    assert response.status_code == 200
    data = response.get_json()
    assert data["pipeline_name"] == "CI"
    assert data["days"] == 7
    stages = {s["stage_name"]: s for s in data["stages"]}
    assert set(stages) == {"build", "test", "lint"}
    assert stages["test"]["total_runs"] == 2
    assert stages["test"]["successful_runs"] == 1
    assert stages["test"]["workflow_phase"] == "execution"
    assert stages["test"]["mean_duration"] == pytest.approx(50.0)
    assert stages["lint"]["workflow_phase"] == "verification"
    assert [b["stage"] for b in data["bottlenecks"]] == ["test"]


def test_analytics_of_unknown_pipeline_is_empty(client: FlaskClient, seeded: None) -> None:
    data = client.get("/api/v1/pipelines/nope/analytics").get_json()
    assert data["stages"] == []
    assert data["total_runs"] == 0


def test_report_markdown_is_the_default(client: FlaskClient, seeded: None) -> None:
    response = client.get("/api/v1/pipelines/CI/report")
    assert response.status_code == 200
    assert response.mimetype == "text/markdown"
    text = response.get_data(as_text=True)
    assert "| test |" in text.replace("`", "")
    # User text is escaped: the failure shows in a code span, not as HTML.
    assert "`AssertionError: boom <b>`" in text
    assert text.count("<b>") == 1


def test_report_json(client: FlaskClient, seeded: None) -> None:
    response = client.get("/api/v1/pipelines/CI/report?format=json&days=30")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    data = json.loads(response.get_data())
    assert data["days"] == 30
    assert {s["stage_name"] for s in data["stages"]} == {"build", "test", "lint"}


def test_report_text(client: FlaskClient, seeded: None) -> None:
    response = client.get("/api/v1/pipelines/CI/report?format=text")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "test" in response.get_data(as_text=True)


def test_pipeline_name_with_slash(client: FlaskClient, auth: dict[str, str]) -> None:
    body = stage_body(context={"pipeline_name": "release/v2"})
    assert client.post(STAGE_PATH, json=body, headers=auth).status_code == 201
    data = client.get("/api/v1/pipelines/release/v2/analytics").get_json()
    assert data["pipeline_name"] == "release/v2"
    assert data["total_runs"] == 1


# "²" and "①" are digits to str.isdigit() but not to int(); int() refuses
# more than 4,300 digits: each was a 500 once.
@pytest.mark.parametrize("days", ["0", "-1", "abc", "3651", "1.5", "", "²", "①", "9" * 5000, "٣", " 7"])
@pytest.mark.parametrize("endpoint", ["analytics", "report"])
def test_bad_days_is_400(client: FlaskClient, endpoint: str, days: str) -> None:
    response = client.get(f"/api/v1/pipelines/CI/{endpoint}?days={days}")
    assert response.status_code == 400
    assert "days" in response.get_json()["message"]


@pytest.mark.parametrize("fmt", ["html", "MD", ""])
def test_bad_format_is_400(client: FlaskClient, fmt: str) -> None:
    response = client.get(f"/api/v1/pipelines/CI/report?format={fmt}")
    assert response.status_code == 400
    assert "format" in response.get_json()["message"]


def test_a_pipeline_name_longer_than_its_column_is_a_400(client: FlaskClient) -> None:
    response = client.get("/api/v1/pipelines/" + "x" * 256 + "/analytics")
    assert response.status_code == 400
    assert response.get_json()["message"] == "a pipeline name is at most 255 characters"
    assert client.get("/api/v1/pipelines/" + "x" * 255 + "/analytics").status_code == 200
