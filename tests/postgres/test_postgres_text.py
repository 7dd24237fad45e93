"""Text PostgreSQL cannot hold (NUL) gets the same answer as on SQLite:
free text is stored with U+FFFD for it, names with it are refused (400),
never a 503 that the Action would retry and spool."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from receiver import create_app
from tests.conftest import API_TOKEN
from tests.skills.test_api import CRACKERJACK_PHASE
from tests.support.stage import stage_body
from tracker.settings import Settings
from tracker.storage import SkillsStorage

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def pg_client(pg: SkillsStorage, pg_url: str, settings: Settings) -> FlaskClient:
    return create_app(settings.with_(database_url=pg_url), TESTING=True).test_client()


def test_free_text_with_nul_is_stored_with_a_replacement(pg_client: FlaskClient, pg: SkillsStorage) -> None:
    stage = pg_client.post("/api/v1/stage-results", json=stage_body(error="boom\x00x"), headers=AUTH)
    assert stage.status_code == 201, stage.get_json()
    phase = {**CRACKERJACK_PHASE, "error_message": "E501\x00"}
    assert pg_client.post("/api/v1/crackerjack/phases", json=phase, headers=AUTH).status_code == 201
    search = pg_client.get("/api/v1/skills/search", query_string={"q": "run\x00 the tests"})
    assert search.status_code == 200
    stored = {r["skill_name"]: r["error_message"] for r in pg.invocations(limit=5)}
    assert stored == {"pytest-run": "boom\ufffdx", "ruff-check": "E501\ufffd"}


def test_names_with_nul_are_refused(pg_client: FlaskClient) -> None:
    skill = {"name": "my-skill", "description": "does\x00 things", "workflow_phase": "execution"}
    response = pg_client.post("/api/v1/skills", json=skill, headers=AUTH)
    assert (response.status_code, response.get_json()["field"]) == (400, "description")
    for path in ("/api/v1/pipelines/a%00b/analytics", "/api/v1/pipelines/a%00b/report", "/pipelines/a%00b"):
        assert pg_client.get(path).status_code == 400, path
