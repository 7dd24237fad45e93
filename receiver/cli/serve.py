"""``session-buddy-ci serve``: the receiver under gunicorn.

The command reads the settings, makes sure there is an API token, and
migrates the database once; then it becomes ``gunicorn receiver.wsgi:app``
(:func:`gunicorn_command`), whose workers each build the app from the
same settings, handed over in the environment.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from tracker.errors import TrackerError
from tracker.settings import PREFIX, Settings
from tracker.storage import SkillsStorage, database_url
from tracker.storage.base import shown_url

from ..apitoken import ensure_api_token
from ..github_client import GitHubClients
from ..webhooks import check_settings as check_webhook_settings
from .common import State

log = logging.getLogger("session_buddy_ci.serve")

#: Threads per ``gthread`` worker. Requests of one worker that arrive
#: together share a database transaction (group commit), so threads raise
#: the write throughput; they cost memory, little CPU.
THREADS = 8
#: Connections a ``gevent`` worker serves at once (gunicorn's default).
WORKER_CONNECTIONS = 1000
MAX_AUTO_WORKERS = 8


def default_workers(cpus: int | None = None) -> int:
    """One worker per CPU (at least 2, at most 8).

    SQLite has one writer at a time: processes beyond the CPUs only queue
    for its lock, while the requests of one process batch into one commit.
    Measured on 2 CPUs (bench/ingest.py, gthread): 2 workers × 8 threads
    took 2,370–2,520 results/s at 660–700 µs of CPU each; 5 × 4,
    880–2,130/s at 770–1,250 µs.

    >>> default_workers(1), default_workers(2), default_workers(16)
    (2, 2, 8)
    """
    count = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(2, min(count, MAX_AUTO_WORKERS))


def gunicorn_options(settings: Settings, *, host: str, port: int, workers: int) -> dict[str, Any]:
    """The gunicorn settings of ``serve`` (the benchmark uses them too).

    The ``gevent`` worker is the default: its requests are greenlets, which
    hand the GIL and the group commit's batches to each other without the
    kernel. Measured on 2 CPUs (bench/ingest.py), a stored result cost
    ~600 µs of CPU against ~800-1,000 µs with ``gthread`` threads.
    """
    concurrency: dict[str, Any] = (
        {"worker_connections": WORKER_CONNECTIONS}
        if settings.worker_class == "gevent"
        else {"threads": THREADS}
    )
    return {
        "bind": f"{host}:{port}",
        "workers": workers or default_workers(),
        "worker_class": settings.worker_class,
        **concurrency,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "loglevel": settings.log_level.lower(),
        "errorlog": "-",
        "proc_name": "session-buddy-ci",
        # One control socket per user would be shared by every receiver
        # running as that user; serve needs none.
        "control_socket_disable": True,
    }


def gunicorn_argv(options: dict[str, Any]) -> list[str]:
    """``options`` as gunicorn command-line flags (for ``python -m gunicorn``).

    >>> gunicorn_argv({"bind": "127.0.0.1:8080", "worker_class": "gthread",
    ...                "control_socket_disable": True})
    ['--bind', '127.0.0.1:8080', '--worker-class', 'gthread', '--no-control-socket']
    """
    from gunicorn.config import Config

    known = Config().settings
    argv: list[str] = []
    for name, value in options.items():
        flag = next(f for f in known[name].cli if f.startswith("--"))
        if isinstance(value, bool):
            argv += [flag] if value else []
        else:
            argv += [flag, str(value)]
    return argv


#: gunicorn's configuration file for serve: its server hooks (see the file).
#: Named by path: as ``python:receiver.gunicorn_config`` the master would
#: import the ``receiver`` package, and with it ``ssl``, before gevent
#: patches it.
GUNICORN_CONFIG = Path(__file__).resolve().parent.parent / "gunicorn_config.py"


def config_argv() -> list[str]:
    """The flag that names :data:`GUNICORN_CONFIG`, for every gunicorn that
    serves the receiver as ``serve`` does (tests and benchmarks too)."""
    return ["--config", str(GUNICORN_CONFIG)]


#: The program ``serve`` runs: gunicorn's command line that keeps the working
#: directory off ``sys.path`` (see the file).
GUNICORN_MAIN = Path(__file__).resolve().parent.parent / "gunicorn_main.py"


def gunicorn_program() -> list[str]:
    """The interpreter and program that run gunicorn as ``serve`` does:
    ``python -P receiver/gunicorn_main.py``. ``-P`` keeps the interpreter
    from putting that file's directory on ``sys.path``, and the program
    keeps gunicorn from putting the working directory there."""
    return [sys.executable, "-P", str(GUNICORN_MAIN)]


def gunicorn_command(options: dict[str, Any]) -> list[str]:
    """The command ``serve`` becomes: gunicorn serving ``receiver.wsgi:app``.

    A fresh interpreter, not this one: gevent must patch the standard
    library before ``ssl`` is imported, and this process has imported it
    already (PyGithub, for the CLI's other commands). gunicorn's gevent
    worker patches first and only then imports the app.

    >>> command = gunicorn_command({"workers": 2})
    >>> command[1], command[2].endswith("gunicorn_main.py"), command[5:]
    ('-P', True, ['receiver.wsgi:app', '--workers', '2'])
    """
    return [
        *gunicorn_program(),
        *config_argv(),
        "receiver.wsgi:app",
        *gunicorn_argv(options),
    ]


@click.command()
@click.option("--host", default=None, help="Address to bind (default: SESSION_BUDDY_CI_HOST, 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port to bind (default: SESSION_BUDDY_CI_PORT, 8080).",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=None,
    help="gunicorn workers; 0 means one per CPU, 2 to 8 (default: SESSION_BUDDY_CI_WORKERS).",
)
@click.option("--database", metavar="URL_OR_PATH", default=None, help="Database URL or SQLite file.")
@click.pass_obj
def serve(
    state: State, host: str | None, port: int | None, workers: int | None, database: str | None
) -> None:
    """Run the receiver (API, webhooks, dashboard) under gunicorn."""
    settings = state.settings
    if database:
        settings = settings.with_(database_url=database_url(database))
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings, _token_file = ensure_api_token(settings)
    except OSError as exc:
        raise click.ClickException(f"cannot keep an API token in the data directory: {exc}") from exc
    try:
        # Migrate once here, before the fork: workers then find nothing to do.
        SkillsStorage(settings=settings).close()
        # Settings the workers would fail to boot on, said here in a line.
        check_webhook_settings(settings)
        GitHubClients(settings).check()
    except (TrackerError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    options = gunicorn_options(
        settings,
        host=host or settings.host,
        port=port or settings.port,
        workers=settings.workers if workers is None else workers,
    )
    log.info(
        "serving %s on http://%s with %s %s workers",
        shown_url(settings.resolved_database_url),
        options["bind"],
        options["workers"],
        options["worker_class"],
    )
    # The workers build their app from the environment: hand over what this
    # command worked out (the database URL, the token from its file).
    if any("," in token for token in settings.api_tokens):
        raise click.ClickException("an API token must not contain a comma (they are given comma-separated)")
    environ = {
        **{k: v for k, v in os.environ.items() if k != "GUNICORN_CMD_ARGS"},  # serve sets every option
        f"{PREFIX}DATABASE_URL": settings.resolved_database_url,
        f"{PREFIX}API_TOKENS": ",".join(settings.api_tokens),
        # -P again: gunicorn re-execs itself (USR2) from sys.argv, which
        # holds no interpreter flags, but keeps the environment.
        "PYTHONSAFEPATH": "1",
    }
    command = gunicorn_command(options)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, environ)  # noqa: S606 (our own argv, no shell)
