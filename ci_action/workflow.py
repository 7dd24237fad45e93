"""Talking to the runner: workflow commands on stdout, and the files named by
``GITHUB_OUTPUT`` and ``GITHUB_STEP_SUMMARY``.

>>> escape_data("50% done\\nnext")
'50%25 done%0Anext'
>>> summary_row(["unit_tests", "pytest-run", "execution"])
'| unit\\\\_tests | pytest-run | execution |'
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from pathlib import Path

try:
    from tracker.markdown import md_text
except ImportError:  # a partial copy of the Action: the step must still run

    def md_text(text: str, *, limit: int = 300) -> str:
        """Letters, digits, spaces and dashes only: nothing can render or link."""
        return re.sub(r"[^0-9A-Za-z -]", "?", " ".join(str(text).split()))[:limit]


#: The stage table of the job summary. A file that already holds this header
#: gets only a new row.
SUMMARY_HEADER = "| Stage | Skill | Phase | Result | Duration | Exit code | Tracking |"
SUMMARY_RULE = "| --- | --- | --- | --- | ---: | ---: | --- |"


def escape_data(text: str) -> str:
    """Escape a workflow command's message: a newline in user text (a stage
    name) must not start a command of its own."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def one_line(text: str) -> str:
    """User text for a plain log line: line breaks shown as ``\\n``, so
    that no part of it starts a line of its own, which the runner would
    read as a workflow command (``::stop-commands::``, ``::error::``...).

    >>> one_line("lint\\n::error::x")
    'lint\\\\n::error::x'
    """
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_command(name: str, message: str, **properties: str) -> None:
    """Print ``::name k=v,...::message`` (``::warning::``, ``::error::``,
    ``::notice::``...) with its parts escaped as the runner expects."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    print(f"::{name}{' ' + props if props else ''}::{escape_data(message)}", flush=True)


def write_outputs(path: str, outputs: Mapping[str, str]) -> None:
    """Append step outputs to ``$GITHUB_OUTPUT`` in the heredoc form, with a
    random delimiter that no value contains (a value cannot end the block
    early and set other outputs)."""
    with open(path, "a", encoding="utf-8") as handle:
        for name, value in outputs.items():
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            while delimiter in value:  # pragma: no cover - a 122-bit collision
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
            handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def summary_row(cells: list[str]) -> str:
    """One table row; every cell is escaped (no HTML, no mentions, no
    broken columns)."""
    return "| " + " | ".join(md_text(cell) if cell else " " for cell in cells) + " |"


def write_summary(path: str, row: str) -> None:
    """Append ``row`` to the stage table of the summary file, starting the
    table when the file has none yet.

    GitHub and act give each step its own summary file and show a job's
    files one after another, so each wrapped step brings its own header;
    calls that share one file (a local run) grow one table.
    """
    try:
        has_table = SUMMARY_HEADER in Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        has_table = False
    with open(path, "a", encoding="utf-8") as handle:
        if not has_table:
            # The blank line ends whatever Markdown came before the table.
            handle.write(f"\n{SUMMARY_HEADER}\n{SUMMARY_RULE}\n")
        handle.write(row + "\n")


def write_summary_note(path: str, message: str) -> None:
    """A line of text under the table (why a step could not run)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"\n**session-buddy-ci:** {md_text(message)}\n")
