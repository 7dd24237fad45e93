"""A real gunicorn serving the receiver on 127.0.0.1, for end-to-end tests
and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """PIDs of the gunicorn workers (children of the master)."""
        out = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(p) for p in out.split()]


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Poll ``/healthz`` until it answers 200; fail fast if the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not healthy after {timeout}s")


def serve_args() -> tuple[str, ...]:
    """gunicorn flags of ``session-buddy-ci serve`` (its config file, worker
    class and concurrency), but for bind, workers and the graceful timeout, which
    :func:`gunicorn` sets."""
    from receiver.cli.serve import config_argv, gunicorn_argv, gunicorn_options
    from tracker.settings import Settings

    options = gunicorn_options(Settings(), host="127.0.0.1", port=1, workers=1)
    for name in ("bind", "workers", "graceful_timeout"):
        options.pop(name)
    return (*config_argv(), *gunicorn_argv(options))


@contextmanager
def gunicorn(
    env: Mapping[str, str],
    *,
    workers: int = 2,
    log_dir: Path,
    extra_args: tuple[str, ...] | None = None,
) -> Iterator[Server]:
    """Run ``gunicorn receiver.wsgi:app`` (as ``serve`` runs it) on a free loopback port with the
    given ``SESSION_BUDDY_CI_*`` environment and ``serve``'s worker settings
    (or ``extra_args``); stop it afterwards."""
    from receiver.cli.serve import gunicorn_program

    port = free_port()
    log_path = log_dir / f"gunicorn-{port}.log"
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **env}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *gunicorn_program(),
                "receiver.wsgi:app",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--graceful-timeout",
                "5",
                *(serve_args() if extra_args is None else extra_args),
            ],
            cwd=REPO,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_healthy(server.url, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
