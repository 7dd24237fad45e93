"""Pipeline analytics on hand-built data: every figure is checked against a
value worked out by hand (or, for generated data, by a plain computation
over the generated list, never by the code under test)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import pytest

from tests.conftest import FixedClock
from tracker.analytics import Priority
from tracker.cicd import CICDTracker
from tracker.histogram import MAX_RELATIVE_ERROR
from tracker.phases import Outcome, WorkflowPhase
from tracker.records import InvocationRecord
from tracker.settings import Settings
from tracker.storage import SkillsStorage

from .helpers import NOW, context, record


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def tracker(storage: SkillsStorage, clock: FixedClock) -> Iterator[CICDTracker]:
    yield CICDTracker(storage=storage, clock=clock)


def track(
    tracker: CICDTracker,
    stage: str,
    ok: bool,
    duration: float,
    at: datetime,
    *,
    skill: str = "pytest-run",
    error: str | None = None,
    pipeline: str = "CI",
) -> int:
    return tracker.track_pipeline_stage(
        context(pipeline), stage, skill, ok, duration, error_message=error, started_at=at
    )


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


# -- rates, means, exact percentiles ----------------------------------------


def test_rates_mean_and_exact_percentiles(tracker: CICDTracker) -> None:
    # Spread over edge days and whole days of the window.
    for ok, seconds, at in [
        (True, 10.0, ago(hours=1)),
        (True, 100.0, ago(days=2)),
        (False, 30.0, ago(days=6, hours=20)),
        (True, 40.0, ago(days=3, minutes=5)),
        (True, 20.0, ago(days=6, hours=23, minutes=59)),
    ]:
        track(tracker, "test", ok, seconds, at, error=None if ok else "AssertionError: boom")
    for seconds in (1.0, 2.0, 3.0, 4.0):
        track(tracker, "lint", True, seconds, ago(hours=seconds), skill="ruff-check")

    analytics = tracker.get_pipeline_analytics("CI", days=7)
    test, lint = analytics.stage("test"), analytics.stage("lint")
    assert test is not None and lint is not None
    assert [s.stage_name for s in analytics.stages] == ["lint", "test"]
    assert (test.total_runs, test.successful_runs, test.failed_runs) == (5, 4, 1)
    assert test.success_rate == 0.8
    assert test.total_duration == 200.0
    assert test.mean_duration == 40.0
    # Sorted 10, 20, 30, 40, 100. p50: rank 0.5 × 4 = 2 → 30.
    # p95: rank 0.95 × 4 = 3.8 → 40 + 0.8 × (100 − 40) = 88.
    assert test.p50_duration == pytest.approx(30.0)
    assert test.p95_duration == pytest.approx(88.0)
    assert test.percentile_method == "exact"
    assert test.workflow_phase is WorkflowPhase.EXECUTION
    assert test.skills_used == ("pytest-run",)
    assert test.common_failures == (("AssertionError: boom", 1),)
    # Sorted 1, 2, 3, 4. p50: rank 1.5 → 2.5. p95: rank 2.85 → 3 + 0.85 × 1 = 3.85.
    assert lint.p50_duration == pytest.approx(2.5)
    assert lint.p95_duration == pytest.approx(3.85)
    assert lint.workflow_phase is WorkflowPhase.VERIFICATION
    # Pipeline totals: 9 runs, 8 successes.
    assert analytics.total_runs == 9
    assert analytics.success_rate == pytest.approx(8 / 9)


def test_single_run_percentiles(tracker: CICDTracker) -> None:
    track(tracker, "deploy", True, 42.5, ago(minutes=3), skill="helm-deploy")
    deploy = tracker.get_pipeline_analytics("CI").stage("deploy")
    assert deploy is not None
    assert (deploy.p50_duration, deploy.p95_duration) == (42.5, 42.5)
    assert deploy.workflow_phase is WorkflowPhase.DEPLOYMENT


def test_unknown_stage_is_tracked_under_the_default_phase(
    tracker: CICDTracker, storage: SkillsStorage
) -> None:
    row = tracker.track_pipeline_stage(
        context(), "smoke-tests", "curl-check", True, 5.0, artifacts={"report": "smoke.xml"}
    )
    stored = storage.invocations(id=row)[0]
    assert stored["workflow_phase"] == "execution"
    assert stored["stage"] == "smoke-tests"
    assert stored["artifacts"] == {"report": "smoke.xml"}
    # Without started_at, the run started `duration` seconds before now.
    assert stored["invoked_at"] == NOW - timedelta(seconds=5)
    assert stored["session_id"] == "CI-42"


# -- exact window edges ------------------------------------------------------


@pytest.mark.parametrize(
    "now",
    [
        NOW,  # mid-morning: both window edges fall inside a day
        datetime(2026, 11, 25, 0, 0, 0),  # midnight: the window is whole days
        datetime(2026, 11, 25, 23, 59, 59, 999_000),
    ],
)
@pytest.mark.parametrize("days", [1, 2, 7, 30])
def test_window_edges_are_exact(storage: SkillsStorage, now: datetime, days: int) -> None:
    tracker = CICDTracker(storage=storage, clock=FixedClock(now))
    window = timedelta(days=days)
    inside = [now - window, now - window + timedelta(seconds=1), now, now - timedelta(seconds=1)]
    outside = [
        now - window - timedelta(seconds=1),
        now - window - timedelta(microseconds=1),
        now + timedelta(seconds=1),
        now + timedelta(days=1),
        now - window - timedelta(days=1),
    ]
    for at in inside:
        track(tracker, "test", True, 10.0, at)
    for at in outside:
        track(tracker, "test", False, 99.0, at, error="outside")
    test = tracker.get_pipeline_analytics("CI", days=days).stage("test")
    assert test is not None
    assert (test.total_runs, test.failed_runs, test.total_duration) == (4, 0, 40.0)
    assert test.common_failures == ()


# -- rollups + raw edges agree with a purely raw computation ----------------


def generated(n: int, seed: int) -> list[InvocationRecord]:
    rnd = random.Random(seed)
    stages = {"build": "uv-install", "test": "pytest-run", "lint": "ruff-check", "e2e": "playwright"}
    result = []
    for _ in range(n):
        stage = rnd.choice(list(stages))
        outcome = rnd.choices(list(Outcome), weights=[80, 12, 5, 3])[0]
        result.append(
            record(
                stage,
                rnd.choice([stages[stage], "extra-skill"]),
                outcome,
                round(rnd.lognormvariate(3, 1), 3),
                NOW - timedelta(seconds=rnd.uniform(0, 12 * 86_400)),
                error=rnd.choice(["E1: timeout", "E2: assert", "E3\nsecond line", "E4", "E5", "E6"]),
            )
        )
    return result


@pytest.mark.parametrize("days", [1, 2, 3, 7, 10])
def test_window_figures_equal_a_raw_computation(storage: SkillsStorage, days: int) -> None:
    records = generated(600, seed=days)
    storage.record_invocations(records)
    tracker = CICDTracker(storage=storage, clock=FixedClock(NOW))
    start = NOW - timedelta(days=days)
    in_window = [r for r in records if start <= r.invoked_at <= NOW]
    stages = tracker.get_pipeline_analytics("CI", days=days).stages
    assert sorted(s.stage_name for s in stages) == sorted({r.stage for r in in_window if r.stage})
    for s in stages:
        mine = [r for r in in_window if r.stage == s.stage_name]
        decisive = [r for r in mine if r.outcome in (Outcome.SUCCESS, Outcome.FAILURE)]
        durations = [r.duration_seconds for r in decisive]
        assert s.total_runs == len(decisive)
        assert s.successful_runs == sum(r.outcome is Outcome.SUCCESS for r in mine)
        assert s.failed_runs == sum(r.outcome is Outcome.FAILURE for r in mine)
        assert s.skipped_runs == sum(r.outcome is Outcome.SKIPPED for r in mine)
        assert s.cancelled_runs == sum(r.outcome is Outcome.CANCELLED for r in mine)
        assert s.total_duration == pytest.approx(sum(durations))
        p50, p95 = np.percentile(durations, [50, 95])
        assert s.p50_duration == pytest.approx(p50)
        assert s.p95_duration == pytest.approx(p95)
        assert set(s.skills_used) == {r.skill_name for r in mine if r.outcome is not Outcome.SKIPPED}
        failures = Counter(r.error_key for r in mine if r.outcome is Outcome.FAILURE)
        want = sorted(failures.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        assert list(s.common_failures) == want


# -- the histogram path -------------------------------------------------------


def test_histogram_percentiles_within_documented_error(storage: SkillsStorage, settings: Settings) -> None:
    tracker = CICDTracker(
        storage=storage, settings=settings.with_(exact_percentile_limit=1), clock=FixedClock(NOW)
    )
    # A gap at the median: the exact p50 interpolates between 1 s and 100 s.
    for seconds, at in [(1.0, ago(days=3)), (100.0, ago(hours=2))]:
        track(tracker, "gap", True, seconds, at)
    # 21 runs: the p50 and p95 ranks (10 and 19) are whole.
    spread = [round(2.0 * 1.17**i, 3) for i in range(21)]
    for i, seconds in enumerate(spread):
        track(tracker, "spread", True, seconds, ago(hours=7 * i + 1))
    analytics = tracker.get_pipeline_analytics("CI", days=7)
    gap, steps = analytics.stage("gap"), analytics.stage("spread")
    assert gap is not None and steps is not None
    assert gap.percentile_method == steps.percentile_method == "histogram"
    # gap: p50 = 1 + 0.5 × 99 = 50.5; p95 = 1 + 0.95 × 99 = 95.05.
    for got, exact in [
        (gap.p50_duration, 50.5),
        (gap.p95_duration, 95.05),
        (steps.p50_duration, spread[10]),
        (steps.p95_duration, spread[19]),
    ]:
        assert got is not None
        assert abs(got / exact - 1) <= MAX_RELATIVE_ERROR
    # Counts and means are exact on the histogram path too.
    assert gap.mean_duration == 50.5
    assert steps.total_runs == 21


def test_exact_limit_counts_runs_of_the_whole_window(storage: SkillsStorage, settings: Settings) -> None:
    def tracker_with(limit: int) -> CICDTracker:
        return CICDTracker(
            storage=storage, settings=settings.with_(exact_percentile_limit=limit), clock=FixedClock(NOW)
        )

    for i in range(3):
        track(tracker_with(3), "test" if i else "lint", True, 10.0 + i, ago(hours=i + 1))
    # Three runs in the window (over two stages): exact up to a limit of 3.
    for limit, method in [(3, "exact"), (2, "histogram")]:
        test = tracker_with(limit).get_pipeline_analytics("CI").stage("test")
        assert test is not None
        assert test.percentile_method == method


# -- skipped and cancelled ----------------------------------------------------


def test_skipped_and_cancelled_are_counted_apart(tracker: CICDTracker, storage: SkillsStorage) -> None:
    track(tracker, "test", True, 10.0, ago(hours=1))
    track(tracker, "test", True, 20.0, ago(days=2))
    track(tracker, "test", False, 30.0, ago(days=4), error="boom")
    storage.record_invocation(record("test", "pytest-run", Outcome.SKIPPED, 0.0, ago(hours=3)))
    storage.record_invocation(record("test", "pytest-run", Outcome.CANCELLED, 500.0, ago(days=3)))
    storage.record_invocation(record("docs", "sphinx", Outcome.SKIPPED, 0.0, ago(hours=2)))
    analytics = tracker.get_pipeline_analytics("CI")
    test, docs = analytics.stage("test"), analytics.stage("docs")
    assert test is not None and docs is not None
    assert (test.total_runs, test.successful_runs, test.failed_runs) == (3, 2, 1)
    assert (test.skipped_runs, test.cancelled_runs) == (1, 1)
    assert test.success_rate == pytest.approx(2 / 3)
    assert test.mean_duration == 20.0  # (10 + 20 + 30) / 3: the cancelled 500 s is out
    # Sorted 10, 20, 30. p95: rank 1.9 → 20 + 0.9 × 10 = 29.
    assert test.p95_duration == pytest.approx(29.0)
    # A stage that only skipped is listed, with nothing to rate.
    assert (docs.total_runs, docs.skipped_runs, docs.p50_duration) == (0, 1, None)
    assert docs.skills_used == ()  # a skipped step used no skill
    assert "docs" not in {b.stage for b in analytics.bottlenecks}
    assert not [r for r in analytics.recommendations if r.stage == "docs" and r.priority is Priority.HIGH]


# -- bottlenecks and recommendations -------------------------------------------


def runs(tracker: CICDTracker, stage: str, ok: int, failed: int, seconds: float, skill: str) -> None:
    for i in range(ok + failed):
        track(tracker, stage, i < ok, seconds, ago(hours=i + 1), skill=skill, error="E")


def test_bottleneck_threshold(tracker: CICDTracker) -> None:
    runs(tracker, "build", 4, 1, 10, "uv-install")  # 80%: at the threshold, not below
    runs(tracker, "test", 3, 1, 10, "pytest-run")  # 75%
    runs(tracker, "lint", 1, 1, 10, "ruff-check")  # 50%
    runs(tracker, "deploy", 5, 0, 10, "helm-deploy")  # 100%
    bottlenecks = tracker.get_pipeline_analytics("CI").bottlenecks
    assert [(b.stage, b.success_rate, b.failed_runs, b.total_runs) for b in bottlenecks] == [
        ("lint", 0.5, 1, 2),
        ("test", 0.75, 1, 4),
    ]


def test_recommendation_levels(tracker: CICDTracker) -> None:
    runs(tracker, "test", 2, 1, 10, "pytest-run")  # 66.7% < 70%: high
    runs(tracker, "lint", 7, 3, 10, "ruff-check")  # exactly 70%: not high
    runs(tracker, "build", 2, 0, 300.5, "uv-install")  # slower than 300 s: medium
    runs(tracker, "publish", 2, 0, 300.0, "pypi-publish")  # exactly 300 s: not medium
    runs(tracker, "security", 2, 0, 5, "trivy-scan")  # none of the usual skills: low
    recs = tracker.get_pipeline_analytics("CI").recommendations
    assert [(r.priority, r.stage, r.kind) for r in recs] == [
        (Priority.HIGH, "test", "failures"),
        (Priority.MEDIUM, "build", "slow"),
        (Priority.LOW, "security", "missing_skills"),
    ]
    high, medium, low = recs
    assert high.message == (
        "Stage test succeeds in 67% of 3 runs: investigate common failures (most common: E ×1)."
    )
    assert medium.message == (
        "Stage build takes 5m 00s on average: consider optimisation or parallelisation."
    )
    assert low.skills == ("bandit-security", "safety-check", "npm-audit")
    assert low.message == (
        "Stage security uses none of the skills usually seen in it: "
        "consider bandit-security, safety-check, npm-audit."
    )


def test_low_recommendation_for_an_unknown_stage_uses_its_phase(tracker: CICDTracker) -> None:
    # "smoke" maps to execution, whose usual skills are those of "test".
    runs(tracker, "smoke", 1, 0, 5, "curl-check")
    (rec,) = tracker.get_pipeline_analytics("CI").recommendations
    assert rec.skills == ("pytest-run", "jest-run", "test-discovery", "coverage-report")
    runs(tracker, "smoke", 1, 0, 5, "pytest-run")
    assert tracker.get_pipeline_analytics("CI").recommendations == ()


def test_thresholds_come_from_settings(storage: SkillsStorage) -> None:
    settings = Settings.from_env(
        {
            "SESSION_BUDDY_CI_BOTTLENECK_SUCCESS_RATE": "0.9",
            "SESSION_BUDDY_CI_HIGH_PRIORITY_SUCCESS_RATE": "0.5",
            "SESSION_BUDDY_CI_SLOW_STAGE_SECONDS": "60",
        },
        database_url=storage.url,
    )
    tracker = CICDTracker(storage=storage, settings=settings, clock=FixedClock(NOW))
    runs(tracker, "test", 4, 1, 61, "pytest-run")  # 80%, 61 s
    analytics = tracker.get_pipeline_analytics("CI")
    assert [b.stage for b in analytics.bottlenecks] == ["test"]  # 80% < 90%
    assert [(r.priority, r.kind) for r in analytics.recommendations] == [(Priority.MEDIUM, "slow")]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SESSION_BUDDY_CI_BOTTLENECK_SUCCESS_RATE", "1.5"),
        ("SESSION_BUDDY_CI_HIGH_PRIORITY_SUCCESS_RATE", "-0.1"),
        ("SESSION_BUDDY_CI_SLOW_STAGE_SECONDS", "slow"),
        ("SESSION_BUDDY_CI_SQLITE_SYNCHRONOUS", "off"),
        ("SESSION_BUDDY_CI_SQLITE_SYNCHRONOUS", "EXTRA"),
    ],
)
def test_bad_threshold_settings_are_named(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=variable):
        Settings.from_env({variable: value})


# -- trends ---------------------------------------------------------------------


def test_skills_used_are_those_run_inside_the_window(tracker: CICDTracker) -> None:
    """A skill run before the window and again after it (a client clock
    ahead) was not used in it: it is no skill of the stage, and the
    stage's missing-skills recommendation stays."""
    track(tracker, "test", True, 10.0, ago(days=15))
    track(tracker, "test", True, 10.0, NOW + timedelta(days=30))
    track(tracker, "test", True, 10.0, ago(days=1), skill="custom-tool")
    track(tracker, "test", False, 10.0, ago(days=2), skill="tox-run", error="E")
    analytics = tracker.get_pipeline_analytics("CI", days=7)
    [stage] = analytics.stages
    assert stage.skills_used == ("custom-tool", "tox-run")
    [missing] = [r for r in analytics.recommendations if r.kind == "missing_skills"]
    assert missing.stage == "test" and "pytest-run" in missing.skills
    # Over 60 days its run of 15 days ago is inside the window.
    assert tracker.get_pipeline_analytics("CI", days=60).stages[0].skills_used == (
        "custom-tool",
        "pytest-run",
        "tox-run",
    )


def test_trend_windows_are_exact(tracker: CICDTracker) -> None:
    """days=1 at 2026-11-25 06:00: this window is [11-24 06:00, now], the
    previous one [11-23 06:00, 11-24 06:00). Counted by whole days, the
    failure of 11-24 01:00 fell into this window (and the trend read worse)."""
    track(tracker, "test", True, 10.0, ago(hours=18))  # 11-24 12:00: this window
    track(tracker, "test", False, 10.0, ago(hours=29), error="E")  # 11-24 01:00: the previous
    track(tracker, "test", True, 10.0, ago(hours=42))  # 11-23 12:00: the previous
    track(tracker, "test", False, 10.0, ago(days=1, microseconds=1), error="E")  # just before
    track(tracker, "test", False, 10.0, ago(days=2, microseconds=1), error="E")  # before both
    analytics = tracker.get_pipeline_analytics("CI", days=1)
    [stage] = analytics.stages
    assert (stage.total_runs, stage.successful_runs) == (1, 1)
    # Previous: 1 success of 3 (33.3%); now 1 of 1: +66.7 points.
    assert analytics.trends["test"].to_dict() == {
        "direction": "better",
        "success_rate_change": 66.7,
        "mean_duration_change": 0.0,
    }


def test_trends_compare_with_the_previous_window(tracker: CICDTracker) -> None:
    # days=7 at 2026-11-25 06:00: this window is [11-18 06:00, now], the
    # previous one [11-11 06:00, 11-18 06:00).
    for i in range(10):
        track(tracker, "test", True, 10.0, ago(days=10, minutes=i))
        track(tracker, "test", i < 8, 10.0, ago(days=2, minutes=i), error="E")
    for _ in range(4):
        track(tracker, "lint", True, 100.0, ago(days=9))
        track(tracker, "lint", True, 80.0, ago(days=1))
        track(tracker, "build", True, 50.0, ago(days=8))
        track(tracker, "build", True, 52.0, ago(days=1))
    track(tracker, "deploy", True, 5.0, ago(days=1))
    trends = tracker.get_pipeline_analytics("CI", days=7).trends
    # test: 100% → 80% success: −20 points, same duration.
    assert trends["test"].to_dict() == {
        "direction": "worse",
        "success_rate_change": -20.0,
        "mean_duration_change": 0.0,
    }
    # lint: 100 s → 80 s: 20% faster.
    assert trends["lint"].to_dict() == {
        "direction": "better",
        "success_rate_change": 0.0,
        "mean_duration_change": -0.2,
    }
    # build: 50 s → 52 s: 4% slower, within the 10% of "stable".
    assert trends["build"].to_dict() == {
        "direction": "stable",
        "success_rate_change": 0.0,
        "mean_duration_change": 0.04,
    }
    assert trends["deploy"].direction == "new"


# -- common failures -----------------------------------------------------------


def test_common_failures_order(tracker: CICDTracker) -> None:
    errors = ["timeout"] * 3 + ["assert"] * 3 + ["oom"] * 2 + ["net", "disk", "zzz"]
    for i, error in enumerate(errors):
        # Half in whole days, half on the edge days of the window.
        at = ago(days=3, minutes=i) if i % 2 else ago(minutes=i + 1)
        track(tracker, "test", False, 1.0, at, error=f"{error}\nTraceback (most recent call last):")
    test = tracker.get_pipeline_analytics("CI").stage("test")
    assert test is not None
    # Most frequent first; ties by name; five at most.
    assert test.common_failures == (("assert", 3), ("timeout", 3), ("oom", 2), ("disk", 1), ("net", 1))


# -- stage summary and misc ------------------------------------------------------


def test_stage_summary(tracker: CICDTracker) -> None:
    track(tracker, "test", True, 10.0, ago(days=20))
    track(tracker, "test", False, 30.0, ago(days=1), error="x")
    track(tracker, "test", True, 99.0, ago(days=31))  # outside the default 30 days
    track(tracker, "lint", True, 1.0, ago(days=1), skill="ruff-check")
    summary = tracker.get_stage_summary("CI", "test")
    assert summary is not None
    assert (summary.stage_name, summary.total_runs, summary.success_rate, summary.mean_duration) == (
        "test",
        2,
        0.5,
        20.0,
    )
    assert summary.workflow_phase is WorkflowPhase.EXECUTION
    week = tracker.get_stage_summary("CI", "test", days=7)
    assert week is not None and week.total_runs == 1
    assert tracker.get_stage_summary("CI", "nope") is None
    assert tracker.get_stage_summary("Other", "test") is None


def test_pipelines_are_kept_apart(tracker: CICDTracker) -> None:
    track(tracker, "test", True, 1.0, ago(hours=1), pipeline="CI")
    track(tracker, "test", False, 2.0, ago(hours=1), pipeline="Nightly", error="x")
    ci = tracker.get_pipeline_analytics("CI").stage("test")
    nightly = tracker.get_pipeline_analytics("Nightly").stage("test")
    assert ci is not None and nightly is not None
    assert (ci.successful_runs, nightly.failed_runs) == (1, 1)
    empty = tracker.get_pipeline_analytics("Nobody")
    assert (empty.stages, empty.bottlenecks, empty.recommendations, empty.total_runs) == ((), (), (), 0)


@pytest.mark.parametrize("days", [0, -1, 3651, 1.5, True, "7"])
def test_bad_days(tracker: CICDTracker, days: object) -> None:
    with pytest.raises(ValueError, match="days must be a whole number from 1 to 3650"):
        tracker.get_pipeline_analytics("CI", days=days)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("duration", "message"),
    [(-1.0, "finite and >= 0"), (float("nan"), "finite and >= 0"), ("5", "must be a number")],
)
def test_bad_duration(tracker: CICDTracker, duration: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tracker.track_pipeline_stage(context(), "test", "pytest-run", True, duration)  # type: ignore[arg-type]
