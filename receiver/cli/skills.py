"""``skills``: the catalogue from the shell (add, list, search, baselines)."""

from __future__ import annotations

import json

import click

from tracker.catalogue import CatalogueEntry
from tracker.phases import WorkflowPhase
from tracker.semantic import SkillCatalogue
from tracker.skills import SkillsTracker

from .common import State, friendly_errors

pass_state = click.make_pass_decorator(State)
_PHASES = click.Choice([p.value for p in WorkflowPhase])


@click.group()
def skills() -> None:
    """The skill catalogue and its semantic search."""


@skills.command("add")
@click.argument("name")
@click.option("--description", "-d", required=True, help="One line saying what the skill does.")
@click.option("--phase", type=_PHASES, default=None, help="Its usual workflow phase.")
@click.option("--language", "languages", multiple=True, help="A language it applies to (repeat).")
@click.option("--replace", is_flag=True, help="Change the skill if it is already in the catalogue.")
@pass_state
def add(
    state: State, name: str, description: str, phase: str | None, languages: tuple[str, ...], replace: bool
) -> None:
    """Add skill NAME to the catalogue (embedded now, searchable at once)."""
    with friendly_errors():
        entry = CatalogueEntry(name, description, WorkflowPhase(phase) if phase else None, languages)
        catalogue = SkillCatalogue(state.storage())
        skill_id = catalogue.add(entry, replace=replace)
    click.echo(f"added {entry.name} (id {skill_id}, embedded with {catalogue.embedder_name})")


@skills.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def list_(state: State, as_json: bool) -> None:
    """Every skill of the catalogue."""
    with friendly_errors():
        entries = SkillCatalogue(state.storage()).entries()
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in entries.values()], indent=2))
        return
    for entry in entries.values():
        phase = entry.workflow_phase.value if entry.workflow_phase else "-"
        langs = ",".join(entry.languages) or "any"
        click.echo(f"{entry.name:<24} {phase:<13} {langs:<22} {entry.description}")


@skills.command("search")
@click.argument("query")
@click.option("--limit", type=click.IntRange(1, 100), default=5, show_default=True, help="How many skills.")
@click.option("--phase", type=_PHASES, default=None, help="Favour skills of this workflow phase.")
@click.option("--project", default=None, help="Rank on this project's history.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def search(
    state: State, query: str, limit: int, phase: str | None, project: str | None, as_json: bool
) -> None:
    """The skills that best fit QUERY (semantic similarity, phase, history)."""
    with friendly_errors():
        tracker = SkillsTracker("cli", state.storage(), project=project)
        results = tracker.recommend_skills(query, limit, phase)
        embedder = tracker.catalogue.embedder_name
    if as_json:
        click.echo(
            json.dumps({"query": query, "embedder": embedder, "results": [r.to_dict() for r in results]})
        )
        return
    click.echo(f"embedder: {embedder}")
    for rank, r in enumerate(results, 1):
        click.echo(
            f"{rank}. {r.skill_name:<24} {r.score:.2f}  (similarity {r.similarity:.2f})  {r.description}"
        )


@skills.command("baselines")
@pass_state
def baselines(state: State) -> None:
    """Recompute the community baselines from every pipeline and project now."""
    with friendly_errors():
        count = state.storage().refresh_baselines()
    click.echo(f"recomputed community baselines of {count} skills")
