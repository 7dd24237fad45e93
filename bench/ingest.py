"""Ingest throughput: ``POST /api/v1/stage-results`` against a bare endpoint.

Both run under gunicorn with the settings of ``session-buddy-ci serve``
(same config file, workers, worker class, threads); the bare app parses
the JSON and answers 204. The same load tool (``wrk``, Debian package ``wrk``; a Python
load generator when it is missing) sends the same body with a new
``Idempotency-Key`` per request, in two ways (``bench/load.py`` tells why
both): keep-alive connections, and a new connection per request as the
Action sends. Rounds alternate bare and receiver, so a busy machine slows
both alike; keep-alive rounds print how the connections were spread over
the workers. Afterwards every accepted result (201) must be in
``skill_invocation``, exactly once.

Target: the receiver reaches at least 0.5 of the bare endpoint's req/s.

    python -m bench.ingest [--duration 8] [--rounds 3] [--connections 16] [--mode both]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.load import (
    Load,
    Outcome,
    connections_by_worker,
    free_port,
    run_python,
    run_wrk,
    server_cpu_seconds,
    wait_until_idle,
)
from receiver.cli.serve import config_argv, default_workers, gunicorn_argv, gunicorn_options, gunicorn_program
from tracker.settings import Settings

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"  # noqa: S105  (a throwaway receiver)
PATH = "/api/v1/stage-results"
TARGET = 0.5

BODY = {
    "context": {
        "pipeline_name": "Bench",
        "build_number": "42",
        "git_commit": "abc1234def",
        "git_branch": "main",
        "environment": "ci",
        "triggered_by": "push",
        "repository": "octo-org/bench",
        "run_id": "99",
        "run_attempt": 1,
        "job": "test",
    },
    "stage": "test",
    "skill": "pytest-run",
    "success": True,
    "duration_seconds": 12.5,
    "exit_code": 0,
}

BARE_APP = """
from flask import Flask, request

app = Flask(__name__)


@app.post("/api/v1/stage-results")
def bare():
    request.get_json()
    return "", 204
"""


@contextmanager
def served(app: str, env: dict[str, str], argv: list[str], workdir: Path) -> Iterator[tuple[str, int, int]]:
    """gunicorn serving ``app`` until the block ends; yields its URL, port
    and the master's pid."""
    port = free_port()
    log = (workdir / f"gunicorn-{port}.log").open("wb")
    process = subprocess.Popen(
        [*gunicorn_program(), app, *argv, "--bind", f"127.0.0.1:{port}"],
        cwd=REPO,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(workdir), str(REPO), os.environ.get("PYTHONPATH")])
            ),
            "HF_HUB_OFFLINE": "1",
            **env,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn {app} exited; see {log.name}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"gunicorn {app} did not start") from None
                time.sleep(0.05)
        workers = int(argv[argv.index("--workers") + 1])
        wait_until_idle(process.pid, workers)
        # Warm every worker (imports, first connection) before measuring.
        for _ in range(50):
            _post(url, f"warm-{time.monotonic_ns()}")
        wait_until_idle(process.pid, workers)
        yield url, port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _post(url: str, key: str) -> int:
    request = urllib.request.Request(
        url + PATH,
        data=json.dumps(BODY).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {TOKEN}",
            "Idempotency-Key": key,
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def count_rows(db: Path) -> tuple[int, int]:
    """(rows in skill_invocation, distinct idempotency keys pointing at them)."""
    from tracker.storage import SkillsStorage

    storage = SkillsStorage(f"sqlite:///{db}", settings=Settings(database_url=f"sqlite:///{db}"))
    try:
        with storage.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT count(*) FROM skill_invocation").scalar_one()
            keys = conn.exec_driver_sql(
                "SELECT count(DISTINCT r.invocation_id) FROM stage_result_request r "
                "JOIN skill_invocation i ON i.id = r.invocation_id"
            ).scalar_one()
    finally:
        storage.close()
    return int(rows), int(keys)


def same_spread(a: list[int], b: list[int], slack: int | None = None) -> bool:
    """Whether two runs spread their keep-alive connections over the
    workers alike (busiest first, within ``slack`` a worker: by default an
    eighth of the connections, at least 2): only then do their rates compare.

    >>> same_spread([9, 7], [8, 8]), same_spread([16], [8, 8])
    (True, False)
    >>> same_spread([38, 26], [33, 31]), same_spread([44, 20], [32, 32])
    (True, False)
    """
    if slack is None:
        slack = max(2, max(sum(a), sum(b)) // 8)
    width = max(len(a), len(b))
    padded = [x + [0] * (width - len(x)) for x in (a, b)]
    return all(abs(x - y) <= slack for x, y in zip(*padded, strict=True))


def measure(
    app: str, load: Load, prefix: str, env: dict[str, str], gunicorn: list[str], workdir: Path
) -> tuple[Outcome, float, list[int]]:
    """One run of ``load`` against ``app``: the outcome, server CPU µs a
    request, and (keep-alive) the connections each worker held halfway."""
    generate = run_wrk if shutil.which("wrk") else run_python
    with served(app, env, gunicorn, workdir) as (url, port, master):
        spread: list[int] = []
        sampler = threading.Timer(
            load.duration / 2, lambda: spread.extend(connections_by_worker(master, port))
        )
        if not load.close:
            sampler.start()
        before = server_cpu_seconds(master)
        outcome = generate(url, load, prefix, workdir)
        used = server_cpu_seconds(master) - before
        sampler.cancel()
    return outcome, used / max(1, sum(outcome.statuses.values())) * 1e6, spread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="bare/receiver pairs per mode")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--mode", choices=["keep-alive", "per-request", "both"], default="both")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="0: as serve (one per CPU, 2 to 8)")
    parser.add_argument(
        "--worker-class",
        default="gevent",
        choices=["gevent", "gthread"],
        help="as SESSION_BUDDY_CI_WORKER_CLASS",
    )
    parser.add_argument("--threads", type=int, default=None, help="gthread: threads per worker")
    parser.add_argument("--synchronous", default="NORMAL", choices=["NORMAL", "FULL"])
    args = parser.parse_args(argv)

    settings = Settings(log_level="warning", worker_class=args.worker_class)
    options = gunicorn_options(settings, host="127.0.0.1", port=0, workers=args.workers)
    options.pop("bind")
    if args.threads:
        options["threads"] = args.threads
    gunicorn = [*config_argv(), *gunicorn_argv(options)]
    if not shutil.which("wrk"):
        print("wrk not found (Debian: apt-get install wrk); using the slower Python load generator")

    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    (workdir / "bench_bare_app.py").write_text(BARE_APP)
    db = workdir / "ingest.db"
    env = {
        "SESSION_BUDDY_CI_DATABASE_URL": f"sqlite:///{db}",
        "SESSION_BUDDY_CI_API_TOKENS": TOKEN,
        "SESSION_BUDDY_CI_SQLITE_SYNCHRONOUS": args.synchronous,
        "SESSION_BUDDY_CI_LOG_LEVEL": "WARNING",
    }
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    modes = [False, True] if args.mode == "both" else [args.mode == "per-request"]
    loads = [
        Load(PATH, BODY, headers, args.duration, args.connections, close, args.wrk_threads) for close in modes
    ]
    print(
        f"gunicorn: {options['workers']} workers ({default_workers()} by default here), "
        f"{options['worker_class']}"
        f"{', ' + str(options['threads']) + ' threads' if 'threads' in options else ''}; load: "
        f"{'wrk' if shutil.which('wrk') else 'python'} {args.connections} connections, "
        f"{args.duration}s × {args.rounds} rounds; SQLite synchronous={args.synchronous}"
    )
    accepted, refused, socket_errors = 0, Counter[int](), 0
    ratios: dict[str, float] = {}
    for load in loads:
        print(f"-- {load.mode}")
        rates: dict[str, list[float]] = {"bare": [], "receiver": []}
        cpu: dict[str, list[float]] = {"bare": [], "receiver": []}
        compared: list[float] = []  # ratios of rounds whose two runs were loaded alike
        for round_no in range(args.rounds):
            line, spreads = [], []
            for name, app in (("bare", "bench_bare_app:app"), ("receiver", "receiver.wsgi:app")):
                prefix = f"{name}{round_no}{'c' if load.close else 'k'}"
                outcome, used, spread = measure(app, load, prefix, env, gunicorn, workdir)
                rates[name].append(outcome.rate)
                cpu[name].append(used)
                spreads.append(spread)
                socket_errors += outcome.errors
                if name == "receiver":
                    accepted += outcome.statuses[201]
                    refused.update({s: n for s, n in outcome.statuses.items() if s != 201})
                where = f" [{'+'.join(map(str, spread))}]" if spread else ""
                line.append(f"{name} {outcome.rate:6.0f} req/s {used:5.0f} µs CPU/req{where}")
            ratio = rates["receiver"][-1] / rates["bare"][-1]
            alike = load.close or same_spread(spreads[0], spreads[1])
            if alike:
                compared.append(ratio)
            note = "" if alike else " (connections spread unlike: not compared)"
            print(f"round {round_no + 1}: {' | '.join(line)} | ratio {ratio:.2f}{note}")
        ratios[load.mode] = statistics.median(compared) if compared else 0.0
        for name, label in (("bare", "bare endpoint:"), ("receiver", "stage results:")):
            print(
                f"{label:15} {statistics.median(rates[name]):8.0f} req/s, "
                f"{statistics.median(cpu[name]):5.0f} µs server CPU/req (medians)"
            )
        if compared:
            print(
                f"ratio:          {ratios[load.mode]:8.2f}  (target >= {TARGET}; "
                f"median of {len(compared)} comparable rounds)"
            )
        else:
            print("ratio:          none: no round spread its connections alike; run more --rounds")
    print(f"non-201 answers: {dict(refused) or 0}; socket errors: {socket_errors}")
    starts = args.rounds * len(loads)
    warm = 50 * starts  # the warm-up posts of each receiver start
    rows, keyed = count_rows(db)
    print(f"accepted (201): {accepted + warm} incl. {warm} warm-up; rows stored: {rows}; keyed: {keyed}")
    # Requests in flight when the load stopped may be stored without wrk
    # having counted their answer: at most one per connection and run.
    in_flight = rows - (accepted + warm)
    complete = rows == keyed and 0 <= in_flight <= args.connections * starts
    print(
        "every accepted result stored exactly once:",
        "yes" if complete else "NO",
        f"({in_flight} more stored than counted: answers in flight when the load stopped)",
    )
    shutil.rmtree(workdir, ignore_errors=True)
    return 0 if complete and all(r >= TARGET for r in ratios.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
