"""``session-buddy-ci backfill``: past runs and jobs through mocked API pages."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import responses
from click.testing import CliRunner

from receiver.cli import main
from tests.webhooks.helpers import GH, JOB_FIXTURE, REPO, TOKEN, calls, run_payload, sample
from tracker.records import utcnow
from tracker.settings import Settings
from tracker.storage import SkillsStorage

SUCCESS_JOB = "workflow_job/completed.success.with-organization.payload.json"
RUNS = f"{GH}/repos/{REPO}/actions/runs"


def rest_run(run_id: int, number: int, name: str, attempt: int = 1) -> dict[str, Any]:
    """A run as ``GET /actions/runs`` lists it: the webhook's object."""
    payload = run_payload(run_id=run_id, number=number, name=name, attempt=attempt)
    run: dict[str, Any] = payload["workflow_run"]
    run["jobs_url"] = f"https://api.github.com/repos/{REPO}/actions/runs/{run_id}/jobs"
    run["url"] = f"https://api.github.com/repos/{REPO}/actions/runs/{run_id}"
    return run


def rest_job(job_id: int, run_id: int, name: str, fixture: str, attempt: int = 1) -> dict[str, Any]:
    job: dict[str, Any] = copy.deepcopy(sample(fixture)["workflow_job"])
    job.update(id=job_id, run_id=run_id, name=name, run_attempt=attempt)
    job["url"] = f"https://api.github.com/repos/{REPO}/actions/jobs/{job_id}"
    return job


def _params(**wanted: str) -> Any:
    """A matcher: the query has exactly the ``wanted`` values for those
    keys and no ``page`` unless wanted."""

    def match(request: Any) -> tuple[bool, str]:
        params = dict(request.params)
        ok = all(params.get(k) == v for k, v in wanted.items()) and ("page" in params) == ("page" in wanted)
        return ok, "" if ok else f"query {params} is not {wanted}"

    return match


def mock_api(api: responses.RequestsMock, *, broken_job: bool = False) -> None:
    """Three runs (two of workflow ``test``) and their jobs; with
    ``broken_job`` one job's first step claims to have started in 2019."""
    runs = [rest_run(501, 10, "test"), rest_run(502, 11, "test", attempt=2), rest_run(503, 5, "Deploy")]
    page2 = f"https://api.github.com/repos/{REPO}/actions/runs?page=2&per_page=100"
    # totalCount asks for one run per page and reads total_count.
    api.add(
        responses.GET, RUNS, json={"total_count": 3, "workflow_runs": runs[:1]}, match=[_params(per_page="1")]
    )
    api.add(
        responses.GET,
        RUNS,
        json={"total_count": 3, "workflow_runs": runs[:2]},
        headers={"Link": f'<{page2}>; rel="next", <{page2}>; rel="last"'},
        match=[_params(per_page="100")],
    )
    api.add(
        responses.GET,
        RUNS,
        json={"total_count": 3, "workflow_runs": runs[2:]},
        match=[_params(page="2", per_page="100")],
    )
    jobs = {
        501: [rest_job(1, 501, "lint", JOB_FIXTURE), rest_job(2, 501, "build", SUCCESS_JOB)],
        502: [rest_job(3, 502, "lint", JOB_FIXTURE), rest_job(4, 502, "lint", SUCCESS_JOB, attempt=2)],
    }
    if broken_job:
        jobs[502][0]["steps"][0]["started_at"] = "2019-01-01T00:00:00Z"
    for run_id, items in jobs.items():
        api.add(
            responses.GET,
            f"{RUNS}/{run_id}/jobs",
            json={"total_count": len(items), "jobs": items},
            match=[_params(filter="all", per_page="100")],
        )


def test_backfill_twice_stores_nothing_twice(
    settings: Settings, db_path: Path, api: responses.RequestsMock
) -> None:
    mock_api(api)
    since = (utcnow() - timedelta(days=30)).strftime("%Y-%m-%d")
    env = {
        "SESSION_BUDDY_CI_GITHUB_TOKEN": TOKEN,
        "SESSION_BUDDY_CI_GITHUB_API_URL": "https://api.github.com",
    }
    runner = CliRunner()
    first = runner.invoke(main, ["--database", str(db_path), "backfill", REPO, "--workflow", "test"], env=env)
    assert first.exit_code == 0, first.output
    assert (
        "Backfilled octo-org/octo-repo: 3 runs read (2 new, 1 of other workflows skipped), "
        "4 jobs, 40 step invocations stored." in first.output
    )
    storage = SkillsStorage(settings=settings)
    counts = (storage.count_invocations(), storage.count_github_rows())
    assert counts == (40, {"github_run": 2, "github_job": 4, "github_pr_run": 0})
    assert storage.count_invocations(session_id="test-10") == 20
    assert storage.count_invocations(session_id="test-11") == 12  # attempt 1 of run 11
    assert storage.count_invocations(session_id="test-11.2") == 8
    assert {c.request.headers["Authorization"] for c in api.calls} == {f"token {TOKEN}"}
    assert [path for _, path in calls(api)] == [
        f"/repos/{REPO}/actions/runs?created=%3E%3D{since}&per_page=1",
        f"/repos/{REPO}/actions/runs?created=%3E%3D{since}&per_page=100",
        f"/repos/{REPO}/actions/runs/501/jobs?filter=all&per_page=100",
        f"/repos/{REPO}/actions/runs/502/jobs?filter=all&per_page=100",
        f"/repos/{REPO}/actions/runs?page=2&per_page=100",  # pages are read as the runs are
    ]

    second = runner.invoke(
        main, ["--database", str(db_path), "backfill", REPO, "--workflow", "test"], env=env
    )
    assert second.exit_code == 0, second.output
    assert (
        "3 runs read (0 new, 1 of other workflows skipped), 4 jobs, 0 step invocations stored."
        in second.output
    )
    assert (storage.count_invocations(), storage.count_github_rows()) == counts
    storage.close()


def test_backfill_without_credentials_is_a_clear_error(db_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["--database", str(db_path), "backfill", REPO], env={"SESSION_BUDDY_CI_GITHUB_TOKEN": ""}
    )
    assert result.exit_code == 1
    assert "no GitHub credentials: set SESSION_BUDDY_CI_GITHUB_TOKEN" in result.output


def test_backfill_needs_owner_slash_repo(db_path: Path) -> None:
    result = CliRunner().invoke(main, ["--database", str(db_path), "backfill", "just-a-name"])
    assert result.exit_code == 2 and "must look like OWNER/REPO" in result.output


def test_backfill_skips_and_names_what_a_webhook_would_refuse(
    settings: Settings, db_path: Path, api: responses.RequestsMock
) -> None:
    mock_api(api, broken_job=True)
    env = {
        "SESSION_BUDDY_CI_GITHUB_TOKEN": TOKEN,
        "SESSION_BUDDY_CI_GITHUB_API_URL": "https://api.github.com",
    }
    result = CliRunner().invoke(
        main, ["--database", str(db_path), "backfill", REPO, "--workflow", "test"], env=env
    )
    assert result.exit_code == 0, result.output
    assert (
        "3 runs read (2 new, 1 of other workflows skipped), 3 jobs, 28 step invocations stored; "
        "1 skipped as malformed (first: job 3 of run 502: workflow_job.steps[0].started_at → completed_at "
        "spans 947 days: more than a year)." in result.output
    )
    with SkillsStorage(settings=settings) as storage:
        assert storage.count_github_rows()["github_job"] == 3
