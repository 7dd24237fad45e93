"""Reports (Markdown, text, JSON) and the JSON export: their contents, and
that names and messages from the data cannot inject HTML, mentions, links
or table cells."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import FixedClock
from tracker.cicd import CICDTracker
from tracker.errors import TrackerError
from tracker.phases import Outcome
from tracker.report import ReportFormat
from tracker.storage import SkillsStorage

from .helpers import NOW, context, record


@pytest.fixture
def tracker(storage: SkillsStorage) -> CICDTracker:
    return CICDTracker(storage=storage, clock=FixedClock(NOW))


def ago(**delta: float):  # type: ignore[no-untyped-def]
    return NOW - timedelta(**delta)


def fill(tracker: CICDTracker) -> None:
    """test: 5 runs (10, 20, 30 failed, 40, 100 s); lint: 2 of 4 failed, 600 s."""
    for ok, seconds, days in [(True, 10, 1), (True, 20, 2), (False, 30, 3), (True, 40, 4), (True, 100, 5)]:
        tracker.track_pipeline_stage(
            context(),
            "test",
            "pytest-run",
            ok,
            seconds,
            error_message=None if ok else "AssertionError: x",
            started_at=ago(days=days),
        )
    for i in range(4):
        tracker.track_pipeline_stage(
            context(),
            "lint",
            "ruff-check",
            i < 2,
            600.0,
            error_message="E501 line too long",
            started_at=ago(hours=i + 1),
        )
    tracker.storage.record_invocation(record("test", "pytest-run", Outcome.SKIPPED, 0.0, ago(hours=5)))


def test_markdown_report(tracker: CICDTracker) -> None:
    fill(tracker)
    md = tracker.generate_pipeline_report("CI")
    assert md.startswith("## Pipeline report: CI — last 30 days\n\n")
    assert "_2026-10-26 06:00 → 2026-11-25 06:00 UTC · 9 runs · 66.7% success_" in md
    assert "| Stage | Phase | Runs | Success | Failed | Mean | p50 | p95 | Trend | Skills |" in md
    # lint: 4 runs, 50%, 2 failed, all 600 s (10m 00s).
    assert "| lint | verification | 4 | 50.0% | 2 | 10m 00s | 10m 00s | 10m 00s | new | ruff-check |" in md
    # test: mean 200/5 = 40 s, p50 30 s, p95 40 + 0.8 × 60 = 88 s (1m 28s).
    assert "| test | execution | 5 | 80.0% | 1 | 40.0s | 30.0s | 1m 28s | new | pytest-run |" in md
    assert "Not counted in rates: test 1 skipped, 0 cancelled." in md
    assert "### Bottlenecks\n\n- **lint**: 50.0% success (2 of 4 runs failed)\n" in md
    assert "- 🔴 High — Stage lint succeeds in 50% of 4 runs: investigate common failures" in md
    assert "- 🟠 Medium — Stage lint takes 10m 00s on average" in md
    assert "### Common failures\n\n" in md
    assert "- **lint**: `E501 line too long` ×2" in md
    assert "- **test**: `AssertionError: x` ×1" in md
    assert "histograms" not in md  # 9 runs: exact percentiles


def test_markdown_report_of_nothing(tracker: CICDTracker) -> None:
    md = tracker.generate_pipeline_report("CI", days=7)
    assert md == (
        "## Pipeline report: CI — last 7 days\n\n"
        "_No runs recorded between 2026-11-18 06:00 → 2026-11-25 06:00 UTC._\n"
    )


def test_text_report(tracker: CICDTracker) -> None:
    fill(tracker)
    text = tracker.generate_pipeline_report("CI", format="text")
    lines = text.splitlines()
    assert lines[:3] == [
        "Pipeline report: CI — last 30 days",
        "2026-10-26 06:00 → 2026-11-25 06:00 UTC",
        "9 runs, 66.7% success",
    ]
    header = next(line for line in lines if line.startswith("Stage"))
    row = next(line for line in lines if line.startswith("test "))
    # Aligned columns: each cell starts where its header does.
    assert row.split() == [
        "test",
        "execution",
        "5",
        "80.0%",
        "1",
        "40.0s",
        "30.0s",
        "1m",
        "28s",
        "new",
        "pytest-run",
    ]
    assert header.index("Phase") == row.index("execution")
    assert "  lint: 50.0% success (2 of 4 failed)" in lines
    assert "  [high] Stage lint succeeds in 50% of 4 runs: investigate common failures" in text
    assert "*" not in text and "|" not in text  # no Markdown


def test_json_report(tracker: CICDTracker) -> None:
    fill(tracker)
    data = json.loads(tracker.generate_pipeline_report("CI", days=30, format=ReportFormat.JSON))
    assert data["schema_version"] == 1
    assert (data["pipeline_name"], data["days"], data["total_runs"]) == ("CI", 30, 9)
    assert data["window"] == {"start": "2026-10-26T06:00:00Z", "end": "2026-11-25T06:00:00Z"}
    test = next(s for s in data["stages"] if s["stage_name"] == "test")
    assert test["p95_duration"] == pytest.approx(88.0)
    assert (test["total_runs"], test["skipped_runs"], test["success_rate"], test["mean_duration"]) == (
        5,
        1,
        0.8,
        40.0,
    )
    assert test["common_failures"] == [{"error": "AssertionError: x", "count": 1}]
    assert test["workflow_phase"] == "execution"
    assert test["trend"]["direction"] == "new"
    assert data["bottlenecks"] == [{"stage": "lint", "success_rate": 0.5, "failed_runs": 2, "total_runs": 4}]
    assert [(r["priority"], r["stage"], r["kind"]) for r in data["recommendations"]] == [
        ("high", "lint", "failures"),
        ("medium", "lint", "slow"),
    ]


def test_unknown_format(tracker: CICDTracker) -> None:
    with pytest.raises(ValueError, match="'html' is not a valid ReportFormat"):
        tracker.generate_pipeline_report("CI", format="html")


# -- hostile names and messages ----------------------------------------------

HOSTILE_STAGE = "<img src=x onerror=alert(1)> @octocat | [x](https://evil.example) `x` #12 *b* $$a$$ $c$"
HOSTILE_SKILL = "<script>alert(1)</script>@org/team|x"
HOSTILE_ERROR = "<b>boom</b> @admin | `tick` [link](https://evil.example)\n\n| injected | row |"
HOSTILE_PIPELINE = "CI <i>x</i> @ghost"


def hostile(tracker: CICDTracker) -> None:
    ctx = context(HOSTILE_PIPELINE)
    for ok in (True, False, False):
        tracker.track_pipeline_stage(
            ctx,
            HOSTILE_STAGE,
            HOSTILE_SKILL,
            ok,
            1.0,
            error_message=None if ok else HOSTILE_ERROR,
            started_at=ago(hours=1),
        )


def test_markdown_escapes_hostile_text(tracker: CICDTracker) -> None:
    hostile(tracker)
    md = tracker.generate_pipeline_report(HOSTILE_PIPELINE)
    assert "Stage" in md and "Common failures" in md  # the report did render the data
    # Code spans show their text as is (GitHub renders no HTML, mention or
    # link inside them); everything else must be inert.
    outside_code = re.sub(r"(?<!\\)(`+)(?!`).*?(?<!`)\1(?!`)", "", md)
    assert not re.search(r"(?<!\\)`", outside_code)  # the stage's backticks are escaped
    assert "\\`x\\`" in outside_code
    # No raw HTML: every < from the data became &lt;; the only tags are
    # the spans that keep each $ from opening GitHub's math.
    assert "<" not in outside_code.replace("&lt;", "").replace("<span>$</span>", "")
    assert "$" not in outside_code.replace("<span>$</span>", "")
    assert "<span>$</span><span>$</span>a<span>$</span><span>$</span> <span>$</span>c<span>$</span>" in md
    assert "&lt;img src=x onerror=alert(1)&gt;" in md
    # No mentions or issue links: "@" and "#" are never followed by a word character.
    assert not re.search(r"[@#]\w", outside_code)
    # No links: every [ is escaped.
    assert not re.search(r"(?<!\\)\[", outside_code)
    # The table keeps its 10 columns: 11 unescaped pipes on every row.
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) == 3
    for line in table:
        assert len(re.findall(r"(?<!\\)\|", line)) == 11, line
    # The failure message: its first line only, in a code span that no pipe
    # or backtick in it can end.
    assert "injected" not in md
    failures = md.split("### Common failures", 1)[1]
    assert "`` <b>boom</b> @admin \u2758 `tick` [link](https://evil.example) `` ×2" in failures


def test_text_report_strips_control_characters(tracker: CICDTracker) -> None:
    for ok in (True, False, False):
        tracker.track_pipeline_stage(
            context(),
            "test",
            "pytest-run",
            ok,
            1.0,
            error_message=None if ok else "\x1b[31mFAILED\x1b[0m \x9b2J tests\tnow",
            started_at=ago(hours=1),
        )
    text = tracker.generate_pipeline_report("CI", format="text")
    assert "(most common: ?[31mFAILED?[0m ?2J tests?now ×2)" in text
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", text)


def test_json_keeps_hostile_text_as_data(tracker: CICDTracker) -> None:
    hostile(tracker)
    data = json.loads(tracker.generate_pipeline_report(HOSTILE_PIPELINE, format="json"))
    (stage,) = data["stages"]
    assert stage["stage_name"] == HOSTILE_STAGE
    assert stage["skills_used"] == [HOSTILE_SKILL]
    assert stage["common_failures"] == [{"error": HOSTILE_ERROR.splitlines()[0], "count": 2}]


# -- export --------------------------------------------------------------------


def test_export_analytics(tracker: CICDTracker, tmp_path: Path) -> None:
    fill(tracker)
    target = tmp_path / "analytics.json"
    assert tracker.export_analytics("CI", target) == target
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["schema_version"] == 1
    assert data["exported_at"] == "2026-11-25T06:00:00Z"
    assert (data["days"], data["total_runs"]) == (30, 9)
    assert sorted(s["stage_name"] for s in data["stages"]) == ["lint", "test"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    week = tracker.export_analytics("CI", target, days=7)
    assert json.loads(week.read_text(encoding="utf-8"))["days"] == 7


def test_export_is_atomic(tracker: CICDTracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(tracker)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "analytics.json"
    target.write_text('{"old": true}\n', encoding="utf-8")
    target.chmod(0o640)

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(TrackerError, match=r"^cannot write .*analytics\.json: No space left on device$"):
        tracker.export_analytics("CI", target)
    # The old file is whole, and no temporary file is left behind.
    assert [p.name for p in out.iterdir()] == ["analytics.json"]
    assert target.read_text(encoding="utf-8") == '{"old": true}\n'

    monkeypatch.undo()
    tracker.export_analytics("CI", target)
    assert [p.name for p in out.iterdir()] == ["analytics.json"]
    assert json.loads(target.read_text(encoding="utf-8"))["schema_version"] == 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the file keeps its mode


def test_export_to_missing_folder(tracker: CICDTracker, tmp_path: Path) -> None:
    with pytest.raises(TrackerError, match=r"cannot write .*nowhere/a.json: No such file or directory"):
        tracker.export_analytics("CI", tmp_path / "nowhere" / "a.json")


def test_export_writes_into_what_is_no_regular_file(tracker: CICDTracker, tmp_path: Path) -> None:
    """A FIFO (or /dev/stdout) is written to, not replaced by a file; a
    symlink stays one and the file it names gets the export."""
    fill(tracker)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    tracker.export_analytics("CI", fifo)
    reader.join(10)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(received[0])["schema_version"] == 1

    real = tmp_path / "real.json"
    real.write_text("{}", encoding="utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    tracker.export_analytics("CI", link)
    assert link.is_symlink() and json.loads(real.read_text(encoding="utf-8"))["schema_version"] == 1

    # A link to a device (as /dev/stdout is) is written through, not replaced.
    to_null = tmp_path / "null"
    to_null.symlink_to("/dev/null")
    tracker.export_analytics("CI", to_null)
    assert to_null.is_symlink()


def test_export_to_stdout_keeps_what_stdout_was_redirected_to(tracker: CICDTracker, tmp_path: Path) -> None:
    """``/dev/stdout`` is written through the open descriptor: reopened, it
    would truncate (or, replaced, unlink) the file the shell redirected
    stdout to, losing what was written before and after."""
    db = tmp_path / "e.db"
    fill(CICDTracker(storage=SkillsStorage(db), clock=tracker.clock))
    cli = Path(sys.executable).with_name("session-buddy-ci")
    out = tmp_path / "log.txt"
    out.write_text("line before\n")
    script = f'{{ echo header; "{cli}" --database "{db}" export CI /dev/stdout; echo footer; }} >> "{out}"'
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    first, second, *rest = out.read_text().splitlines()
    assert (first, second, rest[-1]) == ("line before", "header", "footer")
    assert json.loads("\n".join(rest[:-1]))["pipeline_name"] == "CI"
    assert done.stderr.strip() == "wrote /dev/stdout"

    # Through a link to /dev/stdout: the same, redirected or piped.
    link = tmp_path / "to-stdout"
    link.symlink_to("/dev/stdout")
    out.write_text("kept\n")
    export = f'"{cli}" --database "{db}" export CI "{link}"'
    done = subprocess.run(["bash", "-c", f"{export} >> '{out}'"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert out.read_text().startswith("kept\n{") and link.is_symlink()
    piped = f"{export} | python3 -c 'import json, sys; print(json.load(sys.stdin)[\"pipeline_name\"])'"
    done = subprocess.run(["bash", "-c", piped], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (0, "CI\n"), done.stderr
    # stdout closed: a clear error, not a traceback.
    done = subprocess.run(["bash", "-c", f"{export} >&-"], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"Error: cannot write {link}: Bad file descriptor" in done.stderr


def test_export_through_a_loop_of_links_is_an_error(tracker: CICDTracker, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(TrackerError, match=r"^cannot write .*a: Too many levels of symbolic links$"):
        tracker.export_analytics("CI", a)
    assert a.is_symlink() and b.is_symlink()
