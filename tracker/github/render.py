"""The sticky PR comment, as Markdown.

Pure. Every name from a payload or the database (workflow, branch, job,
step, failure text) goes through :func:`~tracker.markdown.md_text` or
:func:`~tracker.markdown.md_code`, so nothing in it can add HTML, mention
someone or break a table. The hidden :data:`MARKER` is how the receiver
finds its own comment again. Comments stay under GitHub's limit: the
longest sections lose their last lines first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..markdown import md_code, md_text
from ..phases import Outcome
from ..report import percent, seconds
from .pr_report import PRReport, StageLine, WorkflowSection
from .workflows import outcome_of

MARKER = "<!-- session-buddy-ci:report -->"
#: GitHub's limit on a comment body (counted here in UTF-16 code units,
#: the strictest reading of "characters").
MAX_COMMENT_CHARS = 65_536

_ICON = {
    Outcome.SUCCESS: "✅",
    Outcome.FAILURE: "❌",
    Outcome.SKIPPED: "⏭️",
    Outcome.CANCELLED: "⏹️",
}
_HEADERS = "| Stage | Phase | Result | Steps | Duration | Queue | Usual | Change | Success (history) |"
_ALIGN = "|---|---|---|---:|---:|---:|---:|---:|---:|"


def size(text: str) -> int:
    """Length as GitHub counts it at worst (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _change(line: StageLine) -> str:
    change = line.duration_change
    if change is None:
        return "new" if line.history_builds == 0 else "–"
    sign = "+" if change >= 0 else "−"
    return f"{sign}{abs(change) * 100:.0f}%"


def _steps(line: StageLine) -> str:
    extra = []
    if line.failed_steps:
        extra.append(f"{line.failed_steps} failed")
    if line.skipped_steps:
        extra.append(f"{line.skipped_steps} skipped")
    return f"{line.steps} ({', '.join(extra)})" if extra else str(line.steps)


def _row(line: StageLine) -> str:
    success = (
        f"{percent(line.history_success_rate)} of {line.history_runs}"
        if line.history_success_rate is not None
        else "–"
    )
    cells = [
        md_text(line.stage, limit=120),
        line.phase.value,
        f"{_ICON[line.outcome]} {line.outcome.value}",
        _steps(line),
        seconds(line.duration_seconds),
        seconds(line.queue_seconds),
        seconds(line.history_mean_seconds),
        _change(line),
        success,
    ]
    return "| " + " | ".join(cells) + " |"


def _run_outcome(section: WorkflowSection) -> tuple[str, str]:
    if section.status != "completed":
        return "⏳", md_text(section.status)
    if section.conclusion is None:
        return "⚪", "completed"
    return _ICON[outcome_of(section.conclusion)], md_text(section.conclusion)


@dataclass
class _Block:
    """A section: ``head`` and ``tail`` lines are kept, ``body`` lines may
    be trimmed. Sizes are kept up to date as lines go, so trimming a long
    comment costs one pass."""

    head: list[str]
    body: list[str]
    tail: list[str] = field(default_factory=list)
    trimmed: int = 0

    def __post_init__(self) -> None:
        self._fixed = sum(size(x) for x in (*self.head, *self.tail))
        self._body = sum(size(x) for x in self.body)

    def _note(self) -> list[str]:
        if not self.trimmed:
            return []
        return ["", f"_… {self.trimmed} more lines left out (comment size limit)._"]

    def lines(self) -> list[str]:
        return [*self.head, *self.body, *self._note(), *self.tail]

    def size(self) -> int:
        """``size(self.text())``, without building the text."""
        note = self._note()
        count = len(self.head) + len(self.body) + len(note) + len(self.tail)
        return self._fixed + self._body + sum(size(x) for x in note) + max(0, count - 1)

    def pop(self) -> None:
        self._body -= size(self.body.pop())
        self.trimmed += 1

    def text(self) -> str:
        return "\n".join(self.lines())


def _section(s: WorkflowSection) -> _Block:
    icon, result = _run_outcome(s)
    attempt = f", attempt {s.run_attempt}" if s.run_attempt > 1 else ""
    facts = [f"commit {md_code(s.head_sha[:7])}"]
    if s.head_branch:
        facts.append(f"branch {md_code(s.head_branch, limit=100)}")
    facts.append(f"event {md_code(s.event, limit=60)}")
    took = f" in {seconds(s.duration_seconds)}" if s.duration_seconds is not None else ""
    facts.append(f"**{result}**{took}")
    link = f"[run {s.run_id}]({s.html_url})" if s.html_url else f"run {s.run_id}"
    facts.append(link)
    head = [
        f"### {icon} {md_text(s.pipeline, limit=120)} — build {md_text(s.build)}"
        f" (run #{s.run_number}{attempt})",
        "",
        " · ".join(facts),
        "",
    ]
    body: list[str] = []
    if s.stages:
        body += [_HEADERS, _ALIGN, *(_row(line) for line in s.stages)]
    else:
        body.append("_No stage of this build has been recorded yet._")
    if s.action_jobs:
        jobs = ", ".join(
            f"{md_text(j.name, limit=80)} (queued {seconds(j.queue_seconds)})" for j in s.action_jobs
        )
        body += ["", f"Jobs recorded through the Action (their steps are its stages): {jobs}."]
    if s.new_failures:
        body += ["", f"**New failures** (none in the {s.history_days} days before this build):", ""]
        for f in s.new_failures:
            body.append(f"- {md_text(f.stage, limit=120)}: {md_code(f.skill, limit=150)}")
    if s.bottlenecks:
        body += ["", "**Bottlenecks**:", ""]
        for b in s.bottlenecks:
            body.append(
                f"- {md_text(b.stage, limit=120)}: {percent(b.success_rate)} success "
                f"({b.failed_runs} of {b.total_runs} runs failed)"
            )
    if s.recommendations:
        body += ["", "**Recommendations**:", ""]
        for r in s.recommendations:
            body.append(f"- {r.priority.value}: {md_text(r.message, limit=400)}")
    return _Block(head, body, tail=[""])


def _trim(blocks: list[_Block], fixed: int, limit: int) -> None:
    """Drop the last body lines of the longest section until it all fits."""
    while blocks and fixed + sum(b.size() + 1 for b in blocks) > limit:
        longest = max(blocks, key=lambda b: b.size())
        if not longest.body:
            blocks.pop()  # only headers left and still too long: drop whole sections
            continue
        longest.pop()


def render_pr_comment(report: PRReport, *, limit: int = MAX_COMMENT_CHARS) -> str:
    """The comment body: marker, summary, a section per workflow, footer."""
    latest = report.latest_sha
    n = len(report.sections)
    top = [
        MARKER,
        "## 📊 session-buddy-ci report",
        "",
        f"Pull request #{report.pr_number} in {md_code(report.repository, limit=150)}: "
        f"{n} workflow{'s' if n != 1 else ''}"
        + (f", latest commit {md_code(latest[:7])}." if latest else "."),
        "",
    ]
    footer = [
        "---",
        f"<sub>Updated {report.generated_at.strftime('%Y-%m-%d %H:%M')} UTC by session-buddy-ci. "
        "Usual = mean of the stage over earlier builds in the history window; "
        "Queue = waiting for a runner, not part of Duration.</sub>",
    ]
    blocks = [_section(s) for s in report.sections]
    if not blocks:
        top += ["_No workflow run of this pull request has been recorded yet._", ""]
    fixed = size("\n".join(top)) + size("\n".join(footer)) + 2
    _trim(blocks, fixed, limit - 64)
    body = "\n".join([*top, *(b.text() for b in blocks), *footer]) + "\n"
    if size(body) > limit:  # cannot happen with sane sections; never send an oversize body
        body = body[: limit // 2]
    return body
