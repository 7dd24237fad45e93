"""Ingest throughput: ``POST /api/v1/stage-results`` against a bare endpoint.

Both run under gunicorn with the settings of ``session-buddy-ci serve``
(same workers, worker class, threads); the bare app parses the JSON and
answers 204. The same load tool (``wrk``, Debian package ``wrk``; a Python
load generator when it is missing) sends the same body with a new
``Idempotency-Key`` per request. Rounds alternate bare and receiver, so a
busy machine slows both alike. Afterwards every accepted result (201) must
be in ``skill_invocation``, exactly once.

Target: the receiver reaches at least 0.5 of the bare endpoint's req/s.

    python -m bench.ingest [--duration 8] [--rounds 3] [--connections 16]
"""

from __future__ import annotations

import argparse
import http.client
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

from receiver.cli.serve import default_workers, gunicorn_argv, gunicorn_options
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

# wrk: one Idempotency-Key per request (thread number, round, counter);
# statuses counted per thread and summed in done().
WRK_SCRIPT = """
local threads = {}
local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end
function init(args)
  statuses = {}
  counter = 0
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local body = '%(body)s'
function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = "%(prefix)s-" .. tid .. "-" .. counter
  return wrk.format(nil, nil, nil, body)
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write(string.format("STATUS %%d %%d\\n", k, v)) end
  io.write(string.format("ERRORS %%d\\n", summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
  io.write(string.format("DURATION_US %%d\\n", summary.duration))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_cpu_seconds(master: int) -> float:
    """CPU time (user + system) used so far by gunicorn's master and its
    live workers, from /proc (Linux). A busy machine stretches wall-clock
    figures; CPU per request stays comparable."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        # fields[1] is the parent pid; [11] utime, [12] stime (man 5 proc).
        if entry.name == str(master) or fields[1] == str(master):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


@contextmanager
def served(app: str, env: dict[str, str], argv: list[str], workdir: Path) -> Iterator[tuple[str, int]]:
    """gunicorn serving ``app`` until the block ends; yields its URL and
    the master's pid."""
    port = free_port()
    log = (workdir / f"gunicorn-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", app, *argv, "--bind", f"127.0.0.1:{port}"],
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
        # Warm every worker (imports, first connection) before measuring.
        for _ in range(50):
            _post(url, f"warm-{time.monotonic_ns()}")
        yield url, process.pid
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


def run_wrk(
    url: str, prefix: str, args: argparse.Namespace, workdir: Path
) -> tuple[float, Counter[int], int]:
    script = workdir / f"{prefix}.lua"
    script.write_text(
        WRK_SCRIPT % {"token": TOKEN, "body": json.dumps(BODY, separators=(",", ":")), "prefix": prefix}
    )
    out = subprocess.run(
        [
            "wrk",
            f"-t{args.wrk_threads}",
            f"-c{args.connections}",
            f"-d{args.duration}s",
            "-s",
            str(script),
            url + PATH,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    statuses: Counter[int] = Counter()
    errors, duration_us = 0, 1
    for line in out.splitlines():
        parts = line.split()
        if parts[:1] == ["STATUS"]:
            statuses[int(parts[1])] += int(parts[2])
        elif parts[:1] == ["ERRORS"]:
            errors = int(parts[1])
        elif parts[:1] == ["DURATION_US"]:
            duration_us = int(parts[1])
    return sum(statuses.values()) / (duration_us / 1e6), statuses, errors


def run_python(
    url: str, prefix: str, args: argparse.Namespace, workdir: Path
) -> tuple[float, Counter[int], int]:
    """A keep-alive load generator, for machines without wrk. It is slower
    than wrk (the GIL): absolute figures are lower, the ratio still holds."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(BODY).encode()
    statuses: Counter[int] = Counter()
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + args.duration

    def worker(n: int) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        count = 0
        while time.monotonic() < stop:
            count += 1
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {TOKEN}",
                "Idempotency-Key": f"{prefix}-{n}-{count}",
            }
            try:
                conn.request("POST", PATH, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                with lock:
                    statuses[response.status] += 1
            except (OSError, http.client.HTTPException):
                with lock:
                    errors += 1
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(statuses.values()) / (time.monotonic() - started), statuses, errors


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="bare/receiver pairs")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="0: as serve (one per CPU, 2 to 8)")
    parser.add_argument("--worker-class", default=None, help="override serve's worker class")
    parser.add_argument("--threads", type=int, default=None, help="override serve's threads per worker")
    parser.add_argument("--synchronous", default="NORMAL", choices=["NORMAL", "FULL"])
    args = parser.parse_args(argv)

    options = gunicorn_options(Settings(log_level="warning"), host="127.0.0.1", port=0, workers=args.workers)
    options.pop("bind")
    if args.worker_class:
        options["worker_class"] = args.worker_class
    if args.threads:
        options["threads"] = args.threads
    gunicorn = gunicorn_argv(options)
    load = run_wrk if shutil.which("wrk") else run_python
    if load is run_python:
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
    print(
        f"gunicorn: {options['workers']} workers ({default_workers()} by default here), "
        f"{options['worker_class']}, {options.get('threads', 1)} threads; load: "
        f"{'wrk' if load is run_wrk else 'python'} {args.connections} connections, "
        f"{args.duration}s × {args.rounds} rounds; SQLite synchronous={args.synchronous}"
    )
    bare_rates: list[float] = []
    receiver_rates: list[float] = []
    cpu: dict[str, list[float]] = {"bare": [], "receiver": []}
    accepted, refused = 0, Counter[int]()
    for round_no in range(args.rounds):
        for name, app in (("bare", "bench_bare_app:app"), ("receiver", "receiver.wsgi:app")):
            with served(app, env, gunicorn, workdir) as (url, master):
                before = server_cpu_seconds(master)
                rate, statuses, errors = load(url, f"{name}{round_no}", args, workdir)
                used = server_cpu_seconds(master) - before
            cpu[name].append(used / max(1, sum(statuses.values())) * 1e6)
            (bare_rates if name == "bare" else receiver_rates).append(rate)
        accepted += statuses[201]
        refused.update({s: n for s, n in statuses.items() if s != 201})
        print(
            f"round {round_no + 1}: bare {bare_rates[-1]:6.0f} req/s {cpu['bare'][-1]:5.0f} µs CPU/req"
            f" | receiver {rate:6.0f} req/s {cpu['receiver'][-1]:5.0f} µs CPU/req"
            f" | ratio {rate / bare_rates[-1]:.2f} (non-201: {dict(refused) or 0}, socket errors: {errors})"
        )
    warm = 50 * args.rounds  # the warm-up posts of each receiver start
    rows, keyed = count_rows(db)
    ratio = statistics.median(r / b for r, b in zip(receiver_rates, bare_rates, strict=True))
    bare_cpu, receiver_cpu = statistics.median(cpu["bare"]), statistics.median(cpu["receiver"])
    for label, rates, used in (
        ("bare endpoint: ", bare_rates, bare_cpu),
        ("stage results: ", receiver_rates, receiver_cpu),
    ):
        print(f"{label} {statistics.median(rates):8.0f} req/s, {used:5.0f} µs server CPU/req (medians)")
    print(
        f"ratio:          {ratio:8.2f}  (target >= {TARGET}); CPU per request: {bare_cpu / receiver_cpu:.2f}"
    )
    print(f"accepted (201): {accepted + warm} incl. {warm} warm-up; rows stored: {rows}; keyed: {keyed}")
    # Requests in flight when the load stopped may be stored without wrk
    # having counted their answer: at most one per connection and round.
    in_flight = rows - (accepted + warm)
    complete = rows == keyed and 0 <= in_flight <= args.connections * args.rounds
    print(
        "every accepted result stored exactly once:",
        "yes" if complete else "NO",
        f"({in_flight} more stored than counted: answers in flight when the load stopped)",
    )
    shutil.rmtree(workdir, ignore_errors=True)
    return 0 if complete and ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
