"""The receiver starts on a real SQLite file and answers its health check."""

from __future__ import annotations

import os
from pathlib import Path

from flask.testing import FlaskClient

from tests.support.server import gunicorn


def test_healthz_reports_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"
    assert response.get_json()["database"] == "sqlite"


def test_healthz_reads_the_database_file(client: FlaskClient, db_path: Path) -> None:
    # A file that is no database any more is unhealthy, on every worker:
    # SELECT 1 would still answer from a connection already open.
    assert client.get("/healthz").status_code == 200
    with db_path.open("r+b") as file:
        file.write(os.urandom(4096))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unhealthy", "database": "StorageError"}


def test_unknown_route_is_json_404(client: FlaskClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_gunicorn_serves_healthz(tmp_path: Path) -> None:
    import json
    import urllib.request

    env = {"SESSION_BUDDY_CI_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}"}
    with gunicorn(env, workers=2, log_dir=tmp_path) as server:
        with urllib.request.urlopen(server.url + "/healthz") as response:
            assert json.load(response)["status"] == "ok"
        assert len(server.worker_pids()) == 2
