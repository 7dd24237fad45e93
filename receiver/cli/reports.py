"""``report``, ``export`` and ``track``: the tracker from the shell."""

from __future__ import annotations

from pathlib import Path

import click

from tracker.cicd import MAX_DAYS
from tracker.context import CIPipelineContext
from tracker.phases import Integration
from tracker.report import ReportFormat

from .common import State, friendly_errors

pass_state = click.make_pass_decorator(State)
_days = click.option(
    "--days", type=click.IntRange(1, MAX_DAYS), default=30, show_default=True, help="Window length in days."
)


@click.command()
@click.argument("pipeline")
@_days
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in ReportFormat]),
    default="md",
    show_default=True,
    help="Markdown, plain text or JSON.",
)
@pass_state
def report(state: State, pipeline: str, days: int, fmt: str) -> None:
    """Print the report of PIPELINE over the last --days days."""
    with friendly_errors():
        click.echo(state.cicd(existing=True).generate_pipeline_report(pipeline, days, fmt), nl=False)


@click.command()
@click.argument("pipeline")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@_days
@pass_state
def export(state: State, pipeline: str, path: Path, days: int) -> None:
    """Write the analytics of PIPELINE as JSON to PATH."""
    with friendly_errors():
        written = state.cicd(existing=True).export_analytics(pipeline, path, days)
    # On stderr: the export itself may be going to stdout.
    click.echo(f"wrote {written}", err=True)


@click.command()
@click.option("--pipeline", required=True, help="Pipeline name.")
@click.option("--build", "build_number", required=True, help="Build number.")
@click.option("--commit", "git_commit", required=True, help="Git commit (7-40 hex).")
@click.option("--branch", "git_branch", required=True, help="Git branch.")
@click.option("--environment", default="ci", show_default=True, help="Environment name.")
@click.option("--triggered-by", default="manual", show_default=True, help="What triggered the run.")
@click.option("--stage", required=True, help="Stage name (build, test, lint…).")
@click.option("--skill", required=True, help="Skill name (pytest-run, ruff-check…).")
@click.option("--duration", type=float, required=True, help="Seconds the stage took.")
@click.option("--success/--failure", default=True, help="How the stage ended.")
@click.option("--error", "error_message", default=None, help="Failure message.")
@click.option(
    "--integration",
    type=click.Choice([i.value for i in Integration]),
    default="ci",
    show_default=True,
    help="Which stage vocabulary --stage belongs to.",
)
@pass_state
def track(
    state: State,
    pipeline: str,
    build_number: str,
    git_commit: str,
    git_branch: str,
    environment: str,
    triggered_by: str,
    stage: str,
    skill: str,
    duration: float,
    success: bool,
    error_message: str | None,
    integration: str,
) -> None:
    """Record one stage result by hand."""
    with friendly_errors():
        context = CIPipelineContext(
            pipeline_name=pipeline,
            build_number=build_number,
            git_commit=git_commit,
            git_branch=git_branch,
            environment=environment,
            triggered_by=triggered_by,
        )
        tracker = state.cicd()
        row = tracker.track_pipeline_stage(
            context, stage, skill, success, duration, error_message=error_message, integration=integration
        )
        phase = tracker.phase_for(stage, integration)
    click.echo(f"recorded #{row}: {context.session_id} {stage} ({phase.value}) {skill}")
