"""``crackerjack run`` and ``crackerjack report``: Crackerjack, recorded.

``session-buddy-ci crackerjack run -- run -n`` starts ``crackerjack run -n``
in the project, streams its output through unchanged (stdout and stderr
merged), parses each hook and test result from it
(:mod:`tracker.crackerjack_output`), records them, and exits with
Crackerjack's own exit code. Recording never changes that code: when the
database cannot be written, a warning goes to stderr.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import click

from tracker.crackerjack import CrackerjackIntegration, crackerjack_session_id, project_name_of
from tracker.crackerjack_output import CrackerjackOutputParser
from tracker.errors import TrackerError
from tracker.phases import Source
from tracker.records import utcnow
from tracker.skills import SkillsTracker

from .common import State, friendly_errors

pass_state = click.make_pass_decorator(State)


def find_crackerjack(option: str | None, setting: str) -> str | None:
    """The executable: ``--crackerjack``, else the setting, else ``crackerjack`` on PATH."""
    chosen = option or setting or "crackerjack"
    if os.sep in chosen or (os.altsep and os.altsep in chosen):
        return chosen if os.access(chosen, os.X_OK) else None
    return shutil.which(chosen)


def stream(
    command: Sequence[str], cwd: Path, out: BinaryIO, parser: CrackerjackOutputParser
) -> tuple[int, datetime]:
    """Run ``command``, copy its output to ``out`` line by line as it comes,
    feed each line to ``parser``; return its exit code and start time.
    Ctrl-C reaches Crackerjack too (same process group); we wait for it."""
    started_wall = utcnow()
    started = time.monotonic()
    proc = subprocess.Popen(list(command), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    try:
        for raw in iter(proc.stdout.readline, b""):
            out.write(raw)
            out.flush()
            parser.feed(raw.decode("utf-8", "replace").rstrip("\r\n"), time.monotonic() - started)
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
    finally:
        code = proc.wait()
        proc.stdout.close()
    return (128 - code if code < 0 else code), started_wall


@click.group()
def crackerjack() -> None:
    """Crackerjack runs, recorded per hook and phase."""


@crackerjack.command(
    "run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option(
    "--crackerjack",
    "executable",
    default=None,
    metavar="PATH",
    help="The crackerjack executable (default: SESSION_BUDDY_CI_CRACKERJACK_COMMAND, else on PATH).",
)
@click.option(
    "--project",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The project Crackerjack checks (its working directory).",
)
@click.option(
    "--session-id", default=None, help="Session id (default: a new random one); stored as crackerjack_<id>."
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_state
def run(
    state: State, executable: str | None, project: Path, session_id: str | None, args: tuple[str, ...]
) -> None:
    """Run Crackerjack with ARGS (after --), record each hook and phase, and
    exit with Crackerjack's exit code.

    \b
    Example: session-buddy-ci crackerjack run -- run -n
    """
    found = find_crackerjack(executable, state.settings.crackerjack_command)
    if found is None:
        click.echo(f"session-buddy-ci: crackerjack not found ({executable or 'crackerjack'})", err=True)
        sys.exit(127)
    parser = CrackerjackOutputParser()
    try:
        code, started = stream([found, *args], project, sys.stdout.buffer, parser)
    except OSError as exc:  # not executable, bad interpreter line…
        click.echo(f"session-buddy-ci: cannot run {found}: {exc}", err=True)
        sys.exit(126)
    session = crackerjack_session_id(session_id or uuid.uuid4().hex[:12])
    try:
        tracker = SkillsTracker(session, state.storage(), source=Source.CRACKERJACK)
        integration = CrackerjackIntegration(tracker, project)
        stored = integration.record_hook_runs(parser.runs, started_at=started)
        click.echo(
            f"session-buddy-ci: recorded {stored} Crackerjack result(s) of {integration.project} "
            f"(session {session}, exit code {code})",
            err=True,
        )
    except (TrackerError, ValueError) as exc:
        click.echo(f"session-buddy-ci: warning: results not recorded: {exc}", err=True)
    sys.exit(code)


@crackerjack.command("report")
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The project folder (its pyproject name, else folder name, files the runs).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def report(state: State, project: Path, as_json: bool) -> None:
    """Per-phase figures over every recorded Crackerjack run of the project."""
    with friendly_errors():
        tracker = SkillsTracker("crackerjack_report", state.storage(), source=Source.CRACKERJACK)
        data = CrackerjackIntegration(tracker, project).get_crackerjack_workflow_report()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{data['project']}: {data['runs']} run(s), {data['invocations']} result(s)")
    for phase in data["phases"].values():
        if not phase["invocations"]:
            continue
        flag = "  BOTTLENECK" if phase["bottleneck"] else ""
        click.echo(
            f"  {phase['phase']:<20} {phase['invocations']:>5} runs  {phase['completion_rate']:.0%} ok  "
            f"mean {phase['mean_duration']:.2f}s{flag}"
        )
        for failure in phase["common_failures"][:3]:
            click.echo(f"      {failure['count']:>4} × {failure['error']}")


__all__ = ["crackerjack", "find_crackerjack", "project_name_of", "stream"]
