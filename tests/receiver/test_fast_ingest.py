"""The fast path of ``POST /api/v1/stage-results`` (receiver/fast_ingest.py)
answers what the Flask view answers, and hands Flask everything else.

Two apps on two real SQLite files get the same requests in the same order:
one with the fast path, one without (``FAST_INGEST=False``). Flask's
``request_started`` signal tells which requests Flask's machinery handled.
"""

from __future__ import annotations

import io
import json
import runpy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask, request_started
from gunicorn.http import wsgi as gunicorn_wsgi
from sqlalchemy import event, text

import receiver
from receiver import create_app
from receiver.db import services
from receiver.fast_ingest import warm_up
from receiver.webhooks import webhook_worker
from tracker.settings import Settings
from tracker.storage.rawwrite import compiled_for
from tracker.storage.stage_results import MAX_BATCH

from ..conftest import API_TOKEN
from ..support.stage import STAGE_PATH, stage_body

LIMIT = 4096
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/json"}


@dataclass
class Served:
    app: Flask
    flask_requests: list[str]

    def post(self, **kwargs: Any) -> Any:
        return self.app.test_client().post(STAGE_PATH, **kwargs)


def serve(settings: Settings, path: Path, fast: bool) -> Served:
    app = create_app(
        settings.with_(database_url=f"sqlite:///{path}", max_body_bytes=LIMIT), TESTING=True, FAST_INGEST=fast
    )
    seen: list[str] = []
    request_started.connect(lambda sender, **_: seen.append("flask"), app, weak=False)
    return Served(app, seen)


@pytest.fixture
def apps(settings: Settings, tmp_path: Path) -> tuple[Served, Served]:
    return serve(settings, tmp_path / "fast.db", True), serve(settings, tmp_path / "flask.db", False)


def body(**overrides: Any) -> bytes:
    return json.dumps(stage_body(**overrides)).encode()


# (what, request, answered by the fast path)
REQUESTS: list[tuple[str, dict[str, Any], bool]] = [
    ("stored", {"data": body(), "headers": {**JSON, "Idempotency-Key": "k1"}}, True),
    ("repeated", {"data": body(), "headers": {**JSON, "Idempotency-Key": "k1"}}, True),
    ("key reused", {"data": body(stage="lint"), "headers": {**JSON, "Idempotency-Key": "k1"}}, True),
    ("no key", {"data": body(skill="ruff-check")}, True),
    (
        "charset",
        {"data": body(), "headers": {**AUTH, "Content-Type": "application/json; charset=utf-8"}},
        True,
    ),
    (
        "lower-case scheme",
        {"data": body(), "headers": {**JSON, "Authorization": f"bearer {API_TOKEN}"}},
        True,
    ),
    ("no token", {"data": body(), "headers": {"Content-Type": "application/json"}}, False),
    ("wrong token", {"data": body(), "headers": {**JSON, "Authorization": "Bearer nope"}}, False),
    ("text/plain", {"data": body(), "headers": {**AUTH, "Content-Type": "text/plain"}}, False),
    ("+json type", {"data": body(), "headers": {**AUTH, "Content-Type": "application/vnd.api+json"}}, True),
    # str.strip() would take the no-break space away; werkzeug does not (415).
    ("no-break space", {"data": body(), "headers": {**AUTH, "Content-Type": "application/json\xa0"}}, False),
    ("superscript length", {"data": body(), "environ_overrides": {"CONTENT_LENGTH": "\u00b2"}}, False),
    ("long length", {"data": body(), "environ_overrides": {"CONTENT_LENGTH": "0" * 5000 + "9"}}, False),
    ("broken JSON", {"data": b'{"context":'}, False),
    ("not an object", {"data": b"[1, 2]"}, False),
    ("bad field", {"data": body(success="yes")}, False),
    ("lone surrogate", {"data": body(skill="\ud800")}, False),
    ("bad key", {"data": body(), "headers": {**JSON, "Idempotency-Key": "ü"}}, False),
    ("crackerjack phase", {"data": body(integration="crackerjack", stage="nope")}, False),
    ("too large", {"data": body(error="x" * LIMIT)}, False),
    (
        "chunked",
        {
            "input_stream": io.BytesIO(body(skill="chunked")),
            "environ_overrides": {"wsgi.input_terminated": True},
            "headers": {**JSON, "Transfer-Encoding": "chunked"},
        },
        False,
    ),
    (
        "chunked with a length",
        {
            "input_stream": io.BytesIO(body(skill="chunked-2")),
            "environ_overrides": {
                "wsgi.input_terminated": True,
                "CONTENT_LENGTH": str(len(body(skill="chunked-2"))),
            },
            "headers": {**JSON, "Transfer-Encoding": "chunked"},
        },
        False,
    ),
]


def send(served: Served, kwargs: dict[str, Any]) -> Any:
    kwargs = dict(kwargs)
    kwargs.setdefault("headers", JSON)
    stream = kwargs.pop("input_stream", None)
    if stream is not None:
        kwargs["input_stream"] = io.BytesIO(stream.getvalue())
    return served.post(**kwargs)


def answer(response: Any) -> tuple[Any, ...]:
    return (
        response.status,
        response.headers.get("Content-Type"),
        response.headers.get("WWW-Authenticate"),
        response.headers.get("Retry-After"),
        response.get_data(),
    )


def test_both_paths_answer_alike(apps: tuple[Served, Served]) -> None:
    fast, slow = apps
    for what, kwargs, by_fast_path in REQUESTS:
        fast.flask_requests.clear()
        slow.flask_requests.clear()
        got, expected = send(fast, kwargs), send(slow, kwargs)
        assert answer(got) == answer(expected), what
        assert slow.flask_requests == ["flask"], what
        assert fast.flask_requests == ([] if by_fast_path else ["flask"]), what
    statuses = [send(slow, kwargs).status_code for _, kwargs, _ in REQUESTS[:4]]
    assert statuses == [200, 200, 422, 201]  # the cases mean what they say


def test_both_paths_store_alike(apps: tuple[Served, Served]) -> None:
    for _, kwargs, _ in REQUESTS:
        for served in apps:
            send(served, kwargs)
    columns = "id, skill_name, session_id, stage, workflow_phase, outcome, duration_seconds, pipeline_name"
    stored = []
    for served in apps:
        with services(served.app).storage.engine.connect() as conn:
            rows = conn.execute(text(f"SELECT {columns} FROM skill_invocation ORDER BY id")).all()  # noqa: S608
            keys = conn.execute(text("SELECT idempotency_key, invocation_id FROM stage_result_request")).all()
        stored.append((rows, keys))
    assert stored[0] == stored[1]
    # stored, no key, charset, lower-case scheme, +json type, chunked, chunked with a length
    assert len(stored[0][0]) == 7


@pytest.fixture
def read_only(apps: tuple[Served, Served]) -> Iterator[None]:
    engines = [services(served.app).storage.engine for served in apps]

    def refuse_writes(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA query_only=ON")

    for engine in engines:
        event.listen(engine, "connect", refuse_writes)
        engine.dispose()
    yield
    for engine in engines:
        event.remove(engine, "connect", refuse_writes)
        engine.dispose()


def test_a_storage_error_is_answered_by_the_apps_handler(
    apps: tuple[Served, Served], read_only: None
) -> None:
    fast, slow = apps
    got, expected = send(fast, REQUESTS[0][1]), send(slow, REQUESTS[0][1])
    assert got.status_code == 503
    assert answer(got) == answer(expected)
    assert fast.flask_requests == []


def test_the_fast_path_starts_the_webhook_worker(settings: Settings) -> None:
    """A receiver that only ever gets stage results still resumes the
    webhook deliveries left from before a restart."""
    app = create_app(settings, TESTING=True, WEBHOOK_WORKER=True)
    worker = webhook_worker(app)
    try:
        assert app.test_client().post(STAGE_PATH, data=body(), headers=JSON).status_code == 201
        assert worker._thread is not None and worker._thread.is_alive()
    finally:
        worker.stop()


def counts(app: Flask) -> dict[str, int]:
    tables = ("skill_invocation", "stage_result_request", "stage_daily", "skill_metrics", "stage_skill")
    with services(app).storage.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}  # noqa: S608


def test_warm_up_compiles_the_write_path_and_stores_nothing(
    apps: tuple[Served, Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's first stage result took ~16 ms longer than the next ones
    (statements compiled on first use); gunicorn_config's hook warms each
    worker up before it serves."""
    fast, _ = apps
    compiled = compiled_for(services(fast.app).storage.engine)
    # The hook also installs one_write's response class: undone after the test.
    monkeypatch.setattr(gunicorn_wsgi, "Response", gunicorn_wsgi.Response)
    hook = runpy.run_path(str(Path(receiver.__file__).with_name("gunicorn_config.py")))["post_worker_init"]
    hook(SimpleNamespace(wsgi=fast.app))
    assert set(counts(fast.app).values()) == {0}
    assert len(compiled._expanded) >= MAX_BATCH  # the key look-up, for every batch size
    before = (dict(compiled._cache), dict(compiled._expanded))
    assert send(fast, REQUESTS[0][1]).status_code == 201
    assert (compiled._cache, compiled._expanded) == before  # nothing left to compile
    assert counts(fast.app)["skill_invocation"] == 1


def test_warm_up_leaves_other_apps_and_a_broken_database_alone(
    apps: tuple[Served, Served], read_only: None
) -> None:
    fast, slow = apps
    assert warm_up(Flask("bare")) is False
    assert warm_up(slow.app) is False  # no fast path to warm
    assert warm_up(fast.app) is False  # the database refuses writes: a warning, and the worker serves
    assert send(fast, REQUESTS[0][1]).status_code == 503
