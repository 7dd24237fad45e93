"""Action overhead: what wrapping a step with the Action adds.

Baseline: ``true`` run as GitHub runs a ``run:`` step
(``bash --noprofile --norc -eo pipefail script``). Wrapped: the Action's
composite step (``bash … -c 'exec python3 entrypoint.py'``) running the same
``true``, with the job's outputs and summary files, delivering the result
to a receiver under gunicorn on loopback (a real SQLite commit per step).
A third series without ``receiver-url`` splits the cost between start-up
and delivery. The series alternate, so a busy machine slows all alike.

Target: under 150 ms added per step (median).

    python -m bench.action_overhead [--runs 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.server import gunicorn
from tracker.storage import SkillsStorage

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"  # noqa: S105 - a throwaway receiver's token
TARGET_MS = 150.0
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]


def _timed(run: Callable[[], int]) -> float:
    start = time.perf_counter()
    code = run()
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"a benchmark run exited with {code}")
    return elapsed * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=60, help="runs of each series (default 60)")
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter the Action runs with (default: this one)"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sbci-bench-") as tmp:
        work = Path(tmp)
        script = work / "step.sh"
        script.write_text("true\n")
        db = work / "receiver.db"
        server_env = {
            "SESSION_BUDDY_CI_DATABASE_URL": f"sqlite:///{db}",
            "SESSION_BUDDY_CI_API_TOKENS": TOKEN,
        }
        job = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", tmp),
            "GITHUB_WORKFLOW": "Bench",
            "GITHUB_RUN_NUMBER": "1",
            "GITHUB_RUN_ID": "1",
            "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
            "GITHUB_REF_NAME": "main",
            "GITHUB_EVENT_NAME": "push",
            "GITHUB_REPOSITORY": "octo-org/bench",
            "GITHUB_JOB": "bench",
            "GITHUB_ACTION_PATH": str(REPO),
            "RUNNER_TEMP": tmp,
            "GITHUB_OUTPUT": str(work / "output"),
            "GITHUB_STEP_SUMMARY": str(work / "summary.md"),
            "SBCI_RUN": "true",
            "SBCI_STAGE": "test",
            "SBCI_SKILL": "pytest-run",
            "SBCI_TOKEN": TOKEN,
        }
        action = [*BASH, "-c", f'exec {args.python} "$GITHUB_ACTION_PATH/entrypoint.py"']

        with gunicorn(server_env, workers=2, log_dir=work) as server:
            sending = {**job, "SBCI_RECEIVER_URL": server.url}
            series: dict[str, Callable[[], int]] = {
                "true alone": lambda: subprocess.run([*BASH, str(script)], check=False).returncode,
                "wrapped, no receiver": lambda: (
                    subprocess.run(action, env=job, stdout=subprocess.DEVNULL, check=False).returncode
                ),
                "wrapped, receiver on loopback": lambda: (
                    subprocess.run(action, env=sending, stdout=subprocess.DEVNULL, check=False).returncode
                ),
            }
            for run in series.values():  # warm the page cache and the workers
                _timed(run)
            times: dict[str, list[float]] = {name: [] for name in series}
            for _ in range(args.runs):
                for name, run in series.items():
                    times[name].append(_timed(run))

        storage = SkillsStorage(str(db))
        try:
            stored = storage.count_invocations(pipeline_name="Bench")
        finally:
            storage.close()

    expected = args.runs + 1
    print(f"Action overhead, {args.runs} runs per series, {args.python}")
    for name, values in times.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"  {name:<30} median {median:7.1f} ms   p90 {p90:7.1f} ms")
    base = statistics.median(times["true alone"])
    added = statistics.median(times["wrapped, receiver on loopback"]) - base
    startup = statistics.median(times["wrapped, no receiver"]) - base
    print(f"  added per step (median): {added:.1f} ms, of which start-up and files {startup:.1f} ms")
    print(f"  target < {TARGET_MS:.0f} ms: {'met' if added < TARGET_MS else 'MISSED'}")
    print(f"  results stored by the receiver: {stored} of {expected}")
    return 0 if added < TARGET_MS and stored == expected else 1


if __name__ == "__main__":
    sys.exit(main())
