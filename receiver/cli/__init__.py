"""``session-buddy-ci``: the command line of the tracker and the receiver.

Each group of commands lives in its own module; this one only assembles
them. Every command reads the same settings (``SESSION_BUDDY_CI_*``), and
``--database`` overrides the database URL for one call.
"""

from __future__ import annotations

import click

from .common import State
from .crackerjack import crackerjack
from .github import backfill, replay_deliveries
from .maintenance import rebuild_rollups
from .reports import export, report, track
from .serve import serve
from .skills import skills


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--database",
    metavar="URL_OR_PATH",
    help="Database URL or SQLite file (default: SESSION_BUDDY_CI_DATABASE_URL, else the data dir).",
)
@click.pass_context
def main(ctx: click.Context, database: str | None) -> None:
    """Track skill runs across CI, Crackerjack and the editor."""
    ctx.obj = State(database)


for command in (
    report,
    export,
    track,
    serve,
    rebuild_rollups,
    backfill,
    replay_deliveries,
    skills,
    crackerjack,
):
    main.add_command(command)
