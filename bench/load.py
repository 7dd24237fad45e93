"""HTTP load for the benchmarks: ``wrk`` (or a slower Python client) posting
one JSON body with a new ``Idempotency-Key`` per request, and what the
server used meanwhile, read from ``/proc`` (Linux).

Two ways to connect, because they load gunicorn differently:

- keep-alive: each of the ``connections`` stays open for the whole run, so
  a connection's worker is chosen once, when it is accepted. Which worker
  accepts is a race between their accept loops, and it often goes one way:
  16 connections split 8+8 in one run and 16+0 in the next, and a bare
  Flask endpoint then runs at ~6,000 or ~2,000 req/s. :func:`connections_by_worker`
  shows the split of a run.
- per request (``close``): a new connection for every request, as the
  Action sends its results (``urllib``, ``Connection: close``). Workers
  take connections as they free up; runs repeat within a few per cent.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# One Idempotency-Key per request (thread number, prefix, counter);
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
%(headers)s
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


@dataclass(frozen=True)
class Load:
    """What to send: ``body`` as JSON to ``path``, ``connections`` at a
    time for ``duration`` seconds, keep-alive or one connection per request."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    duration: float
    connections: int
    close: bool = False
    wrk_threads: int = 2

    @property
    def mode(self) -> str:
        return "per request" if self.close else "keep-alive"


@dataclass(frozen=True)
class Outcome:
    rate: float  # answered requests per second
    statuses: Counter[int]
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat_fields(pid: str) -> list[str] | None:
    try:
        return (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None  # exited meanwhile


def _family(master: int) -> dict[str, list[str]]:
    """``master`` and its children (the gunicorn workers): their
    ``/proc/<pid>/stat`` fields after the command name, by pid."""
    family = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(entry.name)
            # fields[1] is the parent pid (man 5 proc).
            if fields is not None and (entry.name == str(master) or fields[1] == str(master)):
                family[entry.name] = fields
    return family


def server_cpu_seconds(master: int) -> float:
    """CPU time (user + system) used so far by gunicorn's master and its
    live workers. A busy machine stretches wall-clock figures; CPU per
    request stays comparable."""
    tick = os.sysconf("SC_CLK_TCK")
    # [11] utime, [12] stime
    return sum(int(f[11]) + int(f[12]) for f in _family(master).values()) / tick


def wait_until_idle(master: int, workers: int, quiet: float = 0.5, timeout: float = 60.0) -> None:
    """Wait until ``master`` has ``workers`` workers and none of the
    family used CPU for ``quiet`` seconds: every worker has booted. The
    port accepts as soon as the master listens, while a worker may still be
    importing the app; a load started then lands every keep-alive
    connection on the workers that are ready (16+0 instead of ~8+8)."""
    deadline = time.monotonic() + timeout
    tick = 1 / os.sysconf("SC_CLK_TCK")
    while time.monotonic() < deadline:
        before = len(_family(master)) - 1, server_cpu_seconds(master)
        time.sleep(quiet)
        after = len(_family(master)) - 1, server_cpu_seconds(master)
        if before[0] == after[0] >= workers and after[1] - before[1] <= tick:
            return
    raise TimeoutError(f"gunicorn's {workers} workers were still busy after {timeout:.0f} s")


def connections_by_worker(master: int, port: int) -> list[int]:
    """How many established connections to ``port`` each worker of
    ``master`` holds, busiest first (``/proc/net/tcp*`` and the workers'
    open sockets)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local address "HEX_IP:HEX_PORT", state 01 = ESTABLISHED, inode.
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                inodes.add(fields[9])
    counts = []
    for pid in _family(master):
        if pid == str(master):
            continue
        held = 0
        try:
            for fd in (Path("/proc") / pid / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    held += 1
        except OSError:
            continue
        counts.append(held)
    return sorted(counts, reverse=True)


def run_wrk(url: str, load: Load, prefix: str, workdir: Path) -> Outcome:
    headers = dict(load.headers)
    if load.close:
        headers["Connection"] = "close"
    script = workdir / f"{prefix}.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "headers": "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()),
            "body": json.dumps(load.body, separators=(",", ":")),
            "prefix": prefix,
        }
    )
    argv = ["wrk", f"-t{load.wrk_threads}", f"-c{load.connections}", f"-d{load.duration}s"]
    out = subprocess.run(
        [*argv, "-s", str(script), url + load.path], capture_output=True, text=True, check=True
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
    return Outcome(sum(statuses.values()) / (duration_us / 1e6), statuses, errors)


def run_python(url: str, load: Load, prefix: str, workdir: Path) -> Outcome:
    """A load generator for machines without wrk. It is slower than wrk
    (the GIL): absolute figures are lower, the ratio still holds."""
    del workdir
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(load.body).encode()
    statuses: Counter[int] = Counter()
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + load.duration

    def worker(n: int) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        count = 0
        while time.monotonic() < stop:
            count += 1
            headers = {**load.headers, "Idempotency-Key": f"{prefix}-{n}-{count}"}
            if load.close:
                headers["Connection"] = "close"
            try:
                conn.request("POST", load.path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                with lock:
                    statuses[response.status] += 1
                if load.close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                with lock:
                    errors += 1
                conn.close()
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(load.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Outcome(sum(statuses.values()) / (time.monotonic() - started), statuses, errors)
