"""``rebuild-rollups``: database upkeep from the shell."""

from __future__ import annotations

import time

import click

from .common import State, friendly_errors

pass_state = click.make_pass_decorator(State)


@click.command("rebuild-rollups")
@pass_state
def rebuild_rollups(state: State) -> None:
    """Recompute every rollup table from the stored invocations.

    Run it after importing invocations by other means or repairing rows by
    hand. It holds the write lock for the whole rebuild (seconds per
    million invocations); readers keep seeing the old figures until it
    commits.
    """
    with friendly_errors():
        started = time.perf_counter()
        counts = state.storage(existing=True).rebuild_rollups()
        elapsed = time.perf_counter() - started
    for table, rows in counts.items():
        click.echo(f"{table}: {rows} rows")
    click.echo(f"rebuilt {len(counts)} rollup tables in {elapsed:.1f} s")
