"""One renderer, three targets: Markdown (PR comment, job summary, terminal),
plain text (CLI) and JSON (export)."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable

from .analytics import PipelineAnalytics, Priority
from .markdown import CONTROL, md_code, md_text
from .metrics import PipelineStageMetrics


class ReportFormat(enum.StrEnum):
    MARKDOWN = "md"
    TEXT = "text"
    JSON = "json"


_PRIORITY_MARK = {
    Priority.HIGH: "🔴 High",
    Priority.MEDIUM: "🟠 Medium",
    Priority.LOW: "🔵 Low",
}


def seconds(value: float | None) -> str:
    """A duration for people: ``45.2s``, ``6m 05s``, ``1h 02m``; ``–`` for none.

    >>> seconds(45.24), seconds(365), seconds(3725), seconds(None)
    ('45.2s', '6m 05s', '1h 02m', '–')
    """
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _window(a: PipelineAnalytics) -> str:
    fmt = "%Y-%m-%d %H:%M"
    return f"{a.window_start.strftime(fmt)} → {a.window_end.strftime(fmt)} UTC"


def _stage_cells(s: PipelineStageMetrics, a: PipelineAnalytics, esc: Callable[[str], str]) -> list[str]:
    trend = a.trends.get(s.stage_name)
    return [
        esc(s.stage_name),
        s.workflow_phase.value,
        str(s.total_runs),
        percent(s.success_rate) if s.total_runs else "–",
        str(s.failed_runs),
        seconds(s.mean_duration if s.total_runs else None),
        seconds(s.p50_duration),
        seconds(s.p95_duration),
        trend.direction if trend else "–",
        ", ".join(esc(k) for k in s.skills_used) or "–",
    ]


_HEADERS = [
    "Stage",
    "Phase",
    "Runs",
    "Success",
    "Failed",
    "Mean",
    "p50",
    "p95",
    "Trend",
    "Skills",
]


def render_markdown(a: PipelineAnalytics, *, heading_level: int = 2) -> str:
    """The report as GitHub-flavoured Markdown; every name and message from
    the data is escaped."""
    h = "#" * heading_level
    lines = [
        f"{h} Pipeline report: {md_text(a.pipeline_name)} — last {a.days} days",
        "",
    ]
    if not a.stages:
        lines.append(f"_No runs recorded between {_window(a)}._")
        return "\n".join(lines) + "\n"
    lines.append(f"_{_window(a)} · {a.total_runs} runs · {percent(a.success_rate)} success_")
    lines.append("")
    lines.append("| " + " | ".join(_HEADERS) + " |")
    lines.append(
        "|" + "|".join(["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---", "---"]) + "|"
    )
    for s in a.stages:
        lines.append("| " + " | ".join(_stage_cells(s, a, md_text)) + " |")
    skipped = [s for s in a.stages if s.skipped_runs or s.cancelled_runs]
    if skipped:
        lines.append("")
        lines.append(
            "Not counted in rates: "
            + "; ".join(
                f"{md_text(s.stage_name)} {s.skipped_runs} skipped, {s.cancelled_runs} cancelled"
                for s in skipped
            )
            + "."
        )
    if any(s.percentile_method == "histogram" for s in a.stages):
        lines += ["", "<sub>p50/p95 from per-day histograms (within 1.3%, or 1 ms).</sub>"]
    lines += ["", f"{h}# Bottlenecks", ""]
    if a.bottlenecks:
        for b in a.bottlenecks:
            lines.append(
                f"- **{md_text(b.stage)}**: {percent(b.success_rate)} success "
                f"({b.failed_runs} of {b.total_runs} runs failed)"
            )
    else:
        lines.append("None: every stage succeeds in at least the bottleneck threshold of its runs.")
    lines += ["", f"{h}# Recommendations", ""]
    if a.recommendations:
        for r in a.recommendations:
            lines.append(f"- {_PRIORITY_MARK[r.priority]} — {md_text(r.message, limit=600)}")
    else:
        lines.append("None.")
    failing = [s for s in a.stages if s.common_failures]
    if failing:
        lines += ["", f"{h}# Common failures", ""]
        for s in failing:
            items = ", ".join(f"{md_code(k, limit=120)} ×{n}" for k, n in s.common_failures)
            lines.append(f"- **{md_text(s.stage_name)}**: {items}")
    return "\n".join(lines) + "\n"


def render_text(a: PipelineAnalytics) -> str:
    """The report as aligned plain text for a terminal; control characters
    from the data show as ``?``."""
    return CONTROL.sub("?", _render_text(a))


def _render_text(a: PipelineAnalytics) -> str:
    lines = [f"Pipeline report: {a.pipeline_name} — last {a.days} days", _window(a)]
    if not a.stages:
        return "\n".join([*lines, "No runs recorded."]) + "\n"
    lines.append(f"{a.total_runs} runs, {percent(a.success_rate)} success")
    rows = [_HEADERS] + [_stage_cells(s, a, str) for s in a.stages]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADERS))]
    lines.append("")
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    lines += ["", "Bottlenecks:"]
    lines += [
        f"  {b.stage}: {percent(b.success_rate)} success ({b.failed_runs} of {b.total_runs} failed)"
        for b in a.bottlenecks
    ] or ["  none"]
    lines += ["", "Recommendations:"]
    lines += [f"  [{r.priority.value}] {r.message}" for r in a.recommendations] or ["  none"]
    return "\n".join(lines) + "\n"


def render_json(a: PipelineAnalytics) -> str:
    return json.dumps(a.to_dict(), indent=2, sort_keys=False) + "\n"


def render(a: PipelineAnalytics, fmt: ReportFormat | str = ReportFormat.MARKDOWN) -> str:
    """Render ``a`` in ``fmt`` (``md``, ``text`` or ``json``)."""
    kind = ReportFormat(fmt)
    if kind is ReportFormat.JSON:
        return render_json(a)
    if kind is ReportFormat.TEXT:
        return render_text(a)
    return render_markdown(a)
