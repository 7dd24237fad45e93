"""``POST /api/v1/stage-results`` with the Flask test client, on a real
SQLite file: auth, media type, size, validation, idempotency, storage."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, text

from receiver import create_app
from receiver.db import services
from tracker.records import utcnow
from tracker.settings import Settings
from tracker.storage import SkillsStorage

from ..conftest import API_TOKEN
from ..support.stage import STAGE_PATH, stage_body


def post(client: FlaskClient, body: Any, auth: dict[str, str], key: str | None = None, **kwargs: Any) -> Any:
    headers = dict(auth)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(STAGE_PATH, json=body, headers=headers, **kwargs)


def count(storage: SkillsStorage, table: str) -> int:
    with storage.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


ROLLUPS = (
    "skill_invocation",
    "stage_daily",
    "stage_daily_histogram",
    "skill_metrics",
    "stage_result_request",
)


class TestAuth:
    def test_no_token_is_401_with_challenge(self, client: FlaskClient) -> None:
        response = client.post(STAGE_PATH, json=stage_body())
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.get_json()["error"] == "unauthorized"

    @pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   "])
    def test_not_a_bearer_token_is_401(self, client: FlaskClient, header: str) -> None:
        response = client.post(STAGE_PATH, json=stage_body(), headers={"Authorization": header})
        assert response.status_code == 401

    def test_wrong_token_is_403(self, client: FlaskClient, storage: SkillsStorage) -> None:
        response = client.post(STAGE_PATH, json=stage_body(), headers={"Authorization": "Bearer nope"})
        assert response.status_code == 403
        assert response.get_json()["error"] == "forbidden"
        assert count(storage, "skill_invocation") == 0

    @pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
    def test_the_scheme_is_case_insensitive(self, client: FlaskClient, scheme: str) -> None:
        response = client.post(
            STAGE_PATH, json=stage_body(), headers={"Authorization": f"{scheme} {API_TOKEN}"}
        )
        assert response.status_code == 201

    def test_auth_comes_before_validation(self, client: FlaskClient) -> None:
        response = client.post(STAGE_PATH, data="not json", content_type="text/plain")
        assert response.status_code == 401

    def test_any_configured_token_is_accepted(self, settings: Settings) -> None:
        app = create_app(settings.with_(api_tokens=("old-token", API_TOKEN)), TESTING=True)
        response = app.test_client().post(
            STAGE_PATH, json=stage_body(), headers={"Authorization": "Bearer old-token"}
        )
        assert response.status_code == 201


class TestRequestShape:
    def test_non_json_media_type_is_415(self, client: FlaskClient, auth: dict[str, str]) -> None:
        response = client.post(
            STAGE_PATH, data=json.dumps(stage_body()), headers={**auth, "Content-Type": "text/plain"}
        )
        assert response.status_code == 415
        assert "application/json" in response.get_json()["message"]

    def test_json_with_charset_is_accepted(self, client: FlaskClient, auth: dict[str, str]) -> None:
        response = client.post(
            STAGE_PATH,
            data=json.dumps(stage_body()),
            headers={**auth, "Content-Type": "application/json; charset=utf-8"},
        )
        assert response.status_code == 201

    def test_body_over_the_limit_is_413(self, settings: Settings, auth: dict[str, str]) -> None:
        app = create_app(settings.with_(max_body_bytes=2048), TESTING=True)
        client = app.test_client()
        fits = stage_body(error="x" * 1000)
        assert len(json.dumps(fits)) < 2048
        assert post(client, fits, auth).status_code == 201
        response = post(client, stage_body(error="x" * 3000), auth)
        assert response.status_code == 413
        assert "2048" in response.get_json()["message"]
        assert services(app).storage.count_invocations() == 1

    @pytest.mark.parametrize(("tail", "status"), [(b"", 201), (b"NOT JSON" * 200, 413)])
    def test_chunked_body_over_the_limit_is_413(
        self, settings: Settings, auth: dict[str, str], tail: bytes, status: int
    ) -> None:
        """A chunked body has no Content-Length (gunicorn marks its stream
        terminated). Cut at the limit, this one would parse: a whole result,
        then spaces up to the limit, then more."""
        app = create_app(settings.with_(max_body_bytes=2048), TESTING=True)
        result = json.dumps(stage_body()).encode()
        data = result + b" " * (2048 - len(result)) + tail
        response = app.test_client().post(
            STAGE_PATH,
            input_stream=io.BytesIO(data),
            environ_overrides={"wsgi.input_terminated": True},
            headers={**auth, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        )
        assert response.status_code == status
        assert services(app).storage.count_invocations() == (1 if status == 201 else 0)

    @pytest.mark.parametrize(
        "raw", [b"{", b"", b"{'single': 'quotes'}", b"\xff\xfe{}", b"[" * 5000 + b"]" * 5000]
    )
    def test_broken_json_is_400(self, client: FlaskClient, auth: dict[str, str], raw: bytes) -> None:
        response = client.post(STAGE_PATH, data=raw, headers={**auth, "Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.get_json()["field"] == "body"
        assert "not valid JSON" in response.get_json()["message"]

    @pytest.mark.parametrize("body", [[], "text", 42, None])
    def test_body_must_be_an_object(self, client: FlaskClient, auth: dict[str, str], body: Any) -> None:
        response = client.post(
            STAGE_PATH, data=json.dumps(body), headers={**auth, "Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.get_json()["field"] == "body"


BAD_FIELDS = [
    # (override, field named in the answer)
    ({"context": "CI"}, "context"),
    ({"stage": None}, "stage"),
    ({"stage": ""}, "stage"),
    ({"stage": "   "}, "stage"),
    ({"stage": 7}, "stage"),
    ({"stage": "x" * 201}, "stage"),
    ({"stage": "te\nst"}, "stage"),
    ({"skill": None}, "skill"),
    ({"skill": ["pytest-run"]}, "skill"),
    ({"success": None}, "success"),
    ({"success": "true"}, "success"),
    ({"success": 1}, "success"),
    ({"duration_seconds": None}, "duration_seconds"),
    ({"duration_seconds": "45"}, "duration_seconds"),
    ({"duration_seconds": -1}, "duration_seconds"),
    ({"duration_seconds": True}, "duration_seconds"),
    ({"duration_seconds": 1e12}, "duration_seconds"),
    ({"exit_code": 1.5}, "exit_code"),
    ({"exit_code": "0"}, "exit_code"),
    ({"exit_code": False}, "exit_code"),
    ({"exit_code": 2**40}, "exit_code"),
    ({"error": 42}, "error"),
    ({"error": {"message": "x"}}, "error"),
    ({"started_at": "yesterday"}, "started_at"),
    ({"started_at": "2026-11-25T06:00:00"}, "started_at"),  # no offset
    ({"started_at": "2026-13-25T06:00:00Z"}, "started_at"),
    ({"started_at": "0001-01-01T00:00:00+01:00"}, "started_at"),
    ({"started_at": 1764050400}, "started_at"),
    ({"integration": "jenkins"}, "integration"),
    ({"integration": ["ci"]}, "integration"),
    ({"context": {"pipeline_name": None}}, "context.pipeline_name"),
    ({"context": {"pipeline_name": 12}}, "context.pipeline_name"),
    ({"context": {"build_number": None}}, "context.build_number"),
    ({"context": {"build_number": True}}, "context.build_number"),
    ({"context": {"build_number": "4 2"}}, "context.build_number"),
    ({"context": {"git_commit": "xyz"}}, "context.git_commit"),
    ({"context": {"git_commit": "abc12"}}, "context.git_commit"),
    ({"context": {"git_branch": "my branch"}}, "context.git_branch"),
    ({"context": {"environment": ""}}, "context.environment"),
    ({"context": {"triggered_by": None}}, "context.triggered_by"),
    ({"context": {"repository": "no-slash"}}, "context.repository"),
    ({"context": {"run_id": {"id": 1}}}, "context.run_id"),
    ({"context": {"run_attempt": 0}}, "context.run_attempt"),
    ({"context": {"run_attempt": "2"}}, "context.run_attempt"),
    ({"context": {"run_attempt": 2**40}}, "context.run_attempt"),
    ({"context": {"build_number": 2**60}}, "context.build_number"),
    ({"context": {"build_number": 4.5}}, "context.build_number"),
    ({"started_at": "1850-01-01T00:00:00Z"}, "started_at"),
    ({"context": {"job": "   "}}, "context.job"),
]


class TestValidation:
    @pytest.mark.parametrize(("override", "field"), BAD_FIELDS)
    def test_bad_field_is_400_naming_it(
        self,
        client: FlaskClient,
        auth: dict[str, str],
        storage: SkillsStorage,
        override: dict[str, Any],
        field: str,
    ) -> None:
        response = post(client, stage_body(**override), auth)
        assert response.status_code == 400, response.get_json()
        answer = response.get_json()
        assert answer["field"] == field
        assert field.split(".")[-1] in answer["message"]
        assert count(storage, "skill_invocation") == 0

    def test_missing_context_is_named(self, client: FlaskClient, auth: dict[str, str]) -> None:
        body = stage_body()
        del body["context"]
        response = post(client, body, auth)
        assert response.status_code == 400
        assert response.get_json()["field"] == "context"

    def test_lone_surrogate_is_400_naming_the_field(self, client: FlaskClient, auth: dict[str, str]) -> None:
        raw = json.dumps(stage_body(skill="PLACEHOLDER")).replace("PLACEHOLDER", "py\\ud800test")
        response = client.post(STAGE_PATH, data=raw, headers={**auth, "Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.get_json()["field"] == "skill"

    @pytest.mark.parametrize("key", ["", "x" * 201, "caf\u00e9", "tab\there"])
    def test_bad_idempotency_key_is_400(self, client: FlaskClient, auth: dict[str, str], key: str) -> None:
        headers = {**auth, "Idempotency-Key": key}
        response = client.post(STAGE_PATH, json=stage_body(), headers=headers)
        assert response.status_code == 400
        assert response.get_json()["field"] == "Idempotency-Key"

    def test_unknown_fields_are_ignored(
        self, client: FlaskClient, auth: dict[str, str], storage: SkillsStorage
    ) -> None:
        body = stage_body(runner="self-hosted", context={"extra": {"nested": [1, 2]}})
        response = post(client, body, auth)
        assert response.status_code == 201
        assert storage.count_invocations(stage="test") == 1

    def test_whole_numbers_written_as_floats_are_accepted(
        self, client: FlaskClient, auth: dict[str, str], storage: SkillsStorage
    ) -> None:
        body = stage_body(exit_code=1.0, context={"build_number": 42.0, "run_id": 7.0, "run_attempt": 2.0})
        answer = post(client, body, auth).get_json()
        [row] = storage.invocations(id=answer["id"])
        assert (row["build_number"], row["run_id"], row["run_attempt"], row["exit_code"]) == ("42", "7", 2, 1)
        assert answer["session_id"] == "CI-42"

    def test_nulls_for_optional_fields_are_accepted(self, client: FlaskClient, auth: dict[str, str]) -> None:
        body = stage_body()
        body.update(exit_code=None, error=None, started_at=None, integration=None)
        body["context"].update(repository=None, run_id=None, run_attempt=None, job=None)
        assert post(client, body, auth).status_code == 201


class TestIdempotency:
    def test_repeat_returns_first_answer_and_stores_once(
        self, client: FlaskClient, auth: dict[str, str], storage: SkillsStorage
    ) -> None:
        first = post(client, stage_body(), auth, key="run-1-step-3")
        assert first.status_code == 201
        assert first.get_json() == {
            "id": first.get_json()["id"],
            "session_id": "CI-42",
            "workflow_phase": "execution",
            "duplicate": False,
        }
        again = post(client, stage_body(), auth, key="run-1-step-3")
        assert again.status_code == 200
        assert again.get_json() == {**first.get_json(), "duplicate": True}
        for table in ROLLUPS:
            assert count(storage, table) in (1, 2) if table == "skill_metrics" else 1, table
        with storage.engine.connect() as conn:
            runs = conn.execute(text("SELECT sum(runs) FROM stage_daily")).scalar_one()
        assert runs == 1

    def test_key_order_does_not_make_another_body(self, client: FlaskClient, auth: dict[str, str]) -> None:
        body = stage_body()
        reordered = dict(reversed(list(body.items())))
        assert post(client, body, auth, key="k").status_code == 201
        assert post(client, reordered, auth, key="k").status_code == 200

    def test_same_key_other_body_is_422(
        self, client: FlaskClient, auth: dict[str, str], storage: SkillsStorage
    ) -> None:
        assert post(client, stage_body(), auth, key="k-1").status_code == 201
        response = post(client, stage_body(success=False), auth, key="k-1")
        assert response.status_code == 422
        assert "Idempotency-Key" in response.get_json()["message"]
        assert count(storage, "skill_invocation") == 1
        assert storage.count_invocations(outcome="failure") == 0

    def test_without_key_each_post_is_a_new_result(
        self, client: FlaskClient, auth: dict[str, str], storage: SkillsStorage
    ) -> None:
        ids = {post(client, stage_body(), auth).get_json()["id"] for _ in range(3)}
        assert len(ids) == 3
        assert count(storage, "skill_invocation") == 3
        assert count(storage, "stage_result_request") == 0

    def test_rejected_body_does_not_consume_the_key(self, client: FlaskClient, auth: dict[str, str]) -> None:
        assert post(client, stage_body(stage=""), auth, key="k-2").status_code == 400
        assert post(client, stage_body(), auth, key="k-2").status_code == 201


class TestStoredRow:
    def test_columns_and_mapped_phase(
        self, client: FlaskClient, auth: dict[str, str], storage: SkillsStorage
    ) -> None:
        body = stage_body(
            stage="lint",
            skill="ruff-check",
            success=False,
            duration_seconds=3.5,
            exit_code=1,
            error="E501 line too long\nsecond line",
            started_at="2026-11-25T07:00:00+01:00",
            context={
                "repository": "octo-org/octo-repo",
                "run_id": 1234567890,
                "run_attempt": 2,
                "job": "lint",
            },
        )
        answer = post(client, body, auth).get_json()
        assert answer["workflow_phase"] == "verification"
        [row] = storage.invocations(id=answer["id"])
        assert row["skill_name"] == "ruff-check"
        assert row["stage"] == "lint"
        assert row["workflow_phase"] == "verification"
        assert row["session_id"] == "CI-42"
        assert row["source"] == "ci"
        assert row["outcome"] == "failure"
        assert row["completed"] is False
        assert row["duration_seconds"] == 3.5
        assert row["exit_code"] == 1
        assert row["error_message"] == "E501 line too long\nsecond line"
        assert row["error_key"] == "E501 line too long"
        assert row["invoked_at"] == datetime(2026, 11, 25, 6, 0)
        assert (row["pipeline_name"], row["build_number"], row["git_commit"]) == (
            "CI",
            "42",
            "abc1234def5678",
        )
        assert (row["git_branch"], row["environment"], row["triggered_by"]) == ("main", "staging", "push")
        assert (row["repository"], row["run_id"], row["run_attempt"], row["job"]) == (
            "octo-org/octo-repo",
            "1234567890",
            2,
            "lint",
        )

    @pytest.mark.parametrize(
        ("stage", "phase"),
        [("build", "setup"), ("test", "execution"), ("security", "verification"), ("deploy", "deployment")],
    )
    def test_ci_stage_phases(self, client: FlaskClient, auth: dict[str, str], stage: str, phase: str) -> None:
        assert post(client, stage_body(stage=stage), auth).get_json()["workflow_phase"] == phase

    def test_started_at_defaults_to_received_minus_duration(
        self, client: FlaskClient, auth: dict[str, str], storage: SkillsStorage
    ) -> None:
        before = utcnow()  # naive UTC, as storage keeps it
        answer = post(client, stage_body(duration_seconds=600.0), auth).get_json()
        after = utcnow()
        [row] = storage.invocations(id=answer["id"])
        assert before - timedelta(seconds=600) <= row["invoked_at"] <= after - timedelta(seconds=600)

    def test_error_is_cut_to_4_kib(
        self, client: FlaskClient, auth: dict[str, str], storage: SkillsStorage
    ) -> None:
        answer = post(client, stage_body(success=False, error="é" * 5000), auth).get_json()
        [row] = storage.invocations(id=answer["id"])
        assert len(row["error_message"].encode()) == 4096
        assert row["error_message"] == "é" * 2048

    def test_crackerjack_phases(
        self, client: FlaskClient, auth: dict[str, str], storage: SkillsStorage
    ) -> None:
        for stage, phase in [
            ("fast_hooks", "setup"),
            ("tests", "execution"),
            ("comprehensive_hooks", "verification"),
            ("ai_fix", "execution"),
        ]:
            response = post(client, stage_body(stage=stage, integration="crackerjack"), auth)
            assert response.status_code == 201
            assert response.get_json()["workflow_phase"] == phase
        assert storage.count_invocations(stage="comprehensive_hooks", workflow_phase="verification") == 1

    def test_unknown_crackerjack_phase_lists_the_valid_ones(
        self, client: FlaskClient, auth: dict[str, str], storage: SkillsStorage
    ) -> None:
        response = post(client, stage_body(stage="lint", integration="crackerjack"), auth)
        assert response.status_code == 400
        answer = response.get_json()
        assert answer["field"] == "stage"
        for name in ("fast_hooks", "tests", "comprehensive_hooks", "ai_fix"):
            assert name in answer["message"]
        assert count(storage, "skill_invocation") == 0


@pytest.fixture
def full_disk(app: Flask) -> Iterator[None]:
    """Every new connection of the app's engine may not grow the file."""
    engine = services(app).storage.engine
    with engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()

    def limit(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    event.listen(engine, "connect", limit)
    engine.dispose()
    yield
    event.remove(engine, "connect", limit)
    engine.dispose()


class TestFullDisk:
    def test_507_and_nothing_half_stored(
        self, app: Flask, client: FlaskClient, auth: dict[str, str], storage: SkillsStorage, full_disk: None
    ) -> None:
        body = stage_body(success=False, error="x" * 4000)
        response = post(client, body, auth, key="full-1")
        assert response.status_code == 507
        assert response.headers["Retry-After"]
        assert "nothing was stored" in response.get_json()["message"]
        for table in (*ROLLUPS, "stage_failure_daily", "skill_time_series", "stage_skill"):
            assert count(storage, table) == 0, table

    def test_after_the_disk_is_freed_the_same_key_stores(
        self, app: Flask, client: FlaskClient, auth: dict[str, str], storage: SkillsStorage
    ) -> None:
        engine = services(app).storage.engine
        with engine.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()

        def limit(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

        event.listen(engine, "connect", limit)
        engine.dispose()
        body = stage_body(success=False, error="x" * 4000)
        assert post(client, body, auth, key="full-2").status_code == 507
        event.remove(engine, "connect", limit)
        engine.dispose()
        response = post(client, body, auth, key="full-2")
        assert response.status_code == 201
        assert count(storage, "skill_invocation") == 1


def test_database_error_is_503_with_retry_after(
    app: Flask, client: FlaskClient, auth: dict[str, str], storage: SkillsStorage
) -> None:
    """Not the client's fault: 503 and a hint to retry (the Action does)."""
    engine = services(app).storage.engine

    def read_only(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA query_only=ON")

    event.listen(engine, "connect", read_only)
    engine.dispose()
    try:
        response = post(client, stage_body(), auth, key="ro-1")
    finally:
        event.remove(engine, "connect", read_only)
        engine.dispose()
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "readonly" not in response.get_json()["message"]  # no driver text leaks to clients
    assert post(client, stage_body(), auth, key="ro-1").status_code == 201
