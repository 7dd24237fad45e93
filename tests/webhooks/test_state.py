"""State follows the payloads' timestamps; re-runs stay apart; the Action
and the webhooks never count one job twice."""

from __future__ import annotations

from datetime import UTC, datetime

from flask.testing import FlaskClient

from receiver.webhook_worker import WebhookWorker
from tests.conftest import API_TOKEN
from tests.webhooks.helpers import JOB_FIXTURE, SHA, job_payload, post, raw, run_payload, sample
from tracker.cicd import CICDTracker
from tracker.github.stages import ActionJob, JobWindow, action_covers, names_job
from tracker.github.workflows import parse_workflow_job
from tracker.phases import WorkflowPhase
from tracker.storage import SkillsStorage


def test_late_in_progress_never_moves_a_job_back(
    client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage
) -> None:
    # The fixtures share job id 289782451; in_progress arrives after completed.
    assert post(client, "workflow_job", raw(JOB_FIXTURE)).status_code == 202
    assert post(client, "workflow_job", raw("workflow_job/in_progress.payload.json")).status_code == 202
    assert post(client, "workflow_job", raw("workflow_job/queued.payload.json")).status_code == 202
    worker.process_pending()
    (job,) = storage.github_jobs()
    assert (job["name"], job["status"], job["conclusion"], job["duration_seconds"]) == (
        "linters",
        "completed",
        "failure",
        198.0,
    )
    assert storage.delivery_counts() == {"processed": 3}


def test_in_order_updates_apply(client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage) -> None:
    post(client, "workflow_job", raw("workflow_job/queued.payload.json"))
    worker.process_pending()
    assert storage.github_jobs()[0]["status"] == "queued"
    post(client, "workflow_job", raw("workflow_job/in_progress.payload.json"))
    worker.process_pending()
    assert storage.github_jobs()[0]["status"] == "in_progress"
    post(client, "workflow_job", raw(JOB_FIXTURE))
    worker.process_pending()
    assert storage.github_jobs()[0]["status"] == "completed"


def test_late_requested_never_moves_a_run_back(
    client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage
) -> None:
    post(client, "workflow_run", raw("workflow_run/completed.payload.json"))
    post(client, "workflow_run", raw("workflow_run/requested.payload.json"))
    worker.process_pending()
    run = storage.github_run(289782451)
    assert run is not None and (run["status"], run["conclusion"]) == ("completed", "success")


def test_same_rank_later_timestamp_wins(
    client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage
) -> None:
    # requested.with-conclusion is "completed/action_required" at 16:33:24;
    # completed is "completed/success" at 16:33:49: whatever the order, success.
    post(client, "workflow_run", raw("workflow_run/completed.payload.json"))
    post(client, "workflow_run", raw("workflow_run/requested.with-conclusion.payload.json"))
    worker.process_pending()
    run = storage.github_run(289782451)
    assert run is not None and run["conclusion"] == "success"


def test_job_waits_for_its_run_then_becomes_stages(
    client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage
) -> None:
    post(client, "workflow_job", job_payload())
    worker.process_pending()
    assert storage.count_invocations() == 0
    post(client, "workflow_run", run_payload(status="in_progress", conclusion=None))
    stats = worker.process_pending()
    assert stats.deliveries.invocations == 12
    (job,) = storage.github_jobs()
    assert (job["pipeline_name"], job["build_number"], job["covered_by_action"]) == ("test", "163", False)
    stages = storage.build_stages("test", "163")
    assert [
        (s.stage, s.invocations, s.successes, s.failures, s.skipped, s.duration_seconds, s.queue_seconds)
        for s in stages
    ] == [("linters", 12, 9, 1, 2, 20.0, 60.0)]
    # Rollups saw the same rows: 10 decisive runs, the queue time once.
    (metrics,) = storage.stage_metrics("test", datetime(2021, 8, 1), datetime(2021, 8, 31))
    assert (metrics.total_runs, metrics.successful_runs, metrics.failed_runs, metrics.skipped_runs) == (
        10,
        9,
        1,
        2,
    )
    assert (metrics.queued_runs, metrics.total_queue_seconds, metrics.total_duration) == (1, 60.0, 20.0)


def test_rerun_attempt_is_kept_apart(
    client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage
) -> None:
    post(client, "workflow_run", run_payload(attempt=1, conclusion="failure"))
    post(client, "workflow_job", job_payload(job_id=1001, attempt=1, conclusion="failure"))
    post(
        client,
        "workflow_run",
        run_payload(attempt=2, conclusion="success", updated_at="2021-08-05T11:00:00Z"),
    )
    post(client, "workflow_job", job_payload(job_id=2002, attempt=2, conclusion="success"))
    worker.process_pending()
    first, second = storage.github_run(2202229078, 1), storage.github_run(2202229078, 2)
    assert first is not None and second is not None
    assert (first["build_number"], first["conclusion"]) == ("163", "failure")
    assert (second["build_number"], second["conclusion"]) == ("163.2", "success")
    assert storage.count_invocations(session_id="test-163") == 12
    assert storage.count_invocations(session_id="test-163.2") == 12
    assert {j["job_id"]: j["build_number"] for j in storage.github_jobs()} == {1001: "163", 2002: "163.2"}


def _action_result(
    client: FlaskClient, job: str | None, *, stage: str = "lint", started: str = "2021-08-05T10:35:10Z"
) -> None:
    context = {
        "pipeline_name": "test",
        "build_number": "163",
        "git_commit": SHA,
        "git_branch": "master",
        "environment": "ci",
        "triggered_by": "pull_request",
        "repository": "octo-org/octo-repo",
        "run_id": "2202229078",
        "run_attempt": 1,
    }
    if job is not None:
        context["job"] = job
    response = client.post(
        "/api/v1/stage-results",
        json={
            "context": context,
            "stage": stage,
            "skill": "eslint-check",
            "success": False,
            "duration_seconds": 2.5,
            "started_at": started,
        },
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert response.status_code == 201, response.get_json()


def test_action_and_webhook_for_the_same_build_count_once(
    client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage
) -> None:
    _action_result(client, "linters")  # the Action wrapped a step of job "linters"
    post(client, "workflow_run", run_payload())
    post(client, "workflow_job", job_payload(job_id=1, name="linters"))
    post(client, "workflow_job", job_payload(job_id=2, name="build", conclusion="success"))
    worker.process_pending()
    jobs = {j["name"]: j["covered_by_action"] for j in storage.github_jobs()}
    assert jobs == {"linters": True, "build": False}
    assert storage.count_invocations(session_id="test-163", source="ci") == 1
    assert storage.count_invocations(session_id="test-163", source="webhook") == 12  # job "build" only
    assert storage.count_invocations(session_id="test-163", stage="linters") == 0
    # The covered job still reports its queue time at job level.
    assert [(j.name, j.queue_seconds, j.covered_by_action) for j in storage.build_jobs("test", "163")] == [
        ("build", 60.0, False),
        ("linters", 60.0, True),
    ]


def test_action_job_key_matches_a_matrix_job(
    client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage
) -> None:
    _action_result(client, "test", stage="test")
    post(client, "workflow_run", run_payload())
    post(client, "workflow_job", job_payload(job_id=5, name="test (3.12, ubuntu-latest)"))
    worker.process_pending()
    assert storage.github_jobs()[0]["covered_by_action"] is True
    assert storage.count_invocations(source="webhook") == 0


def test_action_result_without_job_covers_the_build(
    client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage
) -> None:
    _action_result(client, None)
    post(client, "workflow_run", run_payload())
    post(client, "workflow_job", job_payload(job_id=7, name="anything"))
    worker.process_pending()
    assert storage.count_invocations(source="webhook") == 0


def test_other_build_is_not_covered(
    client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage
) -> None:
    _action_result(client, "linters")  # build 163, attempt 1
    post(client, "workflow_run", run_payload(attempt=2))
    post(client, "workflow_job", job_payload(job_id=8, attempt=2))
    worker.process_pending()
    assert storage.count_invocations(session_id="test-163.2", source="webhook") == 12


class TestActionCovers:
    JOB = parse_workflow_job(sample(JOB_FIXTURE))  # linters, ran 10:34:58 → 10:38:16
    INSIDE = datetime(2021, 8, 5, 10, 36)

    def test_names(self) -> None:
        assert names_job("Linters", "linters") and names_job("test", "test (3.11)")
        assert not names_job("test", "tests") and not names_job("lint", "linters")

    def test_custom_name_matched_by_time_when_unambiguous(self) -> None:
        custom = [ActionJob("lint", self.INSIDE, self.INSIDE)]
        assert action_covers(
            self.JOB, custom, [JobWindow("build", datetime(2021, 8, 5, 10, 0), datetime(2021, 8, 5, 10, 30))]
        )

    def test_parallel_jobs_make_time_ambiguous(self) -> None:
        custom = [ActionJob("lint", self.INSIDE, self.INSIDE)]
        parallel = JobWindow("other", datetime(2021, 8, 5, 10, 34), datetime(2021, 8, 5, 10, 40))
        assert not action_covers(self.JOB, custom, [parallel])

    def test_a_key_naming_a_sibling_never_covers_by_time(self) -> None:
        theirs = [ActionJob("build", self.INSIDE, self.INSIDE)]
        assert not action_covers(self.JOB, theirs, [JobWindow("build", None, None)])

    def test_outside_the_window(self) -> None:
        late = datetime(2021, 8, 5, 11, 0)
        assert not action_covers(self.JOB, [ActionJob("lint", late, late)], [])


def test_a_jobs_stage_phase_in_analytics_follows_the_words_of_its_name(
    client: FlaskClient, worker: WebhookWorker, storage: SkillsStorage
) -> None:
    # "linters" is no CI stage name; its words make it verification, for its
    # steps when stored and for the stage in analytics and recommendations.
    now = datetime.now(UTC).replace(tzinfo=None)
    shift = now - datetime(2021, 8, 5, 10, 45)
    post(client, "workflow_job", job_payload(shift=shift))
    post(client, "workflow_run", run_payload(shift=shift))
    worker.process_pending()
    analytics = CICDTracker(storage=storage).get_pipeline_analytics("test", days=1)
    stage = analytics.stage("linters")
    assert stage is not None and stage.workflow_phase is WorkflowPhase.VERIFICATION
    (missing,) = [r for r in analytics.recommendations if r.kind == "missing_skills"]
    assert "ruff-check" in missing.message and "pytest-run" not in missing.message
