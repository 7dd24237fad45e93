"""Webhook deliveries whose fields PostgreSQL would refuse: acknowledged
deliveries are stored (text cleaned to its column), what no column can
hold is refused on receipt (422), and nothing gets a 503."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from receiver import create_app
from receiver.webhooks import webhook_worker
from tests.webhooks.helpers import post, run_payload
from tracker.settings import Settings
from tracker.storage import SkillsStorage


@pytest.fixture
def pg_settings(pg: SkillsStorage, pg_url: str, settings: Settings) -> Settings:
    return settings.with_(database_url=pg_url)


def test_long_and_nul_text_is_stored_cleaned(pg_settings: Settings, pg: SkillsStorage) -> None:
    app = create_app(pg_settings, TESTING=True)
    client: FlaskClient = app.test_client()
    payload = run_payload(
        head_branch="feature/" + "b" * 250, status="completed\x00", conclusion="success\x00"
    )
    payload["action"] = "completed\x00"
    payload["workflow_run"]["head_repository"]["full_name"] = "forker/" + "r" * 300
    payload["workflow_run"]["head_repository"]["owner"]["login"] = "fork\x00er"
    response = post(client, "workflow_run", payload)
    assert response.status_code == 202, response.get_json()
    stats = webhook_worker(app).process_pending()
    assert stats.errors == []
    run = pg.github_run(2202229078)
    assert run is not None
    assert (len(run["head_branch"]), run["status"], run["conclusion"]) == (255, "completed", "success")
    assert (len(run["head_repository"]), run["head_owner"]) == (255, "fork er")
    assert pg.delivery_counts() == {"processed": 1}


@pytest.mark.parametrize(
    ("field", "value"), [("id", 2**63), ("run_attempt", 2**40), ("created_at", "0001-01-01T00:00:00+01:00")]
)
def test_what_no_column_holds_is_refused_on_receipt(
    pg_settings: Settings, pg: SkillsStorage, field: str, value: object
) -> None:
    client = create_app(pg_settings, TESTING=True).test_client()
    payload = run_payload()
    payload["workflow_run"][field] = value
    response = post(client, "workflow_run", payload)
    assert response.status_code == 422
    assert f"workflow_run.{field}" in response.get_json()["message"]
    assert pg.delivery_counts() == {}
