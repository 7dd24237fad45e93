"""Writing the sticky PR comment, finding a fork run's PR, and reading a
workflow run that no webhook delivered.

The comment is found by its hidden marker (or by the id stored the last
time), edited if found, created otherwise. Every API call goes through
:func:`~receiver.github_retry.call_with_retries`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from github import Github
from github.Repository import Repository

from tracker.github.render import MARKER

from .github_client import GitHubClients, listed
from .github_retry import GitHubCallFailed, RetryPolicy, call_with_retries

log = logging.getLogger(__name__)


#: Runs before each API call of a job: renews the job's lease, or raises.
Checkpoint = Callable[[], None]


def _nothing() -> None:
    """The checkpoint of a caller that holds no lease."""


@dataclass(frozen=True)
class CommentWritten:
    comment_id: int
    created: bool


@dataclass
class PRCommenter:
    """Comment writes, PR and run look-ups through PyGithub.

    :param sleep: how to wait between retries (tests record the waits).
    """

    clients: GitHubClients
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    #: The token's user (``GET /user``), once asked.
    _login: str | None = field(default=None, init=False, repr=False)

    @property
    def enabled(self) -> bool:
        return self.clients.configured

    def _repo(self, repository: str, installation_id: int | None) -> tuple[Github, Repository]:
        gh = self.clients.client(installation_id=installation_id, repository=repository)
        return gh, gh.get_repo(repository)

    def _edit(
        self, gh: Github, repo: Repository, comment_id: int, body: str, where: str, keep_lease: Checkpoint
    ) -> None:
        # PATCH by id: no need to fetch the comment first.
        self._call(
            f"editing the comment on {where}",
            lambda: gh.requester.requestJsonAndCheck(
                "PATCH", f"{repo.url}/issues/comments/{comment_id}", input={"body": body}
            ),
            keep_lease,
        )

    def _written_by_us(self, gh: Github, comment: dict[str, Any], keep_lease: Checkpoint) -> bool:
        """Whether a comment with the report's marker was written by this
        receiver: as its App (GitHub names the App that made a comment), or
        as the user of its token. Anyone can paste the marker into a
        comment, and editing theirs would put the report under their name,
        where they can change it."""
        if self.clients.uses_app:
            app = comment.get("performed_via_github_app") or {}
            return str(app.get("id", "")) == str(self.clients.settings.github_app_id)
        if self._login is None:
            login = self._call("finding who the token belongs to", lambda: gh.get_user().login, keep_lease)
            self._login = str(login)
        author = (comment.get("user") or {}).get("login")
        return isinstance(author, str) and author.lower() == self._login.lower()

    def _call(self, what: str, call: Callable[[], object], keep_lease: Checkpoint) -> object:
        return call_with_retries(what, call, policy=self.policy, sleep=self.sleep, before_attempt=keep_lease)

    def upsert_comment(
        self,
        repository: str,
        pr_number: int,
        body: str,
        *,
        installation_id: int | None = None,
        comment_id: int | None = None,
        keep_lease: Checkpoint = _nothing,
    ) -> CommentWritten:
        """Edit the report comment of a PR, or create it. ``keep_lease`` runs
        before every API call; what it raises stops the write.

        :raises GitHubCallFailed: when GitHub keeps refusing.
        """
        gh, repo = self._repo(repository, installation_id)
        where = f"{repository}#{pr_number}"
        if comment_id is not None:
            try:
                self._edit(gh, repo, comment_id, body, where, keep_lease)
                return CommentWritten(comment_id, False)
            except GitHubCallFailed as exc:
                if exc.status != 404:
                    raise
                log.info("the report comment %s on %s is gone; looking for another", comment_id, where)
        issue = repo.get_issue(pr_number)

        def find() -> list[dict[str, Any]]:
            return [listed(c) for c in issue.get_comments() if MARKER in (c.body or "")]

        marked = self._call(f"listing the comments of {where}", find, keep_lease)
        for comment in marked if isinstance(marked, list) else []:
            if self._written_by_us(gh, comment, keep_lease):
                found = int(comment["id"])
                self._edit(gh, repo, found, body, where, keep_lease)
                return CommentWritten(found, False)
            log.warning(
                "comment %s on %s carries the report's marker but is not this receiver's: left alone",
                comment.get("id"),
                where,
            )
        created = self._call(f"commenting on {where}", lambda: issue.create_comment(body), keep_lease)
        return CommentWritten(int(created.id), True)  # type: ignore[attr-defined]

    def find_fork_pull_request(
        self,
        repository: str,
        *,
        head_owner: str,
        head_branch: str,
        head_sha: str,
        installation_id: int | None = None,
        keep_lease: Checkpoint = _nothing,
    ) -> int | None:
        """The open PR of ``repository`` whose head is ``head_owner:head_branch``
        at ``head_sha`` (``GET /repos/{o}/{r}/pulls?head=…&state=open``)."""
        _, repo = self._repo(repository, installation_id)

        def find() -> int | None:
            for pr in repo.get_pulls(state="open", head=f"{head_owner}:{head_branch}"):
                data = listed(pr)
                base = data.get("base") or {}
                base_repo = (base.get("repo") or {}).get("full_name", "")
                head = data.get("head") or {}
                if str(base_repo).lower() == repository.lower() and head.get("sha") == head_sha:
                    return int(pr.number)
            return None

        found = self._call(
            f"looking up the pull request of {head_owner}:{head_branch} in {repository}", find, keep_lease
        )
        return found if isinstance(found, int) else None

    def fetch_run(
        self, repository: str, run_id: int, attempt: int, *, installation_id: int | None = None
    ) -> dict[str, Any]:
        """One attempt of a run, as the API gives it
        (``GET /repos/{o}/{r}/actions/runs/{id}/attempts/{n}``): the fields
        a ``workflow_run`` delivery carries.

        :raises GitHubCallFailed: when GitHub keeps refusing (404: the run
            is gone, or the credentials cannot see the repository).
        """
        where = f"run {run_id} (attempt {attempt}) of {repository}"
        gh = self._call(
            f"reading {where}: signing in",
            lambda: self.clients.client(installation_id=installation_id, repository=repository),
            _nothing,
        )
        assert isinstance(gh, Github)
        path = f"/repos/{quote(repository, safe='/')}/actions/runs/{run_id}/attempts/{attempt}"
        url = self.clients.base_url + path
        answer = self._call(
            f"reading {where}", lambda: gh.requester.requestJsonAndCheck("GET", url), _nothing
        )
        data = answer[1] if isinstance(answer, tuple) else None
        if not isinstance(data, dict):
            raise GitHubCallFailed(f"reading {where}: the answer is no JSON object")
        return data
