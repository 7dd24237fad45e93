"""``session-buddy-ci serve``: starts gunicorn, migrates, and makes an API
token when none is configured (file mode 0600, never logged)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from receiver.apitoken import ensure_api_token, token_path
from receiver.cli import main
from receiver.cli.serve import default_workers, gunicorn_options
from tracker.settings import Settings
from tracker.storage import SkillsStorage

from ..support.server import REPO, free_port, wait_healthy
from ..support.stage import post_json, stage_body

CLI = Path(sys.executable).with_name("session-buddy-ci")


@contextmanager
def serve(
    tmp_path: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    pids: list[int] | None = None,
    cli: Path = CLI,
) -> Iterator[tuple[str, Path]]:
    """Run the real CLI (from ``cwd``); yield its URL and log file. The pid
    (serve's, then gunicorn's master's: serve execs it) goes to ``pids``."""
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_BUDDY_CI_")}
    full_env = {
        **clean,
        "HF_HUB_OFFLINE": "1",
        "SESSION_BUDDY_CI_DATA_DIR": str(tmp_path / "data"),
        **(env or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(cli), "serve", "--port", str(port), "--workers", "2", *extra],
            cwd=cwd,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if pids is not None:
        pids.append(process.pid)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_runtime_install_alone_serves(tmp_path: Path) -> None:
    """The README's first command, on a fresh machine, installs the runtime
    only (``scripts/bootstrap``, no test extras), and serve must start from
    that alone. gunicorn 27's gevent worker needs ``packaging``, which only
    gunicorn's ``gevent`` extra installs: the test extras had hidden it."""
    venv = tmp_path / "venv"
    installed = subprocess.run(
        [str(REPO / "scripts" / "bootstrap")],
        cwd=REPO,
        env={**os.environ, "VENV": str(venv)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    with (
        serve(tmp_path, cli=venv / "bin" / "session-buddy-ci") as (url, _log),
        urllib.request.urlopen(url + "/", timeout=10) as page,
    ):
        assert page.status == 200 and b"session-buddy-ci" in page.read()


@pytest.mark.slow
def test_serve_generates_a_private_token_and_never_logs_it(tmp_path: Path) -> None:
    db = tmp_path / "served.db"
    with serve(tmp_path, "--database", str(db)) as (url, log_path):
        token_file = tmp_path / "data" / "api-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32
        status, answer = post_json(url, stage_body(), token=token, key="served-1")
        assert (status, answer["session_id"]) == (201, "CI-42")
        assert post_json(url, stage_body(), token="not-it")[0] == 403
    # The workers wrote to --database (handed to them by serve), not the default.
    with SkillsStorage(f"sqlite:///{db}", settings=Settings(database_url=f"sqlite:///{db}")) as stored:
        assert [r["id"] for r in stored.invocations(limit=5)] == [answer["id"]]
    assert not (tmp_path / "data" / "session-buddy-ci.db").exists()
    log = log_path.read_text()
    assert str(token_file) in log
    assert token not in log
    assert "2 gevent workers" in log
    assert "Using worker: gevent" in log  # gunicorn's own word for it
    # gevent patched the standard library before anything imported ssl.
    assert "MonkeyPatchWarning" not in log

    # A second start reuses the file.
    with serve(tmp_path, "--database", str(db)) as (url, log_path):
        assert token_file.read_text().strip() == token
        status, answer = post_json(url, stage_body(), token=token, key="served-1")
        assert (status, answer["duplicate"]) == (200, True)
    assert token not in log_path.read_text()


@pytest.mark.slow
def test_serve_ignores_packages_in_its_working_directory(tmp_path: Path) -> None:
    """A project with folders named like the receiver's packages (or its
    dependencies') can run serve from its root: the workers import the
    installed packages, and relative paths still start from there."""
    project = tmp_path / "project"
    for name in ("tracker", "receiver", "flask"):
        (project / name).mkdir(parents=True)
        (project / name / "__init__.py").write_text(
            f"raise ImportError('imported ./{name} of the project')\n"
        )
    env = {"SESSION_BUDDY_CI_API_TOKENS": "project-token"}
    pids: list[int] = []
    with serve(tmp_path, "--database", "relative.db", env=env, cwd=project, pids=pids) as (url, log_path):
        status, answer = post_json(url, stage_body(), token="project-token")
        assert (status, answer["session_id"]) == (201, "CI-42")
        # gunicorn re-execs itself (USR2) without the interpreter's -P but
        # with its environment: PYTHONSAFEPATH keeps -P's effect.
        master_env = Path(f"/proc/{pids[0]}/environ").read_bytes().split(b"\0")
        assert b"PYTHONSAFEPATH=1" in master_env
    assert "of the project" not in log_path.read_text()
    with SkillsStorage(f"sqlite:///{project / 'relative.db'}") as stored:
        assert [r["id"] for r in stored.invocations(limit=5)] == [answer["id"]]


@pytest.mark.slow
def test_serve_with_configured_token_writes_no_file(tmp_path: Path) -> None:
    env = {"SESSION_BUDDY_CI_API_TOKENS": "configured-token"}
    with serve(tmp_path, "--database", str(tmp_path / "c.db"), env=env) as (url, log_path):
        assert post_json(url, stage_body(), token="configured-token")[0] == 201
    assert not (tmp_path / "data" / "api-token").exists()
    assert "configured-token" not in log_path.read_text()


def test_ensure_api_token_reuses_and_repairs(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path / "d"))
    first, path = ensure_api_token(settings)
    assert path == token_path(settings)
    again, _ = ensure_api_token(settings)
    assert first.api_tokens == again.api_tokens
    assert path is not None
    path.chmod(0o644)
    ensure_api_token(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("")  # left empty by a crash: replaced
    fresh, _ = ensure_api_token(settings)
    assert fresh.api_tokens[0] and fresh.api_tokens != first.api_tokens


def test_configured_tokens_win(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), api_tokens=("a", "b"))
    assert ensure_api_token(settings) == (settings, None)
    assert not (tmp_path / "api-token").exists()


def test_gunicorn_options_follow_the_settings() -> None:
    settings = Settings(host="0.0.0.0", port=9000, workers=3, log_level="WARNING")
    options = gunicorn_options(settings, host=settings.host, port=settings.port, workers=settings.workers)
    assert options["bind"] == "0.0.0.0:9000"
    assert options["workers"] == 3
    assert options["loglevel"] == "warning"
    assert (options["worker_class"], options["worker_connections"]) == ("gevent", 1000)
    assert "threads" not in options
    auto = gunicorn_options(settings, host="127.0.0.1", port=8080, workers=0)
    assert auto["workers"] == default_workers()
    threaded = gunicorn_options(settings.with_(worker_class="gthread"), host="h", port=1, workers=2)
    assert (threaded["worker_class"], threaded["threads"]) == ("gthread", 8)
    assert "worker_connections" not in threaded
    with pytest.raises(ValueError, match="WORKER_CLASS must be gevent or gthread"):
        Settings(worker_class="eventlet")
    assert default_workers(1) == 2 and default_workers(3) == 3 and default_workers(64) == 8


def test_serve_refuses_a_token_with_a_comma(tmp_path: Path) -> None:
    # Tokens reach the workers comma-separated: this one would become two.
    (tmp_path / "api-token").write_text("half,other-half\n")
    (tmp_path / "api-token").chmod(0o600)
    env = {"SESSION_BUDDY_CI_DATA_DIR": str(tmp_path), "SESSION_BUDDY_CI_API_TOKENS": ""}
    result = CliRunner().invoke(main, ["serve", "--database", str(tmp_path / "t.db")], env=env)
    assert result.exit_code == 1
    assert "must not contain a comma" in result.output
    assert "half" not in result.output


def test_serve_refuses_a_bad_port() -> None:
    result = CliRunner().invoke(main, ["serve", "--port", "0"])
    assert result.exit_code == 2
    assert "--port" in result.output


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SESSION_BUDDY_CI_WORKER_CLASS": "bogus"}, "WORKER_CLASS must be gevent or gthread, not 'bogus'"),
        ({"SESSION_BUDDY_CI_PORT": "eighty"}, "SESSION_BUDDY_CI_PORT='eighty' is not valid"),
        (
            {"SESSION_BUDDY_CI_WEBHOOKS_ENABLED": "true", "SESSION_BUDDY_CI_WEBHOOK_SECRETS": ""},
            "webhooks are enabled (SESSION_BUDDY_CI_WEBHOOKS_ENABLED=true) but no secret is set",
        ),
    ],
)
def test_serve_says_what_setting_is_wrong_in_one_line(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    # Before any worker boots: no traceback, from serve or from its workers.
    env = {"SESSION_BUDDY_CI_DATA_DIR": str(tmp_path), "SESSION_BUDDY_CI_API_TOKENS": "t", **env}
    result = CliRunner().invoke(main, ["serve", "--database", str(tmp_path / "t.db")], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
