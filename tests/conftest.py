"""Fixtures shared by every test: a real SQLite file per test, settings,
the Flask app and its client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from receiver import create_app
from tracker.settings import Settings
from tracker.storage import SkillsStorage

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
