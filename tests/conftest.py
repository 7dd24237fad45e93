"""Fixtures shared by every test: a real SQLite file per test, settings,
the Flask app and its client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from receiver import create_app
from tests.support.postgres import bin_dir, postgres_server
from tracker.settings import Settings
from tracker.storage import SkillsStorage
from tracker.storage.schema import metadata

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "tests" / "samples"
API_TOKEN = "test-token-0123456789"
WEBHOOK_SECRET = "It's a Secret to Everybody"


class FixedClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "skills.db"


@pytest.fixture
def settings(db_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{db_path}",
        api_tokens=(API_TOKEN,),
        webhook_secrets=(WEBHOOK_SECRET,),
        github_token="",
        embedder="fallback",
    )


@pytest.fixture
def storage(settings: Settings) -> Iterator[SkillsStorage]:
    store = SkillsStorage(settings=settings)
    yield store
    store.close()


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings, TESTING=True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL server for the whole test session."""
    if bin_dir() is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg(pg_url: str) -> Iterator[SkillsStorage]:
    """Storage on PostgreSQL, emptied after the test."""
    store = SkillsStorage(settings=Settings(database_url=pg_url))
    yield store
    with store.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(t.name for t in metadata.sorted_tables)}"))
    store.close()
