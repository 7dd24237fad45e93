"""Building and posting webhook deliveries from the real payloads."""

from __future__ import annotations

import copy
import itertools
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import responses
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import SAMPLES, WEBHOOK_SECRET
from tracker.github.signature import sign

HOOKS = SAMPLES / "github-webhooks"
RUN_FIXTURE = "workflow_run/completed.payload.json"
JOB_FIXTURE = "workflow_job/completed.failure.with-organization.payload.json"
#: The repository of the workflow_run fixtures (id 300029405).
REPO = "octo-org/octo-repo"
REPO_ID = 300029405
SHA = "3484a3fb816e0859fd6e1cea078d76385ff50625"
_ids = itertools.count(1)
#: The mocked API's base: PyGithub puts the port in the URLs it requests.
GH = "https://api.github.com:443"
TOKEN = "ghp_test_token_0123456789"


class Sleeps(list[float]):
    """Records the waits of the retry loop instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fixture_files() -> list[Path]:
    """Every payload file, as ``<event>/<file>``."""
    return sorted(p for p in HOOKS.glob("*/*.json"))


def raw(relative: str) -> bytes:
    return (HOOKS / relative).read_bytes()


def sample(relative: str) -> dict[str, Any]:
    data = json.loads(raw(relative))
    assert isinstance(data, dict)
    return data


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def new_delivery() -> str:
    return f"00000000-0000-4000-8000-{next(_ids):012d}"


def post(
    client: FlaskClient,
    event: str,
    data: bytes | dict[str, Any],
    *,
    delivery: str | None = None,
    secret: str | None = WEBHOOK_SECRET,
    signature: str | None = None,
    content_type: str = "application/json",
    extra: dict[str, str] | None = None,
) -> TestResponse:
    """POST a delivery, signed with ``secret`` unless ``signature`` is given."""
    payload = data if isinstance(data, bytes) else body(data)
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or new_delivery(),
        "X-GitHub-Hook-ID": "109948940",
        "Content-Type": content_type,
        "User-Agent": "GitHub-Hookshot/abc123",
    }
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    elif secret is not None:
        headers["X-Hub-Signature-256"] = sign(payload, secret)
    headers.update(extra or {})
    return client.post("/webhooks/github", data=payload, headers=headers)


_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def shifted(value: Any, by: timedelta) -> Any:
    """``value`` with every ISO timestamp in it moved by ``by``."""
    if isinstance(value, dict):
        return {k: shifted(v, by) for k, v in value.items()}
    if isinstance(value, list):
        return [shifted(v, by) for v in value]
    if isinstance(value, str) and _TIME.match(value):
        moved = datetime.fromisoformat(value.replace("Z", "+00:00")) + by
        return moved.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def run_payload(
    *,
    run_id: int = 2202229078,
    attempt: int = 1,
    number: int = 163,
    name: str = "",
    status: str = "completed",
    conclusion: str | None = "success",
    head_sha: str = SHA,
    head_branch: str = "master",
    prs: tuple[int, ...] = (),
    fork_owner: str | None = None,
    updated_at: str = "2021-08-05T10:40:00Z",
    installation: int | None = None,
    event: str = "pull_request",
    shift: timedelta = timedelta(0),
) -> dict[str, Any]:
    """The ``workflow_run.completed`` fixture, changed where asked, timed
    around the job fixtures (2021-08-05 10:33 → 10:40) and moved by
    ``shift``. PRs are made PRs of the run's own repository (the fixture's
    one belongs to another repository)."""
    payload = copy.deepcopy(sample(RUN_FIXTURE))
    run = payload["workflow_run"]
    template = sample("workflow_run/completed.with-pull-requests.payload.json")["workflow_run"][
        "pull_requests"
    ][0]
    run.update(
        id=run_id,
        run_attempt=attempt,
        run_number=number,
        name=name,
        status=status,
        conclusion=conclusion,
        head_sha=head_sha,
        head_branch=head_branch,
        updated_at=updated_at,
        event=event,
        created_at="2021-08-05T10:33:00Z",
        run_started_at="2021-08-05T10:33:00Z",
        html_url=f"https://github.com/{REPO}/actions/runs/{run_id}",
    )
    for key in ("created_at", "run_started_at", "updated_at"):
        run[key] = shifted(run[key], shift)
    pulls = []
    for n in prs:
        pr = copy.deepcopy(template)
        pr["number"] = n
        pr["url"] = f"https://api.github.com/repos/{REPO}/pulls/{n}"
        pr["base"]["repo"].update(id=REPO_ID, url=f"https://api.github.com/repos/{REPO}", name="octo-repo")
        pr["head"].update(sha=head_sha, ref=head_branch)
        pr["head"]["repo"].update(id=REPO_ID, url=f"https://api.github.com/repos/{REPO}", name="octo-repo")
        pulls.append(pr)
    run["pull_requests"] = pulls
    if fork_owner is not None:
        head = run["head_repository"]
        head["full_name"] = f"{fork_owner}/octo-repo"
        head["owner"]["login"] = fork_owner
        head["id"] = 999
    if installation is not None:
        payload["installation"] = {"id": installation, "node_id": "x"}
    return payload


def job_payload(
    *,
    job_id: int = 289782451,
    run_id: int = 2202229078,
    attempt: int = 1,
    name: str = "linters",
    conclusion: str = "failure",
    fixture: str = JOB_FIXTURE,
    head_sha: str = SHA,
    steps: list[dict[str, Any]] | None = None,
    shift: timedelta = timedelta(0),
) -> dict[str, Any]:
    """A ``workflow_job`` fixture with its ids (and name) changed, in the
    fixture run's repository, its times moved by ``shift``."""
    payload = copy.deepcopy(sample(fixture))
    payload["workflow_job"] = shifted(payload["workflow_job"], shift)
    job = payload["workflow_job"]
    job.update(
        id=job_id, run_id=run_id, run_attempt=attempt, name=name, conclusion=conclusion, head_sha=head_sha
    )
    if steps is not None:
        job["steps"] = steps
    payload["repository"]["full_name"] = REPO
    payload["repository"]["id"] = REPO_ID
    return payload


# -- PR comment flows -----------------------------------------------------------

SUCCESS_JOB = "workflow_job/completed.success.with-organization.payload.json"
COMMENTS_7 = f"{GH}/repos/{REPO}/issues/7/comments"
SHA2 = "aaaaaaa1111111111111111111111111111111bb"


def deliver_build(
    client: FlaskClient,
    *,
    run_id: int = 2202229078,
    number: int = 163,
    sha: str = SHA,
    prs: tuple[int, ...] = (7,),
    name: str = "",
    shift: timedelta = timedelta(0),
    first_job_id: int = 100,
    **run: Any,
) -> None:
    """A build: jobs "lint" (a failed step) and "build" (success), then the run."""
    jobs = [("lint", "failure", None), ("build", "success", SUCCESS_JOB)]
    for offset, (job_name, conclusion, fixture) in enumerate(jobs):
        payload = job_payload(
            job_id=first_job_id + offset,
            run_id=run_id,
            name=job_name,
            conclusion=conclusion,
            head_sha=sha,
            shift=shift,
            fixture=fixture or JOB_FIXTURE,
        )
        assert post(client, "workflow_job", payload).status_code == 202
    payload = run_payload(
        run_id=run_id,
        number=number,
        head_sha=sha,
        prs=prs,
        name=name,
        shift=shift,
        conclusion="failure",
        **run,
    )
    assert post(client, "workflow_run", payload).status_code == 202


def calls(api: responses.RequestsMock) -> list[tuple[str, str]]:
    """The calls made to the mocked API: (method, path and query)."""
    made = []
    for c in api.calls:
        # Optional in requests' types; a sent request always has both.
        assert c.request.method is not None and c.request.url is not None
        made.append((c.request.method, c.request.url.removeprefix(GH)))
    return made


def sent_body(api: responses.RequestsMock, index: int = -1) -> str:
    data = json.loads(api.calls[index].request.body)  # type: ignore[arg-type]
    assert list(data) == ["body"]
    return str(data["body"])


#: The user of the test token (``GET /user``).
BOT_LOGIN = "session-buddy-bot"


def comment_json(
    comment_id: int, body: str, *, user: str = BOT_LOGIN, app_id: int | None = None
) -> dict[str, Any]:
    """An issue comment as the API lists it, by ``user`` (through the App
    ``app_id``, when given)."""
    return {
        "id": comment_id,
        "body": body,
        "user": {"login": user, "type": "Bot" if app_id else "User"},
        "performed_via_github_app": {"id": app_id, "slug": "session-buddy-ci"} if app_id else None,
        "url": f"https://api.github.com/repos/{REPO}/issues/comments/{comment_id}",
        "html_url": f"https://github.com/{REPO}/pull/7#issuecomment-{comment_id}",
    }


def installation_token(
    api: responses.RequestsMock,
    installation_id: int,
    token: str = "ghs_installation",  # noqa: S107 (a mocked API's answer)
) -> None:
    """GitHub's answer to a GitHub App asking for an installation token."""
    api.add(
        responses.POST,
        f"{GH}/app/installations/{installation_id}/access_tokens",
        json={"token": token, "expires_at": "2099-01-01T00:00:00Z"},
        status=201,
    )
