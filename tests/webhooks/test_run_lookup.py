"""A hook that sends only ``workflow_job``: the receiver reads the run
attempts its jobs wait for from the (mocked) API, on a schedule kept in the
database, and says what to subscribe to when it has no credentials."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from receiver import create_app, run_lookup
from receiver.github_client import GitHubClients
from receiver.github_retry import RetryPolicy
from receiver.pr_comments import PRCommenter
from receiver.webhook_worker import RUN_LOOKUP_LEASE, WebhookWorker
from receiver.webhooks import webhook_worker
from tests.webhooks.helpers import (
    COMMENTS_7,
    GH,
    JOB_FIXTURE,
    REPO,
    SUCCESS_JOB,
    Sleeps,
    calls,
    comment_json,
    installation_token,
    job_payload,
    post,
    run_payload,
    sent_body,
)
from tests.webhooks.test_github_client import _pem
from tracker.records import utcnow
from tracker.settings import Settings
from tracker.storage import SkillsStorage
from tracker.storage.github_state import RUN_AWAIT_SECONDS

RUN = 2202229078
AFTER = timedelta(seconds=RUN_AWAIT_SECONDS + 1)


def attempt_url(run_id: int = RUN, attempt: int = 1) -> str:
    return f"{GH}/repos/{REPO}/actions/runs/{run_id}/attempts/{attempt}"


def deliver_jobs(
    client: FlaskClient, *, run_id: int = RUN, attempt: int = 1, first_job_id: int = 100
) -> None:
    """Two completed jobs of a run attempt, and no ``workflow_run`` delivery."""
    jobs = (("lint", "failure", JOB_FIXTURE), ("build", "success", SUCCESS_JOB))
    for offset, (name, conclusion, fixture) in enumerate(jobs):
        payload = job_payload(
            job_id=first_job_id + offset,
            run_id=run_id,
            attempt=attempt,
            name=name,
            conclusion=conclusion,
            fixture=fixture,
        )
        assert post(client, "workflow_job", payload).status_code == 202


def jobs_of_a_run_github_will_not_serve(
    client: FlaskClient, worker: WebhookWorker, api: responses.RequestsMock
) -> None:
    """Two completed jobs applied, whose run attempt the API answers 404."""
    deliver_jobs(client)
    worker.process_pending()
    api.add(responses.GET, attempt_url(), json={"message": "Not Found"}, status=404)


def api_run(**changes: Any) -> dict[str, Any]:
    """A run attempt as ``GET …/actions/runs/{id}/attempts/{n}`` answers:
    the delivery's ``workflow_run`` object (named, as the API names every
    run), with its repository inside."""
    payload = run_payload(**{"prs": (7,), "conclusion": "failure", "name": "test", **changes})
    return {**payload["workflow_run"], "repository": payload["repository"]}


def awaited(storage: SkillsStorage) -> list[tuple[int, int, int, str | None]]:
    return [(r["run_id"], r["run_attempt"], r["failures"], r["last_error"]) for r in storage.awaited_runs()]


def test_jobs_without_their_run_are_stored_once_the_run_is_read(
    gh_client: FlaskClient, gh_worker: WebhookWorker, storage: SkillsStorage, api: responses.RequestsMock
) -> None:
    deliver_jobs(gh_client)
    gh_worker.process_pending()
    assert storage.count_invocations() == 0  # the run number is unknown
    assert awaited(storage) == [(RUN, 1, 0, None)]
    # Its own delivery may still come: nothing is read for a minute.
    assert gh_worker.look_up_runs() == 0
    assert calls(api) == []

    api.add(responses.GET, attempt_url(), json=api_run())
    assert gh_worker.look_up_runs(now=utcnow() + AFTER) == 1
    assert calls(api) == [("GET", f"/repos/{REPO}/actions/runs/{RUN}/attempts/1")]
    # Stored as a delivery of its own, applied as deliveries are: the jobs'
    # steps follow, the attempt is no longer awaited, PR #7 gets its comment.
    api.add(responses.GET, COMMENTS_7, json=[])
    api.add(responses.POST, COMMENTS_7, json=comment_json(111, "x"), status=201)
    stats = gh_worker.process_pending()
    assert (stats.deliveries.processed, stats.comments_written, stats.errors) == (1, 1, [])
    assert storage.delivery_counts() == {"processed": 3}
    run = storage.github_run(RUN)
    assert run is not None and (run["run_number"], run["conclusion"]) == (163, "failure")
    jobs = storage.github_jobs(run_id=RUN)
    assert [(j["name"], j["pipeline_name"], j["build_number"]) for j in jobs] == [
        ("lint", "test", "163"),
        ("build", "test", "163"),
    ]
    assert all(j["materialised_at"] is not None for j in jobs)
    assert sorted(s.stage for s in storage.build_stages("test", "163")) == ["build", "lint"]
    assert awaited(storage) == []
    assert "### ❌ test — build 163 (run #163)" in sent_body(api)


def test_a_rerun_attempt_is_read_too_and_updates_the_comment(
    gh_client: FlaskClient, gh_worker: WebhookWorker, storage: SkillsStorage, api: responses.RequestsMock
) -> None:
    deliver_jobs(gh_client)
    api.add(responses.GET, attempt_url(), json=api_run())
    api.add(responses.GET, COMMENTS_7, json=[])
    api.add(responses.POST, COMMENTS_7, json=comment_json(111, "x"), status=201)
    gh_worker.process_pending()
    gh_worker.look_up_runs(now=utcnow() + AFTER)
    gh_worker.process_pending()
    # Attempt 2: its jobs' steps are stored at once (the run number is
    # known), but its completion, and so the comment, come from its read.
    deliver_jobs(gh_client, attempt=2, first_job_id=200)
    gh_worker.process_pending()
    assert awaited(storage) == [(RUN, 2, 0, None)]
    api.add(responses.GET, attempt_url(attempt=2), json=api_run(attempt=2, conclusion="success"))
    api.add(responses.PATCH, f"{GH}/repos/{REPO}/issues/comments/111", json=comment_json(111, "y"))
    assert gh_worker.look_up_runs(now=utcnow() + AFTER) == 1
    stats = gh_worker.process_pending()
    assert (stats.comments_written, stats.errors) == (1, [])
    assert calls(api)[-2:] == [
        ("GET", f"/repos/{REPO}/actions/runs/{RUN}/attempts/2"),
        ("PATCH", f"/repos/{REPO}/issues/comments/111"),
    ]
    assert "build 163.2" in sent_body(api)
    assert awaited(storage) == []


def test_a_run_still_going_is_read_again_a_minute_later(
    gh_client: FlaskClient, gh_worker: WebhookWorker, storage: SkillsStorage, api: responses.RequestsMock
) -> None:
    deliver_jobs(gh_client)
    gh_worker.process_pending()
    api.add(responses.GET, attempt_url(), json=api_run(status="in_progress", conclusion=None))
    first = utcnow() + AFTER
    assert gh_worker.look_up_runs(now=first) == 0
    assert storage.github_run(RUN) is None and storage.delivery_counts() == {"processed": 2}
    assert gh_worker.look_up_runs(now=first + timedelta(seconds=59)) == 0
    assert len(api.calls) == 1  # not again before the minute is up
    api.replace(responses.GET, attempt_url(), json=api_run())
    assert gh_worker.look_up_runs(now=first + timedelta(seconds=60)) == 1
    assert len(api.calls) == 2


def test_a_failed_read_waits_longer_each_time_in_every_process(
    gh_app: Flask,
    gh_client: FlaskClient,
    gh_worker: WebhookWorker,
    storage: SkillsStorage,
    api: responses.RequestsMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs_of_a_run_github_will_not_serve(gh_client, gh_worker, api)
    other = WebhookWorker(storage, gh_worker.rules, commenter=gh_worker.commenter)  # another process
    start = utcnow() + AFTER
    reads = []
    for seconds in range(0, 400, 30):
        for worker in (gh_worker, other):
            worker.look_up_runs(now=start + timedelta(seconds=seconds))
        reads.append(len(api.calls))
    # Read at 0 s, then 60 s later, then 120 s after that (the next, 240 s
    # later, is beyond 390 s): two processes, one schedule.
    assert reads == [1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3]
    ((run_id, attempt, failures, error),) = awaited(storage)
    assert (run_id, attempt, failures) == (RUN, 1, 3)
    assert error is not None and error.startswith("GitHubCallFailed: reading run 2202229078 (attempt 1)")
    assert "404" in error
    assert f"run {RUN} (attempt 1) of {REPO}, which completed jobs wait for, could not be read" in caplog.text
    assert storage.count_invocations() == 0  # the jobs still wait, stored


def test_an_app_that_cannot_see_the_repository_stops_nothing_else(
    settings: Settings, storage: SkillsStorage, api: responses.RequestsMock, client: FlaskClient
) -> None:
    app_settings = settings.with_(github_app_id="12345", github_private_key=_pem())
    commenter = PRCommenter(GitHubClients(app_settings, throttle=False), policy=RetryPolicy(), sleep=Sleeps())
    app = create_app(app_settings, TESTING=True, GITHUB_COMMENTER=commenter)
    worker = webhook_worker(app)
    app_client = app.test_client()
    deliver_jobs(app_client)  # a repository hook: no installation in the payload
    worker.process_pending()
    api.add(responses.GET, f"{GH}/repos/{REPO}/installation", json={"message": "Not Found"}, status=404)
    with storage.write() as conn:  # the attempt is due now
        conn.exec_driver_sql("UPDATE github_run_awaited SET next_lookup = '2000-01-01 00:00:00'")
    # A completed run of PR 7 whose delivery names its installation: its
    # comment must still be written in the same round.
    post(app_client, "workflow_run", run_payload(run_id=RUN + 1, prs=(7,), installation=5))
    installation_token(api, 5, "t")
    api.add(responses.GET, COMMENTS_7, json=[])
    api.add(responses.POST, COMMENTS_7, json=comment_json(111, "x"), status=201)
    worker._round()
    assert ("GET", f"/repos/{REPO}/installation") in calls(api)
    assert ("POST", f"/repos/{REPO}/issues/7/comments") in calls(api)
    ((_, _, failures, error),) = awaited(storage)
    assert failures == 1 and error is not None and "signing in" in error


def test_a_run_delivered_in_time_is_not_read(
    gh_client: FlaskClient, gh_worker: WebhookWorker, storage: SkillsStorage, api: responses.RequestsMock
) -> None:
    deliver_jobs(gh_client)
    assert (
        post(gh_client, "workflow_run", run_payload(status="in_progress", conclusion=None)).status_code == 202
    )
    gh_worker.process_pending()
    assert awaited(storage) == []
    assert gh_worker.look_up_runs(now=utcnow() + AFTER) == 0
    assert calls(api) == []


def test_without_credentials_each_waiting_run_is_named_once_a_day(
    client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage, caplog: pytest.LogCaptureFixture
) -> None:
    deliver_jobs(client)
    post(client, "workflow_job", job_payload(job_id=300, run_id=RUN + 1))
    worker.process_pending()
    other = WebhookWorker(storage, worker.rules)  # another process
    start = utcnow() + AFTER

    def told(now: datetime) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="receiver.run_lookup"):
            for w in (worker, other):
                assert w.look_up_runs(now=now) == 0
        return [r.getMessage() for r in caplog.records if r.name == "receiver.run_lookup"]

    first = told(start)
    assert first == [
        f"completed jobs of run {run_id} (attempt 1) in {REPO} wait for its workflow_run delivery: subscribe "
        'the webhook to "Workflow runs" too, or set GitHub credentials so that the receiver reads the run '
        "from the API"
        for run_id in (RUN, RUN + 1)
    ]
    assert told(start + timedelta(hours=23)) == []
    assert told(start + timedelta(hours=24)) == first


def test_the_background_round_reads_under_its_own_lease(
    gh_client: FlaskClient, gh_worker: WebhookWorker, storage: SkillsStorage, api: responses.RequestsMock
) -> None:
    deliver_jobs(gh_client)
    gh_worker.process_pending()
    with storage.write() as conn:  # due now
        conn.exec_driver_sql("UPDATE github_run_awaited SET next_lookup = '2000-01-01 00:00:00'")
    api.add(responses.GET, attempt_url(), json=api_run(prs=()))
    assert storage.take_lease(RUN_LOOKUP_LEASE, "another process", 300)
    gh_worker._round()  # the runs are another process's to read
    assert calls(api) == [] and storage.count_invocations() == 0
    storage.drop_lease(RUN_LOOKUP_LEASE, "another process")
    gh_worker._round()  # read, stored as a delivery and applied in the same round
    assert calls(api) == [("GET", f"/repos/{REPO}/actions/runs/{RUN}/attempts/1")]
    assert storage.count_invocations() > 0 and awaited(storage) == []
    assert storage.take_lease(RUN_LOOKUP_LEASE, "another process", 300)  # let go after reading


def test_a_run_that_cannot_be_read_for_three_days_is_given_up(
    gh_client: FlaskClient,
    gh_worker: WebhookWorker,
    storage: SkillsStorage,
    api: responses.RequestsMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs_of_a_run_github_will_not_serve(gh_client, gh_worker, api)
    late = utcnow() + run_lookup.GIVE_UP_AFTER + timedelta(minutes=1)
    # Three days on, but the first failures: a bad minute (credentials set
    # on day four, a GitHub outage) is no reason to give up.
    for minutes in (0, 1, 3, 7):
        assert gh_worker.look_up_runs(now=late + timedelta(minutes=minutes)) == 0
        assert awaited(storage) != []
    assert [a[:3] for a in awaited(storage)] == [(RUN, 1, run_lookup.GIVE_UP_FAILURES - 1)]
    assert gh_worker.look_up_runs(now=late + timedelta(minutes=15)) == 0  # the fifth failure in a row
    assert awaited(storage) == [] and len(api.calls) == run_lookup.GIVE_UP_FAILURES
    assert gh_worker.look_up_runs(now=late + timedelta(days=1)) == 0
    assert len(api.calls) == run_lookup.GIVE_UP_FAILURES  # not asked again, ever
    assert f"gave up reading run {RUN} (attempt 1) of {REPO}" in caplog.text
    assert len(storage.github_jobs(run_id=RUN)) == 2  # the jobs stay stored


def test_a_read_run_that_fails_to_apply_backs_off_too(
    gh_client: FlaskClient,
    gh_worker: WebhookWorker,
    storage: SkillsStorage,
    api: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deliver_jobs(gh_client)
    gh_worker.process_pending()
    api.add(responses.GET, attempt_url(), json=api_run(prs=()))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in applying runs")

    monkeypatch.setattr(gh_worker.storage, "ingest_workflow_run", broken)  # any failure that repeats
    start = utcnow() + AFTER
    for minute in range(0, 10):
        gh_worker.look_up_runs(now=start + timedelta(minutes=minute))
        gh_worker.process_pending()
    # Read at minute 0; from then on each read finds the delivery failed
    # and waits twice as long: minutes 1, 2, 4, 8 (not every minute).
    assert len(api.calls) == 5
    ((_, _, failures, error),) = awaited(storage)
    assert failures == 4 and error is not None and "failed to apply before" in error


def test_credentials_set_later_read_a_named_run_at_once(
    settings: Settings,
    storage: SkillsStorage,
    client: FlaskClient,
    worker: WebhookWorker,
    api: responses.RequestsMock,
) -> None:
    deliver_jobs(client)
    worker.process_pending()
    start = utcnow() + AFTER
    assert worker.look_up_runs(now=start) == 0  # named in the log, next telling in a day
    app = create_app(
        settings.with_(github_token="t"),
        TESTING=True,
        GITHUB_COMMENTER=PRCommenter(GitHubClients(settings.with_(github_token="t"), throttle=False)),
    )
    api.add(responses.GET, attempt_url(), json=api_run(prs=()))
    assert webhook_worker(app).look_up_runs(now=start + timedelta(minutes=1)) == 1
