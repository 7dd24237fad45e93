"""The PR comment when GitHub fails: retried with backoff, Retry-After
respected, bounded, then recorded on the delivery and replayed."""

from __future__ import annotations

from typing import Any

import responses
from flask.testing import FlaskClient

from receiver.webhook_worker import WebhookWorker
from tests.webhooks.helpers import COMMENTS_7, Sleeps, calls, comment_json, deliver_build, sent_body
from tracker.storage import SkillsStorage
from tracker.storage.webhooks import DeliveryStatus


def _fail_times(api: responses.RequestsMock, status: int, n: int, **extra: Any) -> None:
    for _ in range(n):
        api.add(responses.POST, COMMENTS_7, status=status, **extra)


def test_server_error_is_retried_with_backoff(
    gh_client: FlaskClient, gh_worker: WebhookWorker, sleeps: Sleeps, api: responses.RequestsMock
) -> None:
    api.add(responses.GET, COMMENTS_7, json=[])
    _fail_times(api, 502, 1, json={"message": "Bad Gateway"})
    api.add(responses.POST, COMMENTS_7, json=comment_json(111, "x"), status=201)
    deliver_build(gh_client)
    stats = gh_worker.process_pending()
    assert stats.comments_written == 1
    assert [m for m, _ in calls(api)] == ["GET", "POST", "POST"]
    assert sent_body(api, 1) == sent_body(api, 2)
    assert sleeps == [1.0]


def test_secondary_rate_limit_respects_retry_after(
    gh_client: FlaskClient, gh_worker: WebhookWorker, sleeps: Sleeps, api: responses.RequestsMock
) -> None:
    api.add(responses.GET, COMMENTS_7, json=[])
    _fail_times(
        api,
        403,
        1,
        json={
            "message": "You have exceeded a secondary rate limit. "
            "Please wait a few minutes before you try again."
        },
        headers={"Retry-After": "3"},
    )
    api.add(responses.POST, COMMENTS_7, json=comment_json(111, "x"), status=201)
    deliver_build(gh_client)
    assert gh_worker.process_pending().comments_written == 1
    assert [m for m, _ in calls(api)] == ["GET", "POST", "POST"]
    assert sleeps == [3.0]


def test_persistent_failure_is_recorded_then_replayed(
    gh_client: FlaskClient,
    gh_worker: WebhookWorker,
    storage: SkillsStorage,
    sleeps: Sleeps,
    api: responses.RequestsMock,
) -> None:
    api.add(responses.GET, COMMENTS_7, json=[])
    _fail_times(api, 500, 4, json={"message": "Server Error"})
    deliver_build(gh_client)
    stats = gh_worker.process_pending()
    assert stats.comments_failed == 1
    assert [m for m, _ in calls(api)] == ["GET", "POST", "POST", "POST", "POST"]
    assert sleeps == [1.0, 2.0, 4.0]
    (job,) = storage.comment_jobs()
    assert job["status"] == "failed"
    assert "500 Server Error (gave up after 4 attempts)" in job["last_error"]
    failed = storage.deliveries(status=DeliveryStatus.FAILED)
    assert [(d.event, d.action) for d in failed] == [("workflow_run", "completed")]
    assert (
        failed[0].last_error is not None
        and "PR comment (comment:octo-org/octo-repo#7) failed" in failed[0].last_error
    )
    invocations = storage.count_invocations()

    # GitHub is back: replaying the delivery writes the comment, stores nothing twice.
    api.add(responses.POST, COMMENTS_7, json=comment_json(111, "x"), status=201)
    assert storage.requeue_failed() == 1
    again = gh_worker.process_pending()
    assert (again.deliveries.processed, again.comments_written) == (1, 1)
    assert storage.count_invocations() == invocations
    assert storage.delivery_counts() == {"processed": 3}
    assert storage.comment_jobs()[0]["status"] == "done"


def test_permission_error_is_not_retried(
    gh_client: FlaskClient,
    gh_worker: WebhookWorker,
    storage: SkillsStorage,
    sleeps: Sleeps,
    api: responses.RequestsMock,
) -> None:
    api.add(responses.GET, COMMENTS_7, json=[])
    _fail_times(api, 403, 1, json={"message": "Resource not accessible by integration"})
    deliver_build(gh_client)
    assert gh_worker.process_pending().comments_failed == 1
    assert [m for m, _ in calls(api)] == ["GET", "POST"] and sleeps == []
    assert "403 Resource not accessible by integration" in storage.comment_jobs()[0]["last_error"]


def test_retry_after_beyond_the_bound_gives_up_at_once(
    gh_client: FlaskClient,
    gh_worker: WebhookWorker,
    storage: SkillsStorage,
    sleeps: Sleeps,
    api: responses.RequestsMock,
) -> None:
    api.add(responses.GET, COMMENTS_7, json=[])
    _fail_times(api, 429, 1, json={"message": "rate limit"}, headers={"Retry-After": "120"})
    deliver_build(gh_client)
    assert gh_worker.process_pending().comments_failed == 1
    assert sleeps == []
    assert "asked to wait 120 s, beyond the retry bound" in storage.comment_jobs()[0]["last_error"]
