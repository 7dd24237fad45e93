"""Fixtures of the webhook tests: an app whose GitHub API is mocked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from receiver import create_app
from receiver.github_client import GitHubClients
from receiver.github_retry import RetryPolicy
from receiver.pr_comments import PRCommenter
from receiver.webhook_worker import WebhookWorker
from receiver.webhooks import webhook_worker
from tests.webhooks.helpers import TOKEN, Sleeps
from tracker.settings import Settings


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def gh_settings(settings: Settings) -> Settings:
    return settings.with_(github_token=TOKEN)


@pytest.fixture
def gh_app(gh_settings: Settings, sleeps: Sleeps) -> Flask:
    """The receiver with a token: PR comments on, against the mocked API."""
    clients = GitHubClients(gh_settings, throttle=False)
    commenter = PRCommenter(clients, policy=RetryPolicy(), sleep=sleeps)
    return create_app(gh_settings, TESTING=True, GITHUB_COMMENTER=commenter)


@pytest.fixture
def gh_client(gh_app: Flask) -> FlaskClient:
    return gh_app.test_client()


@pytest.fixture
def worker(app: Flask) -> WebhookWorker:
    return webhook_worker(app)


@pytest.fixture
def gh_worker(gh_app: Flask) -> WebhookWorker:
    return webhook_worker(gh_app)


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    """The mocked GitHub API; any request nobody registered fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
