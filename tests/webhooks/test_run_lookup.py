"""A hook that sends only ``workflow_job``: the receiver reads the runs its
jobs wait for from the (mocked) API, and says what to subscribe to when it
has no credentials."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from receiver import run_lookup
from receiver.webhook_worker import RUN_LOOKUP_LEASE, WebhookWorker
from tests.webhooks.helpers import (
    COMMENTS_7,
    GH,
    JOB_FIXTURE,
    REPO,
    SUCCESS_JOB,
    calls,
    comment_json,
    job_payload,
    post,
    run_payload,
    sent_body,
)
from tracker.records import utcnow
from tracker.storage import SkillsStorage

RUN = 2202229078
RUN_URL = f"{GH}/repos/{REPO}/actions/runs/{RUN}"
LATER = timedelta(seconds=run_lookup.RUN_LOOKUP_AFTER_SECONDS + 1)


def deliver_jobs(client: FlaskClient, run_id: int = RUN, first_job_id: int = 100) -> None:
    """Two completed jobs of a run, and no ``workflow_run`` delivery."""
    jobs = (("lint", "failure", JOB_FIXTURE), ("build", "success", SUCCESS_JOB))
    for offset, (name, conclusion, fixture) in enumerate(jobs):
        payload = job_payload(
            job_id=first_job_id + offset, run_id=run_id, name=name, conclusion=conclusion, fixture=fixture
        )
        assert post(client, "workflow_job", payload).status_code == 202


def api_run(**changes: Any) -> dict[str, Any]:
    """The run as ``GET /repos/{o}/{r}/actions/runs/{id}`` answers: the
    delivery's ``workflow_run`` object (named, as the API names every run),
    with its repository inside."""
    payload = run_payload(**{"prs": (7,), "conclusion": "failure", "name": "test", **changes})
    return {**payload["workflow_run"], "repository": payload["repository"]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(gh_worker: WebhookWorker) -> Clock:
    fake = Clock()
    gh_worker.runs.clock = fake
    return fake


def test_jobs_without_their_run_are_stored_once_the_run_is_read(
    gh_client: FlaskClient, gh_worker: WebhookWorker, storage: SkillsStorage, api: responses.RequestsMock
) -> None:
    deliver_jobs(gh_client)
    gh_worker.process_pending()
    assert storage.count_invocations() == 0  # the run number is unknown
    # Its own delivery may still come: nothing is read for a minute.
    assert gh_worker.look_up_runs() == 0
    assert calls(api) == []

    api.add(responses.GET, RUN_URL, json=api_run())
    assert gh_worker.look_up_runs(now=utcnow() + LATER) == 1
    assert calls(api) == [("GET", f"/repos/{REPO}/actions/runs/{RUN}")]
    run = storage.github_run(RUN)
    assert run is not None and (run["run_number"], run["conclusion"]) == (163, "failure")
    jobs = storage.github_jobs(run_id=RUN)
    assert [(j["name"], j["pipeline_name"], j["build_number"]) for j in jobs] == [
        ("lint", "test", "163"),
        ("build", "test", "163"),
    ]
    assert all(j["materialised_at"] is not None for j in jobs)
    assert sorted(s.stage for s in storage.build_stages("test", "163")) == ["build", "lint"]
    assert storage.runs_awaited(stored_before=utcnow() + LATER) == []

    # The completed run of PR #7 gets its comment, as a delivered one would.
    api.add(responses.GET, COMMENTS_7, json=[])
    api.add(responses.POST, COMMENTS_7, json=comment_json(111, "x"), status=201)
    stats = gh_worker.process_pending()
    assert (stats.comments_written, stats.errors) == (1, [])
    assert "### ❌ test — build 163 (run #163)" in sent_body(api)


def test_a_run_still_going_is_read_again_a_minute_later(
    gh_client: FlaskClient,
    gh_worker: WebhookWorker,
    storage: SkillsStorage,
    api: responses.RequestsMock,
    clock: Clock,
) -> None:
    deliver_jobs(gh_client)
    gh_worker.process_pending()
    api.add(responses.GET, RUN_URL, json=api_run(status="in_progress", conclusion=None))
    later = utcnow() + LATER
    assert gh_worker.look_up_runs(now=later) == 0
    assert storage.github_run(RUN) is None and storage.count_invocations() == 0
    assert gh_worker.look_up_runs(now=later) == 0
    assert len(api.calls) == 1  # not again at once
    clock.now += run_lookup.RUN_RECHECK_SECONDS
    api.replace(responses.GET, RUN_URL, json=api_run())
    assert gh_worker.look_up_runs(now=later) == 1
    assert len(api.calls) == 2
    assert storage.count_invocations() > 0


def test_a_run_that_cannot_be_read_is_tried_again_later_and_later(
    gh_client: FlaskClient,
    gh_worker: WebhookWorker,
    storage: SkillsStorage,
    api: responses.RequestsMock,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    deliver_jobs(gh_client)
    gh_worker.process_pending()
    api.add(responses.GET, RUN_URL, json={"message": "Not Found"}, status=404)
    later = utcnow() + LATER
    tries = []
    for _ in range(4):
        gh_worker.look_up_runs(now=later)
        tries.append(len(api.calls))
        clock.now += 90  # more than the first wait (60 s), less than the second (120 s)
    # Read at 0 s, again after 90 s (wait 60), then not before 180 s more (wait 120).
    assert tries == [1, 2, 2, 3]
    assert (
        f"run {RUN} of {REPO}, which completed jobs (2) wait for, could not be read (next in 60 s)"
        in caplog.text
    )
    assert "404" in caplog.text
    assert storage.count_invocations() == 0  # the jobs still wait, stored


def test_runs_github_keeps_refusing_never_hold_back_newer_ones(
    gh_client: FlaskClient, gh_worker: WebhookWorker, api: responses.RequestsMock, clock: Clock
) -> None:
    runs = [RUN + n for n in range(8)]
    for n, run_id in enumerate(runs):
        post(gh_client, "workflow_job", job_payload(job_id=500 + n, run_id=run_id))
        clock.now += 1
    gh_worker.process_pending()
    for run_id in runs[:-1]:  # deleted runs, say
        api.add(
            responses.GET,
            f"{GH}/repos/{REPO}/actions/runs/{run_id}",
            json={"message": "Not Found"},
            status=404,
        )
    api.add(
        responses.GET, f"{GH}/repos/{REPO}/actions/runs/{runs[-1]}", json=api_run(run_id=runs[-1], prs=())
    )
    later = utcnow() + LATER
    stored = [gh_worker.runs.read(gh_worker.runs.due(now=later, limit=1)) for _ in runs]
    assert [c[1].rsplit("/", 1)[1] for c in calls(api)] == [str(r) for r in runs]  # each read once, in turn
    assert stored == [0] * 7 + [1]


def test_a_run_delivered_in_time_is_not_read(
    gh_client: FlaskClient, gh_worker: WebhookWorker, storage: SkillsStorage, api: responses.RequestsMock
) -> None:
    deliver_jobs(gh_client)
    assert (
        post(gh_client, "workflow_run", run_payload(status="in_progress", conclusion=None)).status_code == 202
    )
    gh_worker.process_pending()
    assert storage.runs_awaited(stored_before=utcnow() + LATER) == []
    assert gh_worker.look_up_runs(now=utcnow() + LATER) == 0
    assert calls(api) == []


def test_without_credentials_each_waiting_run_is_named_once(
    client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage, caplog: pytest.LogCaptureFixture
) -> None:
    deliver_jobs(client)
    post(client, "workflow_job", job_payload(job_id=300, run_id=RUN + 1))
    worker.process_pending()
    later = utcnow() + LATER
    with caplog.at_level(logging.WARNING, logger="receiver.run_lookup"):
        assert worker.look_up_runs(now=later) == 0
        assert worker.look_up_runs(now=later) == 0
    told = [r.getMessage() for r in caplog.records if r.name == "receiver.run_lookup"]
    assert told == [
        f"completed jobs (2) of run {RUN} in {REPO} wait for its workflow_run delivery: subscribe the "
        'webhook to "Workflow runs" too, or set GitHub credentials so that the receiver reads the run from '
        "the API",
        f"completed jobs (1) of run {RUN + 1} in {REPO} wait for its workflow_run delivery: subscribe the "
        'webhook to "Workflow runs" too, or set GitHub credentials so that the receiver reads the run from '
        "the API",
    ]


def test_the_background_round_reads_under_its_own_lease(
    gh_client: FlaskClient,
    gh_worker: WebhookWorker,
    storage: SkillsStorage,
    api: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deliver_jobs(gh_client)
    monkeypatch.setattr(run_lookup, "RUN_LOOKUP_AFTER_SECONDS", -60.0)  # due at once
    api.add(responses.GET, RUN_URL, json=api_run(prs=()))
    assert storage.take_lease(RUN_LOOKUP_LEASE, "another process", 300)
    gh_worker._round()  # applies the jobs; the runs are another process's to read
    assert calls(api) == [] and storage.count_invocations() == 0
    storage.drop_lease(RUN_LOOKUP_LEASE, "another process")
    gh_worker._round()
    assert calls(api) == [("GET", f"/repos/{REPO}/actions/runs/{RUN}")]
    assert storage.count_invocations() > 0
    assert storage.take_lease(RUN_LOOKUP_LEASE, "another process", 300)  # let go after reading


def test_waiting_jobs_are_found_through_the_partial_index(storage: SkillsStorage) -> None:
    with storage.engine.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT run_id FROM github_job "
            "WHERE materialised_at IS NULL AND status_rank = 2 AND recorded_at < '2030-01-01'"
        ).all()
    assert "ix_github_job_waiting" in " ".join(str(row[-1]) for row in plan)
