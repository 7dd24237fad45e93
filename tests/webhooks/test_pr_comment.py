"""The sticky PR comment against a mocked GitHub API (``responses``)."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from receiver import create_app
from receiver.github_client import GitHubClients
from receiver.pr_comments import CommentWritten, PRCommenter
from receiver.webhook_worker import WebhookWorker
from receiver.webhooks import webhook_worker
from tests.webhooks.helpers import (
    BOT_LOGIN,
    COMMENTS_7,
    GH,
    REPO,
    SHA,
    SHA2,
    TOKEN,
    Sleeps,
    calls,
    comment_json,
    deliver_build,
    installation_token,
    job_payload,
    post,
    run_payload,
    sent_body,
)
from tests.webhooks.test_github_client import _pem
from tracker.github.render import MARKER
from tracker.github.rules import PhaseRules
from tracker.settings import Settings
from tracker.storage import SkillsStorage


def test_first_build_creates_the_comment_and_the_next_edits_it(
    gh_client: FlaskClient, gh_worker: WebhookWorker, storage: SkillsStorage, api: responses.RequestsMock
) -> None:
    api.add(responses.GET, COMMENTS_7, json=[comment_json(5, "LGTM")])
    api.add(responses.POST, COMMENTS_7, json=comment_json(111, "x"), status=201)
    deliver_build(gh_client)
    stats = gh_worker.process_pending()
    assert (stats.comments_written, stats.errors) == (1, [])
    assert calls(api) == [
        ("GET", f"/repos/{REPO}/issues/7/comments?per_page=100"),
        ("POST", f"/repos/{REPO}/issues/7/comments"),
    ]
    first = sent_body(api)
    assert first.startswith(MARKER + "\n## 📊 session-buddy-ci report\n")
    assert "Pull request #7 in `octo-org/octo-repo`: 1 workflow, latest commit `3484a3f`." in first
    assert "### ❌ test — build 163 (run #163)" in first
    assert f"[run 2202229078](https://github.com/{REPO}/actions/runs/2202229078)" in first
    assert "commit `3484a3f` · branch `master` · event `pull_request` · **failure** in 7m 00s" in first
    # Stage rows: this build against its (empty) history; the queue time apart.
    assert (
        "| lint | verification | ❌ failure | 12 (1 failed, 2 skipped) | 20.0s | 1m 00s | – | new "
        "| 90.0% of 10 |" in first
    )
    assert "| build | setup | ✅ success | 8 | 18.0s | 1m 00s | – | new | 100.0% of 8 |" in first
    assert (
        "**New failures** (none in the 30 days before this build):\n\n- lint: `Run yarn run format-check`"
        in first
    )
    assert "- lint: 90.0% success (1 of 10 runs failed)" not in first  # 90% is not a bottleneck (< 80%)
    (job,) = storage.comment_jobs(kind="comment")
    assert (job["status"], job["comment_id"], job["requested"], job["done"]) == ("done", 111, 1, 1)

    api.add(responses.PATCH, f"{GH}/repos/{REPO}/issues/comments/111", json=comment_json(111, "y"))
    deliver_build(gh_client, run_id=3, number=164, sha=SHA2, shift=timedelta(days=1), first_job_id=200)
    gh_worker.process_pending()
    assert calls(api)[2:] == [("PATCH", f"/repos/{REPO}/issues/comments/111")]
    second = sent_body(api)
    assert "### ❌ test — build 164 (run #164)" in second and "latest commit `aaaaaaa`" in second
    assert "build 163" not in second  # one section per workflow: its latest run
    # Build 163 is now history: usual 20.0s, no change, and the failure is not new.
    assert (
        "| lint | verification | ❌ failure | 12 (1 failed, 2 skipped) | 20.0s | 1m 00s | 20.0s | +0% "
        "| 90.0% of 20 |" in second
    )
    assert "New failures" not in second


def test_existing_comment_is_found_by_its_marker_across_pages(
    gh_client: FlaskClient, gh_worker: WebhookWorker, api: responses.RequestsMock
) -> None:
    page2 = f"https://api.github.com/repos/{REPO}/issues/7/comments?per_page=100&page=2"
    api.add(
        responses.GET,
        COMMENTS_7,
        json=[comment_json(1, "first"), comment_json(2, "second")],
        headers={"Link": f'<{page2}>; rel="next", <{page2}>; rel="last"'},
        match=[responses.matchers.query_param_matcher({"per_page": "100"})],
    )
    api.add(
        responses.GET,
        COMMENTS_7,
        json=[comment_json(555, f"{MARKER}\nold report")],
        match=[responses.matchers.query_param_matcher({"per_page": "100", "page": "2"})],
    )
    api.add(responses.GET, f"{GH}/user", json={"login": BOT_LOGIN})
    api.add(responses.PATCH, f"{GH}/repos/{REPO}/issues/comments/555", json=comment_json(555, "new"))
    deliver_build(gh_client)
    gh_worker.process_pending()
    assert calls(api) == [
        ("GET", f"/repos/{REPO}/issues/7/comments?per_page=100"),
        ("GET", f"/repos/{REPO}/issues/7/comments?page=2&per_page=100"),
        ("GET", "/user"),  # whose is the marked comment?
        ("PATCH", f"/repos/{REPO}/issues/comments/555"),
    ]
    assert sent_body(api).startswith(MARKER)


def test_a_marked_comment_by_someone_else_is_left_alone(
    gh_client: FlaskClient,
    gh_worker: WebhookWorker,
    api: responses.RequestsMock,
    storage: SkillsStorage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Anyone can paste the marker: editing their comment would put the
    # report under their name, where they could change it.
    api.add(responses.GET, COMMENTS_7, json=[comment_json(666, f"{MARKER}\nfake ✅", user="mallory")])
    api.add(responses.GET, f"{GH}/user", json={"login": BOT_LOGIN})
    api.add(responses.POST, COMMENTS_7, json=comment_json(111, "x"), status=201)
    deliver_build(gh_client)
    stats = gh_worker.process_pending()
    assert (stats.comments_written, stats.errors) == (1, [])
    assert calls(api)[-1] == ("POST", f"/repos/{REPO}/issues/7/comments")
    assert not any(method == "PATCH" for method, _ in calls(api))
    assert (
        "comment 666 on octo-org/octo-repo#7 carries the report's marker but is not this receiver's"
        in caplog.text
    )
    (job,) = storage.comment_jobs(kind="comment")
    assert job["comment_id"] == 111


def test_as_an_app_only_the_apps_own_marked_comment_is_edited(
    settings: Settings, api: responses.RequestsMock
) -> None:
    app_settings = settings.with_(github_app_id="12345", github_private_key=_pem())
    commenter = PRCommenter(GitHubClients(app_settings, throttle=False))
    installation_token(api, 5, "t")
    others = [
        comment_json(1, f"{MARKER}\nby hand", user="mallory"),
        comment_json(2, f"{MARKER}\nanother app", user="other[bot]", app_id=999),
    ]
    api.add(
        responses.GET,
        COMMENTS_7,
        json=[*others, comment_json(3, f"{MARKER}\nours", user="x[bot]", app_id=12345)],
    )
    api.add(responses.PATCH, f"{GH}/repos/{REPO}/issues/comments/3", json=comment_json(3, "new"))
    written = commenter.upsert_comment(REPO, 7, "report", installation_id=5)
    assert written == CommentWritten(3, False)
    api.replace(responses.GET, COMMENTS_7, json=others)
    api.add(responses.POST, COMMENTS_7, json=comment_json(4, "x", app_id=12345), status=201)
    assert commenter.upsert_comment(REPO, 7, "report", installation_id=5) == CommentWritten(4, True)
    assert not any(path.endswith(("/comments/1", "/comments/2")) for _, path in calls(api))


def _pull(number: int, sha: str, base: str = REPO) -> dict[str, Any]:
    return {
        "number": number,
        "url": f"https://api.github.com/repos/{base}/pulls/{number}",
        "state": "open",
        "head": {"ref": "feature", "sha": sha, "repo": {"full_name": "forker/octo-repo"}},
        "base": {"ref": "master", "sha": "f" * 40, "repo": {"full_name": base}},
    }


def test_fork_pull_request_is_found_by_branch(
    gh_client: FlaskClient, gh_worker: WebhookWorker, storage: SkillsStorage, api: responses.RequestsMock
) -> None:
    api.add(
        responses.GET,
        f"{GH}/repos/{REPO}/pulls",
        json=[_pull(8, "b" * 40), _pull(9, SHA)],
        match=[
            responses.matchers.query_param_matcher(
                {"state": "open", "head": "forker:feature", "per_page": "100"}
            )
        ],
    )
    api.add(responses.GET, f"{GH}/repos/{REPO}/issues/9/comments", json=[])
    api.add(responses.POST, f"{GH}/repos/{REPO}/issues/9/comments", json=comment_json(77, "x"), status=201)
    deliver_build(gh_client, prs=(), fork_owner="forker", head_branch="feature")
    stats = gh_worker.process_pending()
    assert (stats.prs_found, stats.comments_written) == (1, 1)
    assert calls(api) == [
        ("GET", f"/repos/{REPO}/pulls?head=forker%3Afeature&per_page=100&state=open"),
        ("GET", f"/repos/{REPO}/issues/9/comments?per_page=100"),
        ("POST", f"/repos/{REPO}/issues/9/comments"),
    ]
    assert "Pull request #9" in sent_body(api)
    assert storage.run_pull_requests(2202229078, 1) == [(REPO, 9)]


def test_fork_pull_request_at_another_commit_gets_no_comment(
    gh_client: FlaskClient, gh_worker: WebhookWorker, api: responses.RequestsMock
) -> None:
    api.add(responses.GET, f"{GH}/repos/{REPO}/pulls", json=[_pull(9, "c" * 40)])
    deliver_build(gh_client, prs=(), fork_owner="forker", head_branch="feature")
    stats = gh_worker.process_pending()
    assert (stats.prs_found, stats.comments_written) == (0, 0)
    assert [m for m, _ in calls(api)] == ["GET"]


def test_pull_request_of_another_repository_gets_no_comment(
    gh_client: FlaskClient, gh_worker: WebhookWorker, api: responses.RequestsMock
) -> None:
    from tests.webhooks.helpers import raw

    post(gh_client, "workflow_run", raw("workflow_run/completed.with-pull-requests.payload.json"))
    stats = gh_worker.process_pending()
    assert stats.comments_written == 0 and calls(api) == []


def test_two_workflows_finishing_at_once_leave_one_comment(
    gh_client: FlaskClient, gh_worker: WebhookWorker, storage: SkillsStorage, api: responses.RequestsMock
) -> None:
    api.add(responses.GET, COMMENTS_7, json=[])
    api.add(responses.POST, COMMENTS_7, json=comment_json(111, "x"), status=201)
    deliver_build(gh_client, run_id=10, name="CI", first_job_id=100)
    deliver_build(gh_client, run_id=11, name="Security", first_job_id=200)
    gh_worker.process_pending()
    assert calls(api) == [
        ("GET", f"/repos/{REPO}/issues/7/comments?per_page=100"),
        ("POST", f"/repos/{REPO}/issues/7/comments"),
    ]
    body = sent_body(api)
    assert "2 workflows" in body
    assert body.count("\n### ") == 2
    assert "### ❌ CI — build 163" in body and "### ❌ Security — build 163" in body
    (job,) = storage.comment_jobs()
    assert (job["requested"], job["done"], job["status"]) == (2, 2, "done")


def test_comment_writes_for_one_pr_are_serialised_across_workers(
    gh_settings: Settings, gh_client: FlaskClient, gh_worker: WebhookWorker, api: responses.RequestsMock
) -> None:
    deliver_build(gh_client, run_id=10, name="CI", first_job_id=100)
    deliver_build(gh_client, run_id=11, name="Security", first_job_id=200)
    gh_worker.ingestor.process_pending(gh_worker.owner)  # deliveries only; comment jobs wait
    entered = threading.Event()

    def slow_list(request: Any) -> tuple[int, dict[str, str], str]:
        entered.set()
        threading.Event().wait(0.3)  # hold the lease while the other worker tries
        return 200, {}, "[]"

    api.add_callback(responses.GET, COMMENTS_7, callback=slow_list)
    api.add(responses.POST, COMMENTS_7, json=comment_json(111, "x"), status=201)
    workers = []
    for _ in range(2):  # two processes' workers: their own engines on the same file
        clients = GitHubClients(gh_settings, throttle=False)
        store = SkillsStorage(settings=gh_settings)
        workers.append(
            WebhookWorker(store, PhaseRules.default(), commenter=PRCommenter(clients, sleep=Sleeps()))
        )
    first = threading.Thread(target=workers[0].process_pending)
    first.start()
    assert entered.wait(10)
    second = workers[1].process_pending()  # runs while the first holds the PR's lease
    first.join(10)
    assert second.comments_written == 0
    assert [m for m, _ in calls(api)] == ["GET", "POST"]
    for w in workers:
        w.storage.close()


def test_hostile_names_are_escaped(
    gh_client: FlaskClient, gh_worker: WebhookWorker, api: responses.RequestsMock
) -> None:
    api.add(responses.GET, COMMENTS_7, json=[])
    api.add(responses.POST, COMMENTS_7, json=comment_json(111, "x"), status=201)
    hostile_step = {
        "name": "Run `curl evil` | <script>alert(1)</script> @octocat **x** [y](http://evil)",
        "status": "completed",
        "conclusion": "failure",
        "number": 1,
        "started_at": "2021-08-05T10:35:00Z",
        "completed_at": "2021-08-05T10:35:05Z",
    }
    payload = job_payload(job_id=1, name="lint <b>x</b> @org/team | #1", steps=[hostile_step])
    post(gh_client, "workflow_job", payload)
    post(
        gh_client,
        "workflow_run",
        run_payload(prs=(7,), name="CI <img src=x onerror=alert(1)>", head_branch="evil`<i>@admin|"),
    )
    gh_worker.process_pending()
    body = sent_body(api)
    # Code spans show their text verbatim (no HTML, mentions or links on
    # GitHub); everything outside them must be escaped.
    outside = re.sub(r"(`+) .*? \1|(`+)[^`]*?\2", "CODE", body)
    for raw_text in ("<script", "<img", "<b>", "<i>", "@octocat", "@org", "@admin", "[y](", "| #1"):
        assert raw_text not in outside, raw_text
    assert (
        "@\u200boctocat" in outside
        and "\\| #\u200b1" in outside
        and "&lt;script&gt;" in outside
        and "&lt;img src=x" in outside
    )
    assert "`` evil`<i>@admin\u2758 ``" in body  # the branch, in a fence longer than its backticks
    table = [line for line in body.splitlines() if line.startswith("| ")]
    assert len({len(re.findall(r"(?<!\\)\|", line)) for line in table}) == 1  # no cell was split


def test_github_app_installation_token(db_path: Any, api: responses.RequestsMock) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.conftest import WEBHOOK_SECRET

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    settings = Settings(
        database_url=f"sqlite:///{db_path}",
        webhook_secrets=(WEBHOOK_SECRET,),
        github_app_id="12345",
        github_private_key=pem,
    )
    app = create_app(
        settings,
        TESTING=True,
        GITHUB_COMMENTER=PRCommenter(GitHubClients(settings, throttle=False), sleep=Sleeps()),
    )
    installation_token(api, 42, "ghs_installation")
    api.add(responses.GET, COMMENTS_7, json=[])
    api.add(responses.POST, COMMENTS_7, json=comment_json(111, "x"), status=201)
    deliver_build(app.test_client(), installation=42)
    assert webhook_worker(app).process_pending().comments_written == 1
    assert calls(api)[0] == ("POST", "/app/installations/42/access_tokens")
    assert api.calls[0].request.headers["Authorization"].startswith("Bearer ")  # the App's JWT
    assert [c.request.headers["Authorization"] for c in api.calls[1:]] == ["token ghs_installation"] * 2


def test_enterprise_server_over_http(
    gh_settings: Settings, api: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = gh_settings.with_(github_api_url="http://ghes.example/api/v3/")
    GitHubClients(settings).check()
    assert "GITHUB_API_URL is an http:// address on another machine" in caplog.text
    caplog.clear()
    GitHubClients(settings.with_(github_api_url="http://127.0.0.1:8080/api/v3")).check()
    assert "unencrypted" not in caplog.text
    app = create_app(
        settings,
        TESTING=True,
        GITHUB_COMMENTER=PRCommenter(GitHubClients(settings, throttle=False), sleep=Sleeps()),
    )
    base = "http://ghes.example:80/api/v3"
    api.add(responses.GET, f"{base}/repos/{REPO}/issues/7/comments", json=[])
    api.add(responses.POST, f"{base}/repos/{REPO}/issues/7/comments", json=comment_json(111, "x"), status=201)
    deliver_build(app.test_client())
    assert webhook_worker(app).process_pending().comments_written == 1
    assert [c.request.url for c in api.calls] == [
        f"{base}/repos/{REPO}/issues/7/comments?per_page=100",
        f"{base}/repos/{REPO}/issues/7/comments",
    ]
    assert api.calls[1].request.headers["Authorization"] == f"token {TOKEN}"


def test_without_credentials_no_comment_is_asked_for(
    client: FlaskClient, app: Flask, storage: SkillsStorage
) -> None:
    deliver_build(client)
    stats = webhook_worker(app).process_pending()
    assert stats.deliveries.processed == 3 and stats.comments_written == 0
    assert storage.comment_jobs() == []
