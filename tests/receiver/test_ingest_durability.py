"""Real gunicorn, 4 workers on one SQLite file, thousands of concurrent
results with retries, one worker killed with SIGKILL mid-load: every
acknowledged result is stored exactly once, and nothing says "database is
locked"."""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ..support.server import Server, gunicorn, wait_healthy
from ..support.stage import post_json, stage_body

TOKEN = "durability-token"
RESULTS = 3000
CLIENTS = 16
DEADLINE_SECONDS = 50


class Load:
    """Posts every result until it is acknowledged, retrying on network
    errors and 5xx; remembers each answer."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.acked: dict[int, tuple[int, dict[str, object]]] = {}
        self.unexpected: list[tuple[int, int, dict[str, object]]] = []
        self.retries = 0
        self.network_errors = 0
        self.bodies_5xx: list[str] = []
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + DEADLINE_SECONDS

    def send(self, n: int) -> None:
        body = stage_body(
            stage=("build", "test", "lint", "deploy")[n % 4],
            context={"build_number": f"b{n}"},
            duration_seconds=n % 97 + 0.5,
        )
        while time.monotonic() < self.deadline:
            try:
                status, answer = post_json(self.server.url, body, token=TOKEN, key=f"key-{n}", timeout=10)
            except (OSError, http.client.HTTPException):  # reset, refused, cut short by the kill
                status, answer = 0, {}
                with self.lock:
                    self.network_errors += 1
            if status in (200, 201):
                with self.lock:
                    self.acked[n] = (status, answer)
                return
            with self.lock:
                self.retries += 1
                if status >= 500:
                    self.bodies_5xx.append(str(answer))
                elif status:
                    self.unexpected.append((n, status, answer))
                    return
            time.sleep(0.02)


def _kill_one_worker(server: Server, load: Load, killed: list[int]) -> None:
    while time.monotonic() < load.deadline and len(load.acked) < RESULTS // 3:
        time.sleep(0.005)
    pids = server.worker_pids()
    if pids:
        os.kill(pids[0], signal.SIGKILL)
        killed.append(pids[0])


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_every_acknowledged_result_stored_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "ingest.db"
    env = {
        "SESSION_BUDDY_CI_DATABASE_URL": f"sqlite:///{db}",
        "SESSION_BUDDY_CI_API_TOKENS": TOKEN,
        "SESSION_BUDDY_CI_LOG_LEVEL": "WARNING",
    }
    with gunicorn(env, workers=4, log_dir=tmp_path) as server:
        assert len(server.worker_pids()) == 4
        load = Load(server)
        killed: list[int] = []
        killer = threading.Thread(target=_kill_one_worker, args=(server, load, killed))
        killer.start()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(load.send, range(RESULTS)))
        killer.join()
        # gunicorn replaces the killed worker.
        respawn_deadline = time.monotonic() + 20
        while len(server.worker_pids()) != 4 or killed[0] in server.worker_pids():
            assert time.monotonic() < respawn_deadline, "the killed worker was not replaced"
            time.sleep(0.05)
        log = server.log()

    duplicates = sum(1 for status, _ in load.acked.values() if status == 200)
    print(f"retries {load.retries}, network errors {load.network_errors}, duplicates {duplicates}")
    assert killed, "no worker was killed"
    assert f"pid:{killed[0]}" in log and "SIGKILL" in log
    assert load.unexpected == []
    assert len(load.acked) == RESULTS, f"{RESULTS - len(load.acked)} results never acknowledged"
    assert "database is locked" not in log
    assert not any("locked" in body for body in load.bodies_5xx)

    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        per_build: dict[str, int] = dict(
            conn.execute(
                text("SELECT build_number, count(*) FROM skill_invocation GROUP BY build_number")
            ).all()
        )
        keys: dict[str, str] = dict(
            conn.execute(
                text(
                    "SELECT r.idempotency_key, i.build_number FROM stage_result_request r "
                    "JOIN skill_invocation i ON i.id = r.invocation_id"
                )
            ).all()
        )
        builds_by_id: dict[object, str] = dict(
            conn.execute(text("SELECT id, build_number FROM skill_invocation")).all()
        )
        runs = conn.execute(text("SELECT sum(runs) FROM stage_daily")).scalar_one()
    engine.dispose()

    # Exactly once: one row per result, each key pointing at its own row.
    assert set(per_build) == {f"b{n}" for n in range(RESULTS)}
    assert set(per_build.values()) == {1}
    assert keys == {f"key-{n}": f"b{n}" for n in range(RESULTS)}
    # The answers name the stored rows, and the rollups counted each once.
    assert {n: builds_by_id[answer["id"]] for n, (_, answer) in load.acked.items()} == {
        n: f"b{n}" for n in range(RESULTS)
    }
    assert runs == RESULTS


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_result_survives_a_kill_right_after_the_answer(tmp_path: Path) -> None:
    """SIGKILL every worker the moment a 201 arrives: the row is already in
    the database file (the commit came before the answer)."""
    db = tmp_path / "kill.db"
    env = {"SESSION_BUDDY_CI_DATABASE_URL": f"sqlite:///{db}", "SESSION_BUDDY_CI_API_TOKENS": TOKEN}
    with gunicorn(env, workers=2, log_dir=tmp_path) as server:
        for n in range(3):
            status, answer = post_json(
                server.url, stage_body(context={"build_number": f"k{n}"}), token=TOKEN, key=f"kill-{n}"
            )
            pids = server.worker_pids()
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            assert status == 201
            engine = create_engine(f"sqlite:///{db}")
            with engine.connect() as conn:
                stored = conn.execute(
                    text("SELECT build_number FROM skill_invocation WHERE id = :id"), {"id": answer["id"]}
                ).scalar_one_or_none()
            engine.dispose()
            assert stored == f"k{n}"
            wait_healthy(server.url, server.process)
            deadline = time.monotonic() + 20
            while set(server.worker_pids()) & set(pids) or len(server.worker_pids()) != 2:
                assert time.monotonic() < deadline
                time.sleep(0.05)
