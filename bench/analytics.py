"""Pipeline analytics over a million invocations.

Loads ``--rows`` invocations (default 1,000,000) of one pipeline across 20
stages and 90 days into a fresh SQLite file (bulk insert, then one rollup
rebuild), then times ``CICDTracker.get_pipeline_analytics`` for 7 and 90
days (median of warm runs) and compares the reported p50/p95 of each stage
with the exact values numpy computes from the generated rows.

Targets on a 2-core machine: days=7 under 50 ms, days=90 under 200 ms,
p50/p95 within 2% of exact.

    python -m bench.analytics [--rows N] [--db PATH] [--repeat N] [--seed N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tracker.analytics import phase_of_stage
from tracker.cicd import CICDTracker
from tracker.records import error_key, utcnow
from tracker.settings import Settings
from tracker.storage import SkillsStorage

PIPELINE = "CI"
DAYS = 90
TARGETS_MS = {7: 50.0, 90: 200.0}
MAX_ERROR = 0.02

#: (stage, skill, median seconds, log-normal sigma, failure rate)
STAGES: tuple[tuple[str, str, float, float, float], ...] = (
    ("checkout", "git-checkout", 3.0, 0.3, 0.002),
    ("build", "uv-install", 40.0, 0.4, 0.01),
    ("lint", "ruff-check", 6.0, 0.3, 0.04),
    ("typecheck", "mypy-check", 55.0, 0.5, 0.05),
    ("test", "pytest-run", 240.0, 0.6, 0.06),
    ("coverage", "coverage-report", 12.0, 0.4, 0.01),
    ("security", "bandit-security", 20.0, 0.4, 0.02),
    ("integration", "pytest-run", 420.0, 0.7, 0.08),
    ("e2e", "playwright-run", 600.0, 0.8, 0.10),
    ("docs", "sphinx-build", 35.0, 0.5, 0.01),
    ("package", "docker-build", 150.0, 0.5, 0.02),
    ("sbom", "syft-scan", 8.0, 0.3, 0.005),
    ("sign", "cosign-sign", 4.0, 0.3, 0.005),
    ("publish", "pypi-publish", 25.0, 0.4, 0.02),
    ("deploy", "helm-deploy", 90.0, 0.6, 0.03),
    ("smoke", "smoke-tests", 45.0, 0.5, 0.04),
    ("migrate", "alembic-upgrade", 15.0, 0.9, 0.01),
    ("benchmark", "pytest-benchmark", 300.0, 0.3, 0.01),
    ("notify", "slack-notify", 1.5, 0.3, 0.001),
    ("cleanup", "cache-prune", 5.0, 0.4, 0.001),
)
ERRORS = (
    "AssertionError: expected 200, got 500\n  at tests/test_api.py:42",
    "TimeoutError: step exceeded 600 s",
    "ModuleNotFoundError: No module named 'requests'",
    "error: failed to push some refs",
    "toomanyrequests: You have reached your pull rate limit",
)
SKIPPED_RATE = 0.01
CANCELLED_RATE = 0.005
COLUMNS = (
    "skill_name",
    "invoked_at",
    "session_id",
    "workflow_path",
    "duration_seconds",
    "workflow_phase",
    "source",
    "stage",
    "outcome",
    "error_message",
    "error_key",
    "pipeline_name",
    "build_number",
    "git_commit",
    "git_branch",
    "environment",
    "triggered_by",
)


@dataclass
class Data:
    """The generated invocations, kept as arrays for the exact percentiles."""

    now: datetime
    stage: npt.NDArray[np.int64]
    invoked_at: npt.NDArray[np.datetime64]
    duration: npt.NDArray[np.float64]
    outcome: npt.NDArray[np.int64]  # 0 success, 1 failure, 2 skipped, 3 cancelled
    error: npt.NDArray[np.int64]


OUTCOMES = ("success", "failure", "skipped", "cancelled")


def generate(rows: int, now: datetime, seed: int) -> Data:
    """Builds of every stage in order, spread evenly over 90 days; durations
    log-normal per stage; a few percent failures."""
    rng = np.random.default_rng(seed)
    n_stages = len(STAGES)
    stage = np.arange(rows, dtype=np.int64) % n_stages
    build = np.arange(rows, dtype=np.int64) // n_stages
    n_builds = int(build[-1]) + 1
    span_us = DAYS * 86_400 * 1_000_000 - n_stages * 600 * 1_000_000
    build_start = np.sort(rng.integers(0, span_us, n_builds))
    start = np.datetime64(now - timedelta(days=DAYS), "us")
    invoked_at = start + (build_start[build] + stage * 600 * 1_000_000).astype("timedelta64[us]")
    medians = np.array([s[2] for s in STAGES])[stage]
    sigmas = np.array([s[3] for s in STAGES])[stage]
    duration = np.round(np.exp(rng.normal(np.log(medians), sigmas)), 3).astype(np.float64)
    fail_rate = np.array([s[4] for s in STAGES])[stage]
    u = rng.random(rows)
    outcome = np.where(
        u < fail_rate,
        1,
        np.where(
            u < fail_rate + SKIPPED_RATE,
            2,
            np.where(u < fail_rate + SKIPPED_RATE + CANCELLED_RATE, 3, 0),
        ),
    ).astype(np.int64)
    error = np.where(outcome == 1, rng.integers(0, len(ERRORS), rows), -1).astype(np.int64)
    return Data(now, stage, invoked_at, duration, outcome, error)


def rows_of(data: Data) -> Iterator[tuple[Any, ...]]:
    """Rows in the order of :data:`COLUMNS`."""
    names = [s[0] for s in STAGES]
    skills = [s[1] for s in STAGES]
    phases = [phase_of_stage(s).value for s in names]
    keys = [error_key(None, e) for e in ERRORS]
    n_stages = len(STAGES)
    moments = data.invoked_at.astype(object)
    for i, (st, at, dur, out, err) in enumerate(
        zip(
            data.stage.tolist(),
            moments,
            data.duration.tolist(),
            data.outcome.tolist(),
            data.error.tolist(),
            strict=True,
        )
    ):
        number = str(i // n_stages + 1)
        yield (
            skills[st],
            at,
            f"{PIPELINE}-{number}",
            PIPELINE,
            dur if out != 2 else 0.0,
            phases[st],
            "ci",
            names[st],
            OUTCOMES[out],
            ERRORS[err] if err >= 0 else None,
            keys[err] if err >= 0 else None,
            PIPELINE,
            number,
            f"{i // n_stages * 2654435761 % 2**32:08x}",
            "main",
            "ci",
            "push",
        )


def exact_percentiles(data: Data, days: int) -> dict[str, tuple[float, float]]:
    """numpy's exact p50/p95 per stage over the window, decisive runs only."""
    end = np.datetime64(data.now, "us")
    start = end - np.timedelta64(days * 86_400 * 1_000_000, "us")
    in_window = (data.invoked_at >= start) & (data.invoked_at <= end) & (data.outcome <= 1)
    result = {}
    for index, (name, *_rest) in enumerate(STAGES):
        values = data.duration[in_window & (data.stage == index)]
        if values.size:
            p50, p95 = np.percentile(values, [50, 95])
            result[name] = (float(p50), float(p95))
    return result


def timed(call: Any, repeat: int) -> tuple[float, Any]:
    call()  # warm: caches, compiled statements
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.analytics", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="invocations to load")
    parser.add_argument("--db", type=Path, help="SQLite file to create (default: a temporary one)")
    parser.add_argument("--repeat", type=int, default=9, help="timed warm runs per window")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if args.rows < len(STAGES):
        parser.error(f"--rows must be at least {len(STAGES)}")

    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.db"
        if path.exists():
            parser.error(f"{path} exists; give a new file")
        now = utcnow().replace(microsecond=0)
        data = generate(args.rows, now, args.seed)
        storage = SkillsStorage(path, settings=Settings(database_url=f"sqlite:///{path.resolve()}"))
        t0 = time.perf_counter()
        loaded = storage.bulk_load_invocations(COLUMNS, rows_of(data))
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        storage.rebuild_rollups()
        rebuild_s = time.perf_counter() - t0
        print(f"loaded {loaded:,} invocations ({len(STAGES)} stages, {DAYS} days) in {load_s:.1f} s")
        print(f"rebuild_rollups over {loaded:,} invocations: {rebuild_s:.1f} s")

        tracker = CICDTracker(storage=storage, clock=lambda: now)
        failed = False
        for days in (7, 90):
            ms, analytics = timed(
                lambda d=days: tracker.get_pipeline_analytics(PIPELINE, days=d), args.repeat
            )
            exact = exact_percentiles(data, days)
            worst = 0.0
            for s in analytics.stages:
                p50, p95 = exact[s.stage_name]
                for got, want in ((s.p50_duration, p50), (s.p95_duration, p95)):
                    assert got is not None
                    worst = max(worst, abs(got / want - 1))
            runs = analytics.total_runs
            method = analytics.stages[0].percentile_method
            ok = ms < TARGETS_MS[days] and worst <= MAX_ERROR
            failed |= not ok
            print(
                f"get_pipeline_analytics(days={days}): {ms:.1f} ms median of {args.repeat} "
                f"(target {TARGETS_MS[days]:.0f} ms), {runs:,} runs, p50/p95 {method}, "
                f"max relative error {worst:.2%} (target {MAX_ERROR:.0%}) {'OK' if ok else 'MISSED'}"
            )
        storage.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
