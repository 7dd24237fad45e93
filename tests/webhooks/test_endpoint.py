"""POST /webhooks/github with every real payload, signed and not."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from receiver import create_app
from receiver.webhook_worker import WebhookWorker
from receiver.webhooks import WebhookConfigError
from tests.conftest import WEBHOOK_SECRET
from tests.webhooks.helpers import HOOKS, fixture_files, job_payload, post, raw, run_payload, sample
from tracker.github.signature import sign
from tracker.settings import Settings
from tracker.storage import SkillsStorage

# What each fixture, posted alone, leaves behind: HTTP status, answer,
# delivery status after processing, and the stored run or job state.
RUN = "workflow_run"
JOB = "workflow_job"
EXPECTED: dict[str, dict[str, Any]] = {
    "check_suite/completed.1.payload.json": {"http": 202, "answer": "ignored", "delivery": "ignored"},
    "check_suite/completed.payload.json": {"http": 202, "answer": "ignored", "delivery": "ignored"},
    "check_suite/completed.with-organization.payload.json": {
        "http": 202,
        "answer": "ignored",
        "delivery": "ignored",
    },
    "installation/created.payload.json": {"http": 202, "answer": "ignored", "delivery": "ignored"},
    "installation/created.with-requester.payload.json": {
        "http": 202,
        "answer": "ignored",
        "delivery": "ignored",
    },
    "ping/payload.json": {"http": 200, "answer": "pong", "delivery": "processed"},
    "ping/with-app_id.payload.json": {"http": 200, "answer": "pong", "delivery": "processed"},
    "ping/with-organization.payload.json": {"http": 200, "answer": "pong", "delivery": "processed"},
    "pull_request/opened.payload.json": {"http": 202, "answer": "ignored", "delivery": "ignored"},
    "pull_request/opened.with-null-body.json": {"http": 202, "answer": "ignored", "delivery": "ignored"},
    "pull_request/opened.with-organization.payload.json": {
        "http": 202,
        "answer": "ignored",
        "delivery": "ignored",
    },
    "pull_request/synchronize.payload.json": {"http": 202, "answer": "ignored", "delivery": "ignored"},
    "workflow_job/completed.failure.with-organization.payload.json": {
        "http": 202,
        "answer": "queued",
        "delivery": "processed",
        "job": (289782451, "linters", "completed", "failure", 60.0, 198.0),
    },
    "workflow_job/completed.success.with-organization.payload.json": {
        "http": 202,
        "answer": "queued",
        "delivery": "processed",
        "job": (289782451, "linters", "completed", "success", 60.0, 198.0),
    },
    "workflow_job/in_progress.payload.json": {
        "http": 202,
        "answer": "queued",
        "delivery": "processed",
        "job": (289782451, "Analyze (javascript)", "in_progress", None, 0.0, None),
    },
    "workflow_job/in_progress.with-queued-steps.payload.json": {
        "http": 202,
        "answer": "queued",
        "delivery": "processed",
        "job": (14541957942, "Do examples need to be regenerated?", "in_progress", None, 7.0, None),
    },
    "workflow_job/queued.payload.json": {
        "http": 202,
        "answer": "queued",
        "delivery": "processed",
        "job": (289782451, "update", "queued", None, None, None),
    },
    "workflow_job/queued.with-deployment.payload.json": {
        "http": 202,
        "answer": "queued",
        "delivery": "processed",
        "job": (12877621891, "test", "waiting", None, None, None),
    },
    "workflow_job/waiting.payload.json": {
        "http": 202,
        "answer": "queued",
        "delivery": "processed",
        "job": (12877621891, "test", "waiting", None, None, None),
    },
    "workflow_run/completed.payload.json": {
        "http": 202,
        "answer": "queued",
        "delivery": "processed",
        "run": ("test", "163", "completed", "success", 0.0, []),
    },
    "workflow_run/completed.with-pull-requests.payload.json": {
        "http": 202,
        "answer": "queued",
        "delivery": "processed",
        # The listed PR belongs to another repository: not linked.
        "run": ("test", "163", "completed", "success", 0.0, []),
    },
    "workflow_run/requested.payload.json": {
        "http": 202,
        "answer": "queued",
        "delivery": "processed",
        "run": ("test", "163", "queued", None, None, []),
    },
    "workflow_run/requested.with-conclusion.payload.json": {
        "http": 202,
        "answer": "queued",
        "delivery": "processed",
        "run": ("test", "163", "completed", "action_required", 0.0, []),
    },
}


def test_every_fixture_is_listed() -> None:
    assert sorted(EXPECTED) == [str(p.relative_to(HOOKS)) for p in fixture_files()]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_signed(
    name: str, client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage
) -> None:
    event = name.split("/")[0]
    want = EXPECTED[name]
    delivery = "f1a2b3c4-0000-4000-8000-000000000001"
    response = post(client, event, raw(name), delivery=delivery)
    assert response.status_code == want["http"], response.get_json()
    assert response.get_json()["status"] == want["answer"]
    assert response.get_json()["delivery_id"] == delivery
    stored = storage.delivery(delivery)
    assert stored is not None and stored.body == raw(name)  # the raw bytes, as GitHub sent them
    worker.process_pending()
    stored = storage.delivery(delivery)
    assert stored is not None
    assert stored.status.value == want["delivery"], stored.last_error
    counts = storage.count_github_rows()
    if "run" in want:
        run = sample(name)["workflow_run"]
        row = storage.github_run(run["id"], run["run_attempt"])
        assert row is not None
        got = (
            row["pipeline_name"],
            row["build_number"],
            row["status"],
            row["conclusion"],
            row["duration_seconds"],
        )
        assert (*got, row["pull_requests"]) == want["run"]
        assert counts == {"github_run": 1, "github_job": 0, "github_pr_run": 0}
    elif "job" in want:
        (row,) = storage.github_jobs()
        got = (row["job_id"], row["name"], row["status"], row["conclusion"], row["queue_seconds"])
        assert (*got, row["duration_seconds"]) == want["job"]
        assert row["materialised_at"] is None  # its run has not been seen: the steps wait for it
        assert counts == {"github_run": 0, "github_job": 1, "github_pr_run": 0}
    else:
        assert counts == {"github_run": 0, "github_job": 0, "github_pr_run": 0}
    if event == "ping":
        assert stored.hook_id == "109948940"
    assert storage.count_invocations() == 0
    # The same delivery again (GitHub's "Redeliver"): answered 200, nothing changes.
    again = post(client, event, raw(name), delivery=delivery)
    assert again.status_code == 200
    assert (again.get_json()["status"], again.get_json()["delivery_status"]) == (
        "duplicate",
        want["delivery"],
    )
    assert worker.process_pending().deliveries.total == 0
    assert storage.count_github_rows() == counts
    assert storage.delivery_counts() == {want["delivery"]: 1}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_unsigned_or_wrongly_signed_is_refused(
    name: str, client: FlaskClient, storage: SkillsStorage
) -> None:
    event = name.split("/")[0]
    data = raw(name)
    tampered = data.replace(b'"', b"'", 1) if data.startswith(b'{"') else data + b" "
    attempts = [
        post(client, event, data, secret=None),  # no signature
        post(client, event, data, secret="not the secret"),
        post(client, event, tampered, signature=sign(data, WEBHOOK_SECRET)),  # body changed after signing
    ]
    assert [r.status_code for r in attempts] == [401, 401, 401]
    assert [r.get_json()["error"] for r in attempts] == ["bad_signature"] * 3
    assert "missing X-Hub-Signature-256" in attempts[0].get_json()["message"]
    assert storage.delivery_counts() == {}


def test_repeated_delivery_changes_nothing(
    client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage
) -> None:
    from tests.webhooks.helpers import job_payload, run_payload

    first = post(client, "workflow_run", run_payload(), delivery="run-1")
    again = post(client, "workflow_run", run_payload(), delivery="run-1")
    assert (first.status_code, first.get_json()["status"]) == (202, "queued")
    assert (again.status_code, again.get_json()["status"], again.get_json()["delivery_status"]) == (
        200,
        "duplicate",
        "pending",
    )
    assert post(client, "workflow_job", job_payload(), delivery="job-1").status_code == 202
    worker.process_pending()
    before = (
        storage.count_invocations(),
        storage.count_github_rows(),
        storage.skill_metrics("Run yarn install"),
    )
    assert before[0] == 12
    redelivered = post(client, "workflow_job", job_payload(), delivery="job-1")
    assert (redelivered.status_code, redelivered.get_json()["delivery_status"]) == (200, "processed")
    stats = worker.process_pending()
    assert stats.deliveries.total == 0
    after = (
        storage.count_invocations(),
        storage.count_github_rows(),
        storage.skill_metrics("Run yarn install"),
    )
    assert after == before
    assert storage.delivery_counts() == {"processed": 2}


def test_rotated_secret_is_accepted(settings: Settings) -> None:
    rotated = create_app(settings.with_(webhook_secrets=("new-secret", WEBHOOK_SECRET)), TESTING=True)
    client = rotated.test_client()
    assert post(client, "ping", raw("ping/payload.json"), secret="new-secret").status_code == 200
    assert post(client, "ping", raw("ping/payload.json"), secret=WEBHOOK_SECRET).status_code == 200
    assert post(client, "ping", raw("ping/payload.json"), secret="old-secret").status_code == 401


class TestBadDeliveries:
    def test_oversize_body(self, settings: Settings, storage: SkillsStorage) -> None:
        small = create_app(settings.with_(webhook_max_bytes=1000), TESTING=True).test_client()
        response = post(small, "ping", raw("ping/payload.json"))
        assert response.status_code == 413
        assert "larger than 1000 bytes" in response.get_json()["message"]
        assert storage.delivery_counts() == {}

    @pytest.mark.parametrize(("padding", "status"), [(500, 200), (3000, 413)])
    def test_chunked_body_without_length(
        self, settings: Settings, storage: SkillsStorage, padding: int, status: int
    ) -> None:
        # gunicorn marks chunked bodies as terminated streams: no Content-Length.
        app = create_app(settings.with_(webhook_max_bytes=1000), TESTING=True)
        data = b'{"zen": "' + b"z" * padding + b'"}'
        response = app.test_client().post(
            "/webhooks/github",
            input_stream=io.BytesIO(data),
            environ_overrides={"wsgi.input_terminated": True},
            headers={
                "X-GitHub-Event": "ping",
                "X-GitHub-Delivery": f"chunked-{padding}",
                "X-Hub-Signature-256": sign(data, WEBHOOK_SECRET),
                "Content-Type": "application/json",
                "Transfer-Encoding": "chunked",
            },
        )
        assert response.status_code == status
        assert storage.delivery_counts() == ({"processed": 1} if status == 200 else {})

    @pytest.mark.parametrize(
        ("data", "headers", "status", "message"),
        [
            (b"{not json", {}, 400, "not valid JSON"),
            (b"[1, 2]", {}, 400, "must be a JSON object, not list"),
            (b"{}", {"X-GitHub-Delivery": ""}, 400, "missing X-GitHub-Delivery"),
            (b"{}", {"X-GitHub-Event": ""}, 400, "missing X-GitHub-Event"),
            (b"{}", {"Content-Type": "text/plain"}, 415, "text/plain"),
        ],
    )
    def test_malformed(
        self,
        client: FlaskClient,
        storage: SkillsStorage,
        data: bytes,
        headers: dict[str, str],
        status: int,
        message: str,
    ) -> None:
        response = post(client, "ping", data, extra=headers)
        assert response.status_code == status
        assert message in response.get_json()["message"]
        assert storage.delivery_counts() == {}

    @pytest.mark.parametrize(
        ("event", "name", "drop", "message"),
        [
            (
                "workflow_job",
                "workflow_job/completed.success.with-organization.payload.json",
                "id",
                "workflow_job.id is missing",
            ),
            (
                "workflow_job",
                "workflow_job/queued.payload.json",
                "head_sha",
                "workflow_job.head_sha is missing",
            ),
            (
                "workflow_run",
                "workflow_run/completed.payload.json",
                "run_number",
                "workflow_run.run_number is missing",
            ),
        ],
    )
    def test_missing_field_is_422(
        self,
        client: FlaskClient,
        storage: SkillsStorage,
        event: str,
        name: str,
        drop: str,
        message: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        payload = sample(name)
        del payload[event][drop]
        response = post(client, event, payload, delivery="d-missing-field")
        assert response.status_code == 422
        assert response.get_json() == {"error": "invalid_payload", "message": message}
        assert storage.delivery_counts() == {}
        assert any("d-missing-field" in r.getMessage() and message in r.getMessage() for r in caplog.records)

    @pytest.mark.parametrize(
        ("event", "place", "field"),
        [
            ("workflow_run", lambda p: p["workflow_run"], "payload.workflow_run.name"),
            ("workflow_job", lambda p: p["workflow_job"]["steps"][0], "payload.workflow_job.steps[0].name"),
        ],
    )
    def test_lone_surrogate_is_422_not_acknowledged(
        self, client: FlaskClient, storage: SkillsStorage, event: str, place: Any, field: str
    ) -> None:
        payload = run_payload() if event == "workflow_run" else job_payload()
        place(payload)["name"] = "lint \ud800"
        response = post(client, event, payload, delivery="d-surrogate")
        assert response.status_code == 422
        assert response.get_json() == {
            "error": "invalid_payload",
            "message": f"{field} is text that is not valid Unicode (a lone surrogate)",
        }
        assert storage.delivery_counts() == {}

    def test_form_encoded_delivery_is_accepted(
        self, client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage
    ) -> None:
        from urllib.parse import urlencode

        form = urlencode({"payload": raw("workflow_run/completed.payload.json").decode()}).encode()
        response = post(
            client, "workflow_run", form, delivery="form-1", content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 202
        worker.process_pending()
        assert storage.github_run(289782451) is not None
        assert storage.delivery_counts() == {"processed": 1}


class TestConfiguration:
    def test_enabled_without_secret_refuses_to_start(self, db_path: Path) -> None:
        settings = Settings(database_url=f"sqlite:///{db_path}", webhooks_enabled="true")
        with pytest.raises(WebhookConfigError, match="SESSION_BUDDY_CI_WEBHOOK_SECRETS"):
            create_app(settings, TESTING=True)

    def test_insecure_dev_accepts_unsigned(self, db_path: Path) -> None:
        settings = Settings(
            database_url=f"sqlite:///{db_path}", webhooks_enabled="true", webhook_insecure_dev=True
        )
        client = create_app(settings, TESTING=True).test_client()
        assert post(client, "ping", raw("ping/payload.json"), secret=None).status_code == 200

    def test_auto_without_secret_is_off(self, db_path: Path) -> None:
        client = create_app(Settings(database_url=f"sqlite:///{db_path}"), TESTING=True).test_client()
        response = post(client, "ping", raw("ping/payload.json"))
        assert response.status_code == 404
        assert response.get_json()["error"] == "webhooks_disabled"

    def test_described_in_openapi(self, client: FlaskClient) -> None:
        doc = client.get("/api/v1/openapi.json").get_json()
        op = doc["paths"]["/webhooks/github"]["post"]
        assert sorted(op["responses"]) == ["200", "202", "400", "401", "404", "413", "415", "422", "503"]
        assert [p["name"] for p in op["parameters"]] == [
            "X-GitHub-Event",
            "X-GitHub-Delivery",
            "X-Hub-Signature-256",
        ]


def test_app_fixture(app: Flask) -> None:
    assert app.testing
