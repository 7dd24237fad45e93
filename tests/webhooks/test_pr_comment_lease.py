"""A comment job's lease: renewed before each GitHub call, so a job slowed
by GitHub is not taken over while it runs; and a job that was taken over
anyway is left to its new holder, unwritten."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from sqlalchemy import update

from receiver.webhook_worker import WebhookWorker
from tests.webhooks.helpers import COMMENTS_7, calls, comment_json, deliver_build
from tracker.errors import StorageError
from tracker.records import utcnow
from tracker.storage import SkillsStorage
from tracker.storage.schema import github_comment_job


def _expire_lease(storage: SkillsStorage) -> None:
    """What a call that outlasted the lease leaves behind."""
    with storage.engine.begin() as conn:
        conn.execute(update(github_comment_job).values(lease_until=utcnow() - timedelta(seconds=1)))


def test_each_call_renews_the_lease(
    gh_client: FlaskClient, gh_worker: WebhookWorker, storage: SkillsStorage, api: responses.RequestsMock
) -> None:
    seen: dict[str, Any] = {}

    def slow_list(request: Any) -> tuple[int, dict[str, str], str]:
        _expire_lease(storage)
        return 200, {}, "[]"

    def create(request: Any) -> tuple[int, dict[str, str], str]:
        (job,) = storage.comment_jobs(kind="comment")
        seen["lease_until"] = job["lease_until"]
        seen["others_claim"] = storage.claim_comment_jobs("another-worker")
        return 201, {}, json.dumps(comment_json(111, "x"))

    api.add_callback(responses.GET, COMMENTS_7, callback=slow_list)
    api.add_callback(responses.POST, COMMENTS_7, callback=create)
    deliver_build(gh_client)
    stats = gh_worker.process_pending()
    assert (stats.comments_written, stats.errors) == (1, [])
    # Renewed before the POST: a full lease ahead, and nobody else could take it.
    assert seen["lease_until"] > utcnow() + timedelta(seconds=290)
    assert seen["others_claim"] == []
    (job,) = storage.comment_jobs(kind="comment")
    assert (job["status"], job["comment_id"], job["lease_owner"]) == ("done", 111, None)


def test_a_job_taken_over_is_left_unwritten(
    gh_client: FlaskClient, gh_worker: WebhookWorker, storage: SkillsStorage, api: responses.RequestsMock
) -> None:
    taken: list[Any] = []

    def slow_list(request: Any) -> tuple[int, dict[str, str], str]:
        _expire_lease(storage)
        taken.extend(storage.claim_comment_jobs("another-worker"))
        return 200, {}, "[]"

    api.add_callback(responses.GET, COMMENTS_7, callback=slow_list)
    api.add(responses.POST, COMMENTS_7, json=comment_json(111, "x"), status=201)
    deliver_build(gh_client)
    stats = gh_worker.process_pending()
    assert [job.kind.value for job in taken] == ["comment"]
    # This worker stopped before writing: no comment, no failure recorded.
    assert [m for m, _ in calls(api)] == ["GET"]
    assert (stats.comments_written, stats.comments_failed, stats.errors) == (0, 0, [])
    (job,) = storage.comment_jobs(kind="comment")
    assert (job["status"], job["lease_owner"], job["last_error"]) == ("pending", "another-worker", None)


def test_a_lease_the_database_cannot_renew_leaves_the_job_pending(
    gh_client: FlaskClient,
    gh_worker: WebhookWorker,
    storage: SkillsStorage,
    api: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A database that does not answer the renewal is no failure of the
    job: nothing is written, nothing marked failed, and a later round
    writes the comment."""
    api.add(responses.GET, COMMENTS_7, json=[])
    api.add(responses.POST, COMMENTS_7, json=comment_json(111, "x"), status=201)
    deliver_build(gh_client)
    renew = gh_worker.storage.renew_comment_job

    def locked(*args: Any, **kwargs: Any) -> bool:
        raise StorageError("database error while renewing a PR comment job's lease: database is locked")

    monkeypatch.setattr(gh_worker.storage, "renew_comment_job", locked)
    stats = gh_worker.process_pending()
    assert (calls(api), stats.comments_failed, stats.errors) == ([], 0, [])
    (job,) = storage.comment_jobs(kind="comment")
    assert (job["status"], job["last_error"]) == ("pending", None)

    monkeypatch.setattr(gh_worker.storage, "renew_comment_job", renew)
    _expire_lease(storage)  # as the lease would run out
    assert gh_worker.process_pending().comments_written == 1
    (job,) = storage.comment_jobs(kind="comment")
    assert (job["status"], job["comment_id"]) == ("done", 111)
