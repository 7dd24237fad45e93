"""The PR comment renderer: pure, escaped, and always under GitHub's limit."""

from __future__ import annotations

from datetime import datetime

from tracker.analytics import Bottleneck, Priority, Recommendation
from tracker.github.pr_report import PRReport, StageLine, WorkflowSection
from tracker.github.render import MARKER, MAX_COMMENT_CHARS, render_pr_comment, size
from tracker.phases import Outcome, WorkflowPhase
from tracker.storage.github_reports import NewFailure

NOW = datetime(2026, 11, 25, 6, 0)


def line(name: str, *, outcome: Outcome = Outcome.SUCCESS, mean: float | None = 10.0) -> StageLine:
    return StageLine(
        stage=name,
        phase=WorkflowPhase.EXECUTION,
        outcome=outcome,
        steps=3,
        failed_steps=int(outcome is Outcome.FAILURE),
        skipped_steps=0,
        duration_seconds=12.5,
        queue_seconds=4.0,
        history_builds=4 if mean else 0,
        history_mean_seconds=mean,
        history_runs=12,
        history_success_rate=0.75,
    )


def section(pipeline: str, stages: list[StageLine], **extra: object) -> WorkflowSection:
    values: dict[str, object] = {
        "pipeline": pipeline,
        "run_id": 42,
        "run_attempt": 1,
        "run_number": 7,
        "build": "7",
        "head_sha": "0123456789abcdef0123456789abcdef01234567",
        "head_branch": "main",
        "event": "pull_request",
        "status": "completed",
        "conclusion": "success",
        "duration_seconds": 100.0,
        "html_url": "https://github.com/o/r/actions/runs/42",
        "stages": tuple(stages),
        "action_jobs": (),
        "new_failures": (),
        "bottlenecks": (),
        "recommendations": (),
        "history_days": 30,
        "updated_at": NOW,
    }
    values.update(extra)
    return WorkflowSection(**values)  # type: ignore[arg-type]


def report(*sections: WorkflowSection) -> PRReport:
    return PRReport("o/r", 12, tuple(sections), NOW)


def test_layout() -> None:
    text = render_pr_comment(
        report(
            section(
                "CI",
                [line("test"), line("lint", outcome=Outcome.FAILURE, mean=None)],
                conclusion="failure",
                new_failures=(NewFailure("lint", "ruff-check", "E501"),),
                bottlenecks=(Bottleneck("lint", 0.5, 6, 12),),
                recommendations=(
                    Recommendation(Priority.HIGH, "lint", "failures", "Stage lint succeeds in 50%."),
                ),
            )
        )
    )
    assert text.splitlines()[0] == MARKER
    assert "Pull request #12 in `o/r`: 1 workflow, latest commit `0123456`." in text
    assert "### ❌ CI — build 7 (run #7)" in text
    assert "| test | execution | ✅ success | 3 | 12.5s | 4.0s | 10.0s | +25% | 75.0% of 12 |" in text
    assert "| lint | execution | ❌ failure | 3 (1 failed) | 12.5s | 4.0s | – | new | 75.0% of 12 |" in text
    assert "- lint: `ruff-check`" in text
    assert "- lint: 50.0% success (6 of 12 runs failed)" in text
    assert "- high: Stage lint succeeds in 50%." in text
    assert text.endswith("</sub>\n")


def test_attempt_and_running_state() -> None:
    text = render_pr_comment(report(section("CI", [], run_attempt=2, build="7.2", status="in_progress")))
    assert "### ⏳ CI — build 7.2 (run #7, attempt 2)" in text
    assert "_No stage of this build has been recorded yet._" in text


def test_no_sections() -> None:
    assert "_No workflow run of this pull request has been recorded yet._" in render_pr_comment(report())


def test_names_are_escaped() -> None:
    text = render_pr_comment(
        report(
            section(
                "<img src=x> @team $x$", [line("a|b <script> @octocat")], head_branch="x`y", html_url=None
            )
        )
    )
    # GitHub would render $x$ as math: each dollar is its own span.
    assert "@\u200bteam <span>$</span>x<span>$</span>" in text
    assert "<img" not in text and "<script" not in text
    assert "&lt;img src=x&gt; @\u200bteam" in text
    assert "a\\|b &lt;script&gt; @\u200boctocat" in text
    assert "branch `` x`y ``" in text
    assert "· run 42" in text  # no URL: no link


def test_longest_section_is_trimmed_first_and_the_rest_kept() -> None:
    huge = section("Huge", [line(f"stage {i:04d} " + "x" * 150) for i in range(600)])
    small = section("Small", [line(f"unit {i}") for i in range(5)])
    text = render_pr_comment(report(huge, small))
    assert MAX_COMMENT_CHARS - 200 < size(text) <= MAX_COMMENT_CHARS
    assert all(f"| unit {i} |" in text for i in range(5))
    assert "| stage 0000 " in text and "| stage 0599 " not in text
    kept = text.count("| stage ")
    assert f"_… {600 - kept} more lines left out (comment size limit)._" in text


def test_two_long_sections_are_trimmed_to_fit_together() -> None:
    a = section("A", [line(f"a{i} " + "y" * 80) for i in range(60)])
    b = section("B", [line(f"b{i} " + "y" * 80) for i in range(40)])
    limit = 12_000
    text = render_pr_comment(report(a, b), limit=limit)
    assert size(text) <= limit
    assert "more lines left out" in text
    a_rows, b_rows = text.count("| a"), text.count("| b")
    assert 0 < b_rows <= 40 and a_rows - b_rows in (-1, 0, 1, 2)  # trimmed to about the same length


def test_size_counts_utf16_units() -> None:
    emoji = section("CI", [line("🚀" * 40) for _ in range(1000)])
    text = render_pr_comment(report(emoji))
    assert "more lines left out" in text
    assert MAX_COMMENT_CHARS - 400 < size(text) <= MAX_COMMENT_CHARS
    assert len(text) < size(text) - 10_000  # an emoji is two UTF-16 units: counted twice
