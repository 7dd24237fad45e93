"""Webhook acknowledgements under load: signed ``workflow_job.completed``
deliveries to the receiver under gunicorn on loopback.

Each delivery is the real fixture
(``workflow_job/completed.success.with-organization``) with its own
delivery id and job id, signed with HMAC-SHA256; ``--runs`` ``workflow_run``
deliveries go first (the jobs are spread over them) so every job becomes
stages. Clients post with
keep-alive connections, ``--concurrency`` at a time. Printed: acknowledgements
per second, p50/p99 acknowledgement latency (from sending the request to
reading the answer), then — once the background workers have applied
everything — the rows counted in the database.

Targets: p99 acknowledgement latency under 100 ms; zero lost deliveries
(every acknowledged delivery stored and processed, its job and steps in
the tables).

    python -m bench.webhook_load [--deliveries 2000] [--concurrency 16] [--workers N]
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from receiver.cli.serve import THREADS, config_argv, default_workers
from tests.support.server import gunicorn
from tests.support.webhook_client import Ack, WebhookPoster
from tracker.settings import Settings
from tracker.storage import SkillsStorage

REPO = Path(__file__).resolve().parent.parent
HOOKS = REPO / "tests" / "samples" / "github-webhooks"
SECRET = "bench-webhook-secret"  # noqa: S105 (a throwaway receiver's secret)
RUN_ID = 2202229078
P99_TARGET = 0.100


def _fixture(name: str) -> dict[str, Any]:
    data = json.loads((HOOKS / name).read_text())
    assert isinstance(data, dict)
    return data


def deliveries(count: int, runs: int) -> list[tuple[str, bytes]]:
    """(delivery id, body) of ``count`` distinct job deliveries, spread
    over ``runs`` runs (20 jobs a run for the defaults)."""
    base = _fixture("workflow_job/completed.success.with-organization.payload.json")
    out = []
    for i in range(count):
        payload = copy.deepcopy(base)
        payload["workflow_job"].update(id=50_000_000 + i, run_id=RUN_ID + i % runs, name=f"job {i // runs}")
        out.append((f"bench-{i:06d}-0000-4000-8000-000000000000", json.dumps(payload).encode()))
    return out


def run_deliveries(runs: int) -> list[tuple[str, bytes]]:
    """The ``workflow_run.completed`` deliveries of those runs."""
    base = _fixture("workflow_run/completed.payload.json")
    out = []
    for r in range(runs):
        payload = copy.deepcopy(base)
        payload["workflow_run"].update(id=RUN_ID + r, run_number=1000 + r)
        out.append((f"bench-run-{r:05d}", json.dumps(payload).encode()))
    return out


def _client_process(
    url: str, event: str, items: list[tuple[str, bytes]], connections: int, start_at: float
) -> tuple[list[Ack], float, float]:
    """One client process: ``connections`` keep-alive connections (one
    thread each) sharing ``items``; returns the answers and when it began
    and ended (``time.monotonic``, the same clock in every process)."""
    acks: list[Ack] = []
    lock = threading.Lock()
    position = iter(range(len(items)))

    def client() -> None:
        poster = WebhookPoster(url, SECRET)
        try:
            while True:
                with lock:
                    i = next(position, None)
                if i is None:
                    return
                delivery, body = items[i]
                ack = poster.post(event, body, delivery)
                with lock:
                    acks.append(ack)
        finally:
            poster.close()

    threads = [threading.Thread(target=client) for _ in range(connections)]
    time.sleep(max(0.0, start_at - time.monotonic()))  # every process starts together
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return acks, began, time.monotonic()


def _post_all(
    url: str, event: str, items: list[tuple[str, bytes]], concurrency: int, processes: int = 4
) -> tuple[list[Ack], float]:
    """Post ``items`` over ``concurrency`` connections spread over client
    processes (so the load generator's own GIL does not inflate the
    latencies it measures); return every answer and the wall time."""
    processes = max(1, min(processes, concurrency))
    shares = [items[i::processes] for i in range(processes)]
    per = [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]
    start_at = time.monotonic() + 1.0
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.starmap(
            _client_process, [(url, event, share, n, start_at) for share, n in zip(shares, per, strict=True)]
        )
    acks = [a for r in results for a in r[0]]
    return acks, max(r[2] for r in results) - min(r[1] for r in results)


def _wait_processed(storage: SkillsStorage, expected: int, timeout: float) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if storage.delivery_counts().get("processed", 0) >= expected:
            break
        time.sleep(0.2)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook_load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=100, help="workflow runs the jobs belong to")
    parser.add_argument("--client-processes", type=int, default=4, help="load generator processes")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: as `serve`)")
    parser.add_argument(
        "--worker-class", default="gevent", choices=["gevent", "gthread"], help="as `serve` (default: gevent)"
    )
    parser.add_argument("--drain-timeout", type=float, default=600.0, help="seconds to wait for processing")
    args = parser.parse_args(argv)
    workers = args.workers or default_workers()
    items = deliveries(args.deliveries, args.runs)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        db = Path(tmp) / "webhooks.db"
        env = {
            "SESSION_BUDDY_CI_DATABASE_URL": f"sqlite:///{db}",
            "SESSION_BUDDY_CI_WEBHOOK_SECRETS": SECRET,
            "SESSION_BUDDY_CI_GITHUB_TOKEN": "",
            "SESSION_BUDDY_CI_LOG_LEVEL": "WARNING",
        }
        extra: tuple[str, ...] = (*config_argv(), "--worker-class", args.worker_class)
        if args.worker_class == "gthread":
            extra += ("--threads", str(THREADS))
        with gunicorn(env, workers=workers, log_dir=Path(tmp), extra_args=extra) as server:
            run_acks, _ = _post_all(server.url, "workflow_run", run_deliveries(args.runs), 4, 1)
            assert {a.status for a in run_acks} == {202}
            acks, elapsed = _post_all(
                server.url, "workflow_job", items, args.concurrency, args.client_processes
            )
            storage = SkillsStorage(settings=Settings(database_url=f"sqlite:///{db}"))
            drain = _wait_processed(storage, args.deliveries + args.runs, timeout=args.drain_timeout)
            counts = storage.delivery_counts()
            rows = storage.count_github_rows()
            steps = storage.count_invocations(source="webhook")
            storage.close()
    accepted = [a for a in acks if a.status == 202]
    latencies = sorted(a.seconds for a in acks)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    p50, p99 = statistics.median(latencies), cuts[98]
    steps_per_job = len(
        _fixture("workflow_job/completed.success.with-organization.payload.json")["workflow_job"]["steps"]
    )
    lost = (args.deliveries + args.runs - counts.get("processed", 0)) + (args.deliveries - rows["github_job"])
    lost += args.deliveries * steps_per_job - steps
    rate = len(accepted) / elapsed
    expected_steps = args.deliveries * steps_per_job
    print(
        f"webhook load: {args.deliveries} signed workflow_job.completed deliveries, "
        f"concurrency {args.concurrency} ({args.client_processes} client processes), "
        f"gunicorn {workers} {args.worker_class} workers"
        f"{f' x {THREADS} threads' if args.worker_class == 'gthread' else ''}, "
        f"{os.cpu_count()} CPUs, load average {load:.1f} at the start"
    )
    print(f"  acknowledged: {len(accepted)}/{len(acks)} (202) in {elapsed:.2f} s = {rate:,.0f} acks/s")
    print(
        f"  acknowledgement latency: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms (target p99 < {P99_TARGET * 1000:.0f} ms)"
    )
    print(
        f"  processed in the background within {drain:.1f} s of the last answer "
        f"({args.deliveries / (elapsed + drain):,.0f} deliveries/s end to end)"
    )
    print(
        f"  rows after: webhook_delivery {counts} ({args.runs} runs + {args.deliveries} jobs), "
        f"github_run {rows['github_run']}, "
        f"github_job {rows['github_job']}, step invocations {steps} (expected {expected_steps})"
    )
    ok = p99 < P99_TARGET and lost == 0 and len(accepted) == args.deliveries
    print(f"  {'PASS' if ok else 'FAIL'}: p99 {'<' if p99 < P99_TARGET else '>='} 100 ms, {lost} lost")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
