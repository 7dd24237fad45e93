"""``backfill`` and ``replay-deliveries``: GitHub history and failed
webhook deliveries, from the shell."""

from __future__ import annotations

import sys
from datetime import timedelta

import click
from github import GithubException

from tracker.github.rules import PhaseRules
from tracker.records import utcnow

from ..backfill import Backfill
from ..github_client import GitHubClients
from ..github_retry import GitHubCallFailed
from ..pr_comments import PRCommenter
from ..webhook_worker import WebhookWorker
from .common import State, friendly_errors

pass_state = click.make_pass_decorator(State)


def _repository(value: str) -> str:
    parts = value.split("/")
    if len(parts) != 2 or not all(parts) or any(c.isspace() for c in value):
        raise click.BadParameter("must look like OWNER/REPO", param_hint="OWNER/REPO")
    return value


@click.command()
@click.argument("repository", metavar="OWNER/REPO")
@click.option(
    "--days",
    type=click.IntRange(1, 400),
    default=30,
    show_default=True,
    help="Runs created in the last N days.",
)
@click.option("--workflow", default=None, help="Only this workflow: its name (CI) or its file (ci.yml).")
@pass_state
def backfill(state: State, repository: str, days: int, workflow: str | None) -> None:
    """Store past workflow runs and jobs of OWNER/REPO through the GitHub API
    (SESSION_BUDDY_CI_GITHUB_TOKEN or the GitHub App settings), as if they
    had arrived by webhook. Running it twice stores nothing twice."""
    repository = _repository(repository)
    with friendly_errors():
        settings = state.settings
        clients = GitHubClients(settings)
        try:
            gh = clients.client(repository=repository)
            job = Backfill(
                state.storage(),
                gh,
                repository,
                PhaseRules.from_settings(settings),
                since=utcnow() - timedelta(days=days),
                workflow=workflow,
            )
            total = job.total()
            with click.progressbar(
                job.runs(),
                length=total,
                label=f"Backfilling {repository}",
                file=sys.stderr,
            ) as runs:
                for run in runs:
                    job.store_run(run)
        except GithubException as exc:
            raise click.ClickException(f"GitHub answered {exc.status}: {exc.data}") from exc
        except GitHubCallFailed as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"Backfilled {repository}: {job.summary.text()}.")


@click.command("replay-deliveries")
@click.option(
    "--delivery",
    "delivery_ids",
    multiple=True,
    metavar="ID",
    help="Replay only this delivery (repeatable); default: every failed one.",
)
@pass_state
def replay_deliveries(state: State, delivery_ids: tuple[str, ...]) -> None:
    """Process failed webhook deliveries again from their stored bodies
    (and any still pending), then write the PR comments they ask for."""
    with friendly_errors():
        settings = state.settings
        clients = GitHubClients(settings)
        clients.check()  # before anything is requeued
        storage = state.storage()
        queued = storage.requeue_failed(list(delivery_ids) or None)
        worker = WebhookWorker(storage, PhaseRules.from_settings(settings), commenter=PRCommenter(clients))
        stats = worker.process_pending()
    d = stats.deliveries
    click.echo(
        f"Requeued {queued} failed deliveries; processed {d.processed}, failed {d.failed}, "
        f"retry later {d.retried}; {d.invocations} step invocations stored; "
        f"{stats.comments_written} PR comments written, {stats.comments_failed} failed."
    )
    for message in stats.errors:
        click.echo(f"  {message}", err=True)
    if stats.errors:
        raise SystemExit(1)
