"""Pure parsing of the real workflow_run and workflow_job payloads."""

from __future__ import annotations

import copy
from datetime import datetime

import pytest

from tests.webhooks.helpers import JOB_FIXTURE, sample
from tracker.context import CIPipelineContext
from tracker.github.errors import PayloadError
from tracker.github.rules import PhaseRules
from tracker.github.stages import RunIdentity, job_records
from tracker.github.workflows import outcome_of, parse_workflow_job, parse_workflow_run
from tracker.phases import Outcome, Source, WorkflowPhase
from tracker.settings import Settings

V, S, E = WorkflowPhase.VERIFICATION, WorkflowPhase.SETUP, WorkflowPhase.EXECUTION


class TestWorkflowRun:
    def test_completed_fixture(self) -> None:
        run = parse_workflow_run(sample("workflow_run/completed.payload.json"))
        assert run.pipeline == "test"  # name is "": workflow.name
        assert (run.run_id, run.run_number, run.run_attempt, run.build_number) == (289782451, 163, 1, "163")
        assert (run.head_sha, run.head_branch, run.event) == (
            "3484a3fb816e0859fd6e1cea078d76385ff50625",
            "master",
            "repository_dispatch",
        )
        assert (run.status, run.conclusion, run.completed) == ("completed", "success", True)
        assert run.duration_seconds == 0.0  # run_started_at == updated_at in the fixture
        assert run.repository == "octo-org/octo-repo"
        assert run.pull_requests == () and not run.from_fork
        assert run.html_url == "https://github.com/octo-org/octo-repo/actions/runs/289782451"

    def test_requested_fixture_has_no_duration(self) -> None:
        run = parse_workflow_run(sample("workflow_run/requested.payload.json"))
        assert (run.status, run.rank, run.conclusion, run.duration_seconds) == ("queued", 0, None, None)

    def test_pull_requests_of_another_repository_are_not_ours(self) -> None:
        run = parse_workflow_run(sample("workflow_run/completed.with-pull-requests.payload.json"))
        assert [(p.number, p.base_repo_id, p.head_ref) for p in run.pull_requests] == [
            (2, 186853002, "changes")
        ]
        assert run.own_pull_requests() == ()  # base repo 186853002 is not octo-org/octo-repo (300029405)

    def test_pipeline_falls_back_to_the_workflow_file(self) -> None:
        payload = sample("workflow_run/completed.payload.json")
        del payload["workflow"]
        assert parse_workflow_run(payload).pipeline == ".github/workflows/test.yml"

    def test_rerun_is_its_own_build(self) -> None:
        payload = sample("workflow_run/completed.payload.json")
        payload["workflow_run"]["run_attempt"] = 2
        assert parse_workflow_run(payload).build_number == "163.2"

    @pytest.mark.parametrize(
        ("path", "value", "message"),
        [
            ("run_number", None, "workflow_run.run_number is missing"),
            ("head_sha", "not-a-sha", "workflow_run.head_sha must be a 7-40 digit hex commit id"),
            ("id", "12", "workflow_run.id must be an integer from 0 to 9223372036854775807"),
            # What no column holds: refused on receipt (422), not acknowledged and lost.
            ("id", 2**63, "workflow_run.id must be an integer from 0 to 9223372036854775807"),
            ("run_attempt", 2**40, "workflow_run.run_attempt must be an integer from 0 to 2147483647"),
            ("updated_at", "yesterday", "workflow_run.updated_at is not an ISO 8601 timestamp"),
            (
                "created_at",
                "0001-01-01T00:00:00+01:00",
                "workflow_run.created_at is not an ISO 8601 timestamp",
            ),
            (
                "created_at",
                "9999-12-31T23:59:59-01:00",
                "workflow_run.created_at is not an ISO 8601 timestamp",
            ),
            (
                "created_at",
                "0001-01-01T00:00:00Z",
                "workflow_run.created_at must be in the years 1970 to 2199",
            ),
        ],
    )
    def test_missing_or_bad_field_is_named(self, path: str, value: object, message: str) -> None:
        payload = sample("workflow_run/completed.payload.json")
        if value is None:
            del payload["workflow_run"][path]
        else:
            payload["workflow_run"][path] = value
        with pytest.raises(PayloadError, match=message):
            parse_workflow_run(payload)

    def test_text_is_cleaned_to_its_column(self) -> None:
        payload = sample("workflow_run/completed.payload.json")
        run = payload["workflow_run"]
        run["head_branch"] = "b\x00" + "x" * 300
        run["status"] = "completed\x00" + "y" * 30
        run["conclusion"] = "fail\x00ure" + "z" * 40
        payload["installation"] = {"id": 2**70}
        payload["repository"]["id"] = 2**64
        parsed = parse_workflow_run(payload)
        assert parsed.head_branch is not None and len(parsed.head_branch) == 255
        assert parsed.head_branch.startswith("b x") and "\x00" not in parsed.head_branch
        assert (len(parsed.status), len(parsed.conclusion or "")) == (20, 30)
        assert (parsed.installation_id, parsed.repository_id) == (None, None)
        payload["repository"]["full_name"] = "octo-org/octo\x00repo"
        with pytest.raises(PayloadError, match=r"repository\.full_name must look like owner/name"):
            parse_workflow_run(payload)

    def test_a_workflow_name_with_dot_segments_is_written_as_the_action_writes_it(self) -> None:
        payload = sample("workflow_run/completed.payload.json")
        payload["workflow_run"]["name"] = "./test"
        assert parse_workflow_run(payload).pipeline == "\u2024/test"
        assert (
            CIPipelineContext("./test", "1", "abcdef1", "main", "ci", "push").pipeline_name == "\u2024/test"
        )

    def test_no_name_at_all(self) -> None:
        payload = sample("workflow_run/completed.payload.json")
        del payload["workflow"]
        payload["workflow_run"]["path"] = ""
        with pytest.raises(PayloadError, match=r"no name, workflow\.name or path"):
            parse_workflow_run(payload)


class TestWorkflowJob:
    def test_completed_failure_fixture(self) -> None:
        job = parse_workflow_job(sample(JOB_FIXTURE))
        assert (job.job_id, job.run_id, job.run_attempt, job.name) == (289782451, 2202229078, 1, "linters")
        assert (job.status, job.conclusion, job.outcome) == ("completed", "failure", Outcome.FAILURE)
        assert job.queue_seconds == 60.0  # created 10:33:58, started 10:34:58
        assert job.duration_seconds == 198.0  # started 10:34:58, completed 10:38:16
        assert [s.number for s in job.steps] == [1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17]
        assert [s.duration_seconds for s in job.steps] == [3, 1, 0, 0, 3, 10, 2, 1, 0, 0, 0, 0]

    @pytest.mark.parametrize(
        ("where", "field", "value", "message"),
        [
            (
                "job",
                "created_at",
                "2020-01-01T00:00:00Z",
                r"workflow_job\.created_at → started_at spans 582 days",
            ),
            (
                "step",
                "started_at",
                "2019-01-01T00:00:00Z",
                r"workflow_job\.steps\[0\]\.started_at → completed_at",
            ),
        ],
    )
    def test_a_span_of_more_than_a_year_is_refused_on_receipt(
        self, where: str, field: str, value: str, message: str
    ) -> None:
        """No run lasts a year: such a job would have been acknowledged and
        then failed in the worker, its record refusing the duration."""
        payload = sample(JOB_FIXTURE)
        target = payload["workflow_job"] if where == "job" else payload["workflow_job"]["steps"][0]
        target[field] = value
        with pytest.raises(PayloadError, match=message):
            parse_workflow_job(payload)

    def test_in_progress_has_queue_time_but_no_duration(self) -> None:
        job = parse_workflow_job(sample("workflow_job/in_progress.with-queued-steps.payload.json"))
        assert (job.rank, job.queue_seconds, job.duration_seconds) == (1, 7.0, None)
        assert [s.status for s in job.steps].count("queued") == 6

    @pytest.mark.parametrize(
        "fixture", ["workflow_job/queued.payload.json", "workflow_job/waiting.payload.json"]
    )
    def test_a_job_not_started_has_no_queue_time_yet(self, fixture: str) -> None:
        job = parse_workflow_job(sample(fixture))
        assert (job.rank, job.queue_seconds, job.steps) == (0, None, ())

    def test_bad_step_is_named(self) -> None:
        payload = sample(JOB_FIXTURE)
        del payload["workflow_job"]["steps"][3]["number"]
        with pytest.raises(PayloadError, match=r"workflow_job.steps\[3\].number is missing"):
            parse_workflow_job(payload)

    def test_missing_repository(self) -> None:
        payload = sample(JOB_FIXTURE)
        del payload["repository"]
        with pytest.raises(PayloadError, match=r"payload\.repository is missing"):
            parse_workflow_job(payload)


class TestJobRecords:
    IDENTITY = RunIdentity("CI", 163, "push", "main")

    def test_one_record_per_step(self) -> None:
        job = parse_workflow_job(sample(JOB_FIXTURE))
        records = job_records(job, self.IDENTITY, PhaseRules.default())
        assert [(r.skill_name, r.workflow_phase, r.outcome, r.duration_seconds) for r in records] == [
            ("Set up job", S, Outcome.SUCCESS, 3.0),
            ("Run actions/checkout@v2", S, Outcome.SUCCESS, 1.0),
            ("Run actions/setup-node@v2", S, Outcome.SUCCESS, 0.0),
            ("Get yarn cache directory path", S, Outcome.SUCCESS, 0.0),
            ("Run actions/cache@v2", S, Outcome.SUCCESS, 3.0),
            ("Run yarn install", S, Outcome.SUCCESS, 10.0),
            ("Run yarn run js-lint", V, Outcome.SUCCESS, 2.0),
            ("Run yarn run format-check", V, Outcome.FAILURE, 1.0),
            ("Post Run actions/cache@v2", S, Outcome.SKIPPED, 0.0),
            ("Post Run actions/setup-node@v2", S, Outcome.SKIPPED, 0.0),
            ("Post Run actions/checkout@v2", S, Outcome.SUCCESS, 0.0),
            ("Complete job", V, Outcome.SUCCESS, 0.0),  # no rule: the job's phase (linters)
        ]
        assert {r.stage for r in records} == {"linters"}
        assert {r.session_id for r in records} == {"CI-163"}
        assert {r.source for r in records} == {Source.WEBHOOK}
        assert [r.queue_seconds for r in records] == [60.0] + [None] * 11
        assert records[0].external_id == "gh:job:289782451:step:1"
        assert records[-1].external_id == "gh:job:289782451:step:17"
        assert records[7].error_key == "Run yarn run format-check (failure)"
        assert records[0].invoked_at == datetime(2021, 8, 5, 10, 26, 8)
        ctx = records[0].context
        assert ctx is not None
        assert (ctx.build_number, ctx.git_branch, ctx.triggered_by, ctx.run_id, ctx.job) == (
            "163",
            "main",
            "push",
            "2202229078",
            "linters",
        )

    def test_second_attempt_is_another_build(self) -> None:
        payload = sample(JOB_FIXTURE)
        payload["workflow_job"]["run_attempt"] = 2
        records = job_records(parse_workflow_job(payload), self.IDENTITY, PhaseRules.default())
        assert {r.session_id for r in records} == {"CI-163.2"}

    def test_job_without_steps_is_one_record(self) -> None:
        payload = copy.deepcopy(sample(JOB_FIXTURE))
        payload["workflow_job"].update(steps=[], conclusion="skipped", name="deploy")
        (record,) = job_records(parse_workflow_job(payload), self.IDENTITY, PhaseRules.default())
        assert (record.skill_name, record.stage, record.outcome) == ("deploy", "deploy", Outcome.SKIPPED)
        assert (record.workflow_phase, record.external_id) == (WorkflowPhase.DEPLOYMENT, "gh:job:289782451")

    def test_unfinished_job_has_no_records(self) -> None:
        with pytest.raises(ValueError, match="has not completed"):
            job_records(
                parse_workflow_job(sample("workflow_job/in_progress.payload.json")),
                self.IDENTITY,
                PhaseRules.default(),
            )


class TestRules:
    @pytest.mark.parametrize(
        ("name", "phase"),
        [
            ("linters", V),
            ("CodeQL / Analyze (javascript)", V),
            ("Run Bundle Audit", V),
            ("dependency-review", V),
            ("Unit tests (3.12)", E),
            ("e2e", E),
            ("Build and push image", WorkflowPhase.DEPLOYMENT),  # deploy words come before build
            ("Set up job", S),
            ("Do examples need to be regenerated?", E),  # nothing recognised: the CI default
            ("splinter", E),  # "lint" must start a word
        ],
    )
    def test_job_phases(self, name: str, phase: WorkflowPhase) -> None:
        assert PhaseRules.default().job_phase(name) is phase

    def test_settings_extend_and_override(self) -> None:
        rules = PhaseRules.from_settings(
            Settings(stage_phases="update=deployment", github_phase_words="regenerat=verification,lint=setup")
        )
        assert rules.job_phase("update") is WorkflowPhase.DEPLOYMENT  # exact name
        assert rules.job_phase("Do examples need to be regenerated?") is V
        assert rules.job_phase("linters") is S  # user words come first

    def test_bad_setting_is_refused(self) -> None:
        with pytest.raises(ValueError, match="unknown workflow phase"):
            Settings(github_phase_words="e2e=testing")


@pytest.mark.parametrize(
    ("conclusion", "outcome"),
    [
        ("success", Outcome.SUCCESS),
        ("neutral", Outcome.SUCCESS),
        ("failure", Outcome.FAILURE),
        ("timed_out", Outcome.FAILURE),
        ("cancelled", Outcome.CANCELLED),
        ("skipped", Outcome.SKIPPED),
        (None, Outcome.CANCELLED),
    ],
)
def test_outcomes(conclusion: str | None, outcome: Outcome) -> None:
    assert outcome_of(conclusion) is outcome
