"""The Action's program runs the command as GitHub runs a ``run:`` step and
reports it: exit codes, timeouts, shells, outputs, summary, log hygiene.
Delivery to the receiver is in test_delivery.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ci_action.workflow import SUMMARY_HEADER, SUMMARY_RULE

from .conftest import GITHUB_ENV, REPO, SHA, TOKEN, Action
from .receiver_double import receiver_double


@pytest.mark.parametrize("code", [0, 1, 3])
def test_exit_code_passes_through_and_is_reported(action: Action, code: int) -> None:
    with receiver_double() as receiver:
        step = action(f"echo running; exit {code}", receiver_url=receiver.url, token=TOKEN)
    assert step.code == code
    assert step.outputs["success"] == ("true" if code == 0 else "false")
    assert step.outputs["exit-code"] == str(code)
    assert step.outputs["delivered"] == "true"
    assert step.outputs["session-id"] == "CI-42"
    assert step.outputs["workflow-phase"] == "execution"
    assert float(step.outputs["duration"]) >= 0
    [body] = receiver.stored_bodies()
    assert body["success"] is (code == 0)
    assert body["exit_code"] == code
    assert body["error"] == (None if code == 0 else f"exit code {code}")
    assert body["stage"] == "test" and body["skill"] == "pytest-run" and body["integration"] == "ci"
    assert body["context"] == {
        "pipeline_name": "CI",
        "build_number": "42",
        "git_commit": SHA,
        "git_branch": "main",
        "environment": "ci",
        "triggered_by": "push",
        "repository": "octo-org/octo-repo",
        "run_id": "9876543210",
        "run_attempt": 1,
        "job": "test",
    }
    assert body["started_at"].endswith("Z")
    assert ("::error title=session-buddy-ci::stage test (pytest-run) failed" in step.out) is (code != 0)


def test_timeout_exits_124_and_kills_the_whole_process_group(action: Action, tmp_path: Path) -> None:
    pid_file = tmp_path / "background.pid"
    # A background child that would outlive its shell, and a shell that
    # ignores SIGTERM: both must be gone after the timeout.
    run = f"trap '' TERM; sleep 300 & echo $! > {pid_file}; sleep 300"
    with receiver_double() as receiver:
        started = time.monotonic()
        step = action(run, receiver_url=receiver.url, timeout_minutes="0.01")
        elapsed = time.monotonic() - started
    assert step.code == 124
    assert elapsed < 10
    assert step.outputs["exit-code"] == "124" and step.outputs["success"] == "false"
    pid = int(pid_file.read_text())
    assert _gone(pid), f"background process {pid} survived the timeout"
    [body] = receiver.stored_bodies()
    assert body["exit_code"] == 124 and body["success"] is False
    assert body["error"] == "timed out after 0.01 minutes"


def _gone(pid: int, deadline: float = 5.0) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in "ZX":  # killed, waiting for init to reap it
            return True
        time.sleep(0.02)
    return False


def test_bash_runs_with_errexit_and_pipefail(action: Action) -> None:
    step = action("false | true\necho not-reached")
    assert step.code == 1
    assert "not-reached" not in step.out
    step = action("false\necho not-reached")
    assert step.code == 1 and "not-reached" not in step.out
    assert action("true | false || echo handled").code == 0


@pytest.mark.parametrize(
    ("shell", "run", "expected"),
    [
        ("sh", "echo from-sh; exit 4", 4),
        ("python", "import sys; print('from-python'); sys.exit(5)", 5),
        ("bash -x {0}", "echo from-template; exit 6", 6),
    ],
)
def test_shells(action: Action, shell: str, run: str, expected: int) -> None:
    step = action(run, shell=shell)
    assert step.code == expected
    assert "from-" in step.out


def test_unusable_shell_and_directory_are_errors_with_exit_2(action: Action) -> None:
    step = action("true", shell="fish-without-placeholder")  # noqa: S604 - the Action's input
    assert step.code == 2
    assert "::error title=session-buddy-ci::shell 'fish-without-placeholder' is not one of" in step.out
    step = action("true", shell="bash {0} '")  # noqa: S604 - an unbalanced quote
    assert step.code == 2 and "Traceback" not in step.err
    assert '::error title=session-buddy-ci::shell "bash {0} \'" is not one of' in step.out
    step = action("true", working_directory="no/such/dir")
    assert step.code == 2 and "working-directory 'no/such/dir' is not a directory" in step.out
    assert "no/such/dir" in action.summary.read_text()
    step = action("true", timeout_minutes="soon")
    assert step.code == 2 and "timeout-minutes must be a number" in step.out
    assert action("   ").code == 2


def test_working_directory(action: Action) -> None:
    sub = action.workspace / "pkg" / "sub"
    sub.mkdir(parents=True)
    step = action("pwd > where.txt", working_directory="pkg/sub")
    assert step.code == 0
    assert Path((sub / "where.txt").read_text().strip()) == sub.resolve()


def test_script_file_is_written_under_runner_temp_and_removed(action: Action) -> None:
    step = action('echo "$0" > script-path.txt')
    script = Path((action.workspace / "script-path.txt").read_text().strip())
    assert step.code == 0
    assert script.parent == action.runner_temp and script.suffix == ".sh"
    assert not script.exists()


def test_outputs_use_the_heredoc_form(action: Action) -> None:
    step = action("exit 0", stage="lint", skill="ruff-check")
    text = Path(action.runner_temp / f"output-{action.calls}").read_text()
    assert text.count("<<ghadelimiter_") == 6
    assert step.outputs == {
        "success": "true",
        "duration": step.outputs["duration"],
        "exit-code": "0",
        "workflow-phase": "verification",
        "session-id": "CI-42",
        "delivered": "false",
    }


def test_summary_has_one_header_and_a_row_per_call_with_escaped_names(action: Action) -> None:
    action("true", stage="build", skill="uv-install")
    action("exit 1", stage="unit_tests | <b>x</b>", skill="@octocat *fix*")
    action("true", stage="deploy", skill="helm-deploy")
    lines = action.summary.read_text().splitlines()
    assert lines.count(SUMMARY_HEADER) == 1
    assert lines.count(SUMMARY_RULE) == 1
    rows = [line for line in lines if line.startswith("| ") and line not in (SUMMARY_HEADER, SUMMARY_RULE)]
    assert len(rows) == 3
    assert rows[0].startswith("| build | uv-install | setup | ✅ success | ")
    assert rows[1].startswith(
        "| unit\\_tests \\| &lt;b&gt;x&lt;/b&gt; | @\u200boctocat \\*fix\\* | execution | ❌ exit code 1 |"
    )
    assert rows[1].endswith("| 1 | not sent |")
    assert rows[2].startswith("| deploy | helm-deploy | deployment | ✅ success |")
    # Every row has the header's number of cells (nothing broke the table).
    assert {row.count(" | ") for row in rows} == {SUMMARY_HEADER.count(" | ")}


def test_without_receiver_url_one_notice_and_nothing_sent(action: Action) -> None:
    step = action("echo hi")
    assert step.code == 0
    notices = [line for line in step.out.splitlines() if line.startswith("::notice")]
    assert notices == [
        "::notice title=session-buddy-ci::no receiver-url is set: the stage result was not sent "
        "(outputs and job summary are written)"
    ]
    assert step.outputs["delivered"] == "false"
    assert step.outputs["session-id"] == "CI-42"
    assert "::warning" not in step.out
    assert action.spooled() == []


def test_token_is_masked_never_printed_and_hidden_from_the_command(action: Action) -> None:
    with receiver_double(503, 503, 503) as receiver:
        # act (not GitHub) also hands a composite action its inputs as INPUT_*.
        act_inputs = {"INPUT_TOKEN": TOKEN, "INPUT_RECEIVER-URL": receiver.url, "INPUT_TOOLBOX": "theirs"}
        step = action("env > env.txt; echo done", receiver_url=receiver.url, token=TOKEN, extra=act_inputs)
    assert step.outputs["delivered"] == "spooled"
    assert receiver.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    printed = [line for line in (step.out + step.err).splitlines() if TOKEN in line]
    assert printed == [f"::add-mask::{TOKEN}"]
    child_env = (action.workspace / "env.txt").read_text()
    assert TOKEN not in child_env and "SBCI_" not in child_env and "INPUT_RECEIVER-URL" not in child_env
    assert "GITHUB_RUN_ID=9876543210" in child_env and "INPUT_TOOLBOX=theirs" in child_env
    assert TOKEN not in "".join(action.spooled())


def test_a_token_with_a_line_break_is_masked_line_by_line_and_not_sent(action: Action) -> None:
    first, second = "abc-first-line", "def-second-line"
    with receiver_double() as receiver:
        step = action("exit 4", receiver_url=receiver.url, token=f"{first}\r\n{second}")
    assert step.code == 4  # the command's own code: tracking never breaks the build
    assert receiver.requests == [] and step.outputs["delivered"] == "false"
    assert "::warning::the token input holds a line break" in step.out
    printed = [line for line in (step.out + step.err).splitlines() if first in line or second in line]
    assert printed == [f"::add-mask::{first}", f"::add-mask::{second}"]
    assert action.spooled() == []
    with receiver_double() as receiver:  # a curly quote pasted with the token
        step = action("true", receiver_url=receiver.url, token="secret\u201ctoken")
    assert receiver.requests == [] and step.outputs["delivered"] == "false"
    assert "beyond ASCII (a pasted quote?)" in step.out and action.spooled() == []


def test_missing_github_context_warns_and_the_command_still_counts(action: Action) -> None:
    with receiver_double() as receiver:
        step = action("exit 3", receiver_url=receiver.url, drop=("GITHUB_SHA", "GITHUB_WORKFLOW"))
    assert step.code == 3
    warnings = [line for line in step.out.splitlines() if line.startswith("::warning::")]
    assert len(warnings) == 1
    assert "missing GITHUB_WORKFLOW, GITHUB_SHA" in warnings[0]
    assert receiver.requests == []
    assert step.outputs["delivered"] == "false" and step.outputs["session-id"] == ""


def test_crackerjack_phases_are_strict(action: Action) -> None:
    with receiver_double() as receiver:
        step = action("true", integration="crackerjack", stage="fast_hooks", receiver_url=receiver.url)
        assert step.outputs["workflow-phase"] == "execution"  # the receiver's answer wins
        assert receiver.stored_bodies()[0]["integration"] == "crackerjack"
        bad = action("exit 0", integration="crackerjack", stage="unit", receiver_url=receiver.url)
    assert bad.code == 0
    assert "::warning::unknown crackerjack phase 'unit'" in bad.out
    assert len(receiver.requests) == 1 and bad.outputs["delivered"] == "false"
    local = action("true", integration="crackerjack", stage="comprehensive_hooks")
    assert local.outputs["workflow-phase"] == "verification"


def test_stage_phase_overrides_from_the_environment(action: Action) -> None:
    step = action("true", stage="e2e", extra={"SESSION_BUDDY_CI_STAGE_PHASES": "e2e=verification"})
    assert step.outputs["workflow-phase"] == "verification"


def test_user_text_cannot_inject_workflow_commands(action: Action) -> None:
    step = action("exit 1", stage="x\n::set-output name=success::true", skill="ruff\r::stop-commands::pwned")
    # Every line the runner would read as a command is one the Action meant.
    commands = [line for line in step.out.splitlines() if line.startswith("::")]
    assert commands == [
        "::notice title=session-buddy-ci::no receiver-url is set: the stage result was not sent "
        "(outputs and job summary are written)",
        "::error title=session-buddy-ci::stage x%0A::set-output name=success::true "
        "(ruff%0D::stop-commands::pwned) failed: exit code 1",
    ]
    assert (
        "session-buddy-ci: x\\n::set-output name=success::true (ruff\\n::stop-commands::pwned, " in step.out
    )


def test_fail_on_tracking_error(action: Action) -> None:
    down = "http://127.0.0.1:9"  # discard port: nothing listens
    assert action("true", receiver_url=down).code == 0
    strict = action("true", receiver_url=down, fail_on_tracking_error="true")
    assert strict.code == 1
    assert "::error::the stage result could not be delivered" in strict.out
    # The command's own failure keeps its code.
    assert action("exit 3", receiver_url=down, fail_on_tracking_error="true").code == 3


def test_output_streams_live(tmp_path: Path) -> None:
    """The command's first line reaches the Action's stdout while the
    command is still running (nothing is buffered until the end)."""
    go = tmp_path / "go"
    env = {
        "PATH": os.environ["PATH"],
        **GITHUB_ENV,
        "RUNNER_TEMP": str(tmp_path),
        "SBCI_RUN": f"echo first-line\nwhile [ ! -e {go} ]; do sleep 0.02; done\necho second-line",
        "SBCI_STAGE": "test",
        "SBCI_SKILL": "pytest-run",
    }
    process = subprocess.Popen(
        [sys.executable, str(REPO / "entrypoint.py")], env=env, stdout=subprocess.PIPE, cwd=tmp_path
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first == b"first-line\n"
        assert process.poll() is None, "the command finished before its first line was read"
        go.touch()
        rest = process.stdout.read().decode()
        assert process.wait(timeout=30) == 0
    finally:
        go.touch()
        process.kill() if process.poll() is None else None
    assert rest.startswith("second-line\n")
    assert "session-buddy-ci: test (pytest-run, execution) passed" in rest


def run_isolated(entrypoint: Path, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run an entrypoint.py as a runner's bare python3 would: no
    site-packages, no user site, no PYTHON* variables (-S -I)."""
    return subprocess.run(
        [sys.executable, "-S", "-I", str(entrypoint)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_entrypoint_needs_no_site_packages(tmp_path: Path) -> None:
    """Standard library only: with site-packages out of reach (-S -I) the
    step still maps its phase and writes its summary, warning-free."""
    summary = tmp_path / "summary.md"
    env = {
        "PATH": os.environ["PATH"],
        **GITHUB_ENV,
        "GITHUB_STEP_SUMMARY": str(summary),
        "SBCI_RUN": "true",
        "SBCI_STAGE": "lint",
        "SBCI_SKILL": "ruff-check",
    }
    done = run_isolated(REPO / "entrypoint.py", env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "lint (ruff-check, verification) passed" in done.stdout
    assert "::warning" not in done.stdout and done.stderr == ""
    assert "| lint | ruff-check | verification | ✅ success |" in summary.read_text()


@pytest.mark.parametrize(
    "missing", ["tracker/urls.py", "tracker/markdown.py", "tracker/settings.py", "tracker/github", "tracker"]
)
def test_a_partial_copy_of_the_action_still_runs_the_command(tmp_path: Path, missing: str) -> None:
    """A copy missing tracker modules (the README lists them) warns and
    runs the command with its own exit code: tracking never breaks a build."""
    action = tmp_path / "action"
    action.mkdir()
    for name in ("entrypoint.py", "ci_action", "tracker"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, action / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, action / name)
    gone = action / missing
    shutil.rmtree(gone) if gone.is_dir() else gone.unlink()
    summary = tmp_path / "summary.md"
    env = {
        "PATH": os.environ["PATH"],
        **GITHUB_ENV,
        "SBCI_RUN": "exit 3",
        "SBCI_STAGE": "linters",  # no CI table name: its phase needs the word rules
        "SBCI_SKILL": "x",
    }
    done = run_isolated(action / "entrypoint.py", {**env, "GITHUB_STEP_SUMMARY": str(summary)}, tmp_path)
    assert done.returncode == 3, done.stderr
    # Without markdown.py the summary falls back to plain letters; the rest
    # of tracking needs the others.
    assert ("::warning::cannot load the tracker modules" in done.stdout) == (missing != "tracker/markdown.py")
    assert "| linters | x |" in summary.read_text()  # the summary is written all the same


def test_a_cancelled_job_reaches_the_command_and_is_recorded(tmp_path: Path) -> None:
    """SIGTERM to the Action (a cancelled job) is passed on to the command,
    which runs in its own process group; its exit status is the step's."""
    ready = tmp_path / "ready"
    env = {
        "PATH": os.environ["PATH"],
        **GITHUB_ENV,
        "RUNNER_TEMP": str(tmp_path),
        "SBCI_RUN": f"trap 'echo got-term; exit 7' TERM\ntouch {ready}\nsleep 60 & wait",
        "SBCI_STAGE": "deploy",
        "SBCI_SKILL": "helm-deploy",
    }
    process = subprocess.Popen(
        [sys.executable, str(REPO / "entrypoint.py")],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.01)
        process.terminate()
        out, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 7
    assert "got-term" in out
    assert "deploy (helm-deploy, deployment) exit code 7" in out


def _old_python() -> str | None:
    """A real Python 3.10 (pyenv's under PYENV_ROOT, not its shim), if any."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = sorted(root.glob("versions/3.10*/bin/python3"))
    if found:
        return str(found[-1])
    on_path = shutil.which("python3.10")
    # A pyenv shim for a version pyenv does not have exits 127: no Python.
    if on_path and "shims" not in Path(on_path).parts:
        return on_path
    return None


@pytest.mark.skipif(_old_python() is None, reason="no Python 3.10 on this machine")
def test_an_older_python3_still_runs_the_command(tmp_path: Path) -> None:
    """ubuntu-22.04 runners have Python 3.10: the modules the Action
    imports (context, phases, markdown) run there too, so it tracks."""
    old = _old_python()
    assert old is not None
    env = {
        "PATH": os.environ["PATH"],
        **GITHUB_ENV,
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "SBCI_RUN": "echo ran; exit 3",
        "SBCI_STAGE": "test",
        "SBCI_SKILL": "pytest-run",
        "SBCI_RECEIVER_URL": "http://127.0.0.1:9",
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
    }
    (tmp_path / "runner-temp").mkdir()
    done = subprocess.run(
        [old, str(REPO / "entrypoint.py")], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 3, done.stderr
    assert "ran\n" in done.stdout
    assert "cannot load the tracker modules" not in done.stdout
    # The receiver (port 9) refuses: the result is spooled, with its phase.
    assert "| test | pytest-run | execution |" in (tmp_path / "summary.md").read_text()
    spool = tmp_path / "runner-temp" / "session-buddy-ci-spool.jsonl"
    assert len(spool.read_text().splitlines()) == 1


def test_a_missing_runner_temp_falls_back_to_the_system_temp(action: Action) -> None:
    with receiver_double() as receiver:
        step = action(
            "exit 0", receiver_url=receiver.url, extra={"RUNNER_TEMP": str(action.workspace / "gone")}
        )
    assert step.code == 0 and step.outputs["delivered"] == "true"


def test_a_windows_runner_gets_a_clear_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # entrypoint.py must import where fcntl does not exist, to say so itself.
    probe = "import sys; sys.modules['fcntl'] = None; import entrypoint; print('imported')"
    imported = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert (imported.returncode, imported.stdout.strip()) == (0, "imported"), imported.stderr

    import entrypoint

    summary = tmp_path / "summary.md"
    monkeypatch.setattr(entrypoint, "on_windows", lambda: True)
    code = entrypoint.main(env={**GITHUB_ENV, "SBCI_RUN": "touch ran", "GITHUB_STEP_SUMMARY": str(summary)})
    out = capsys.readouterr().out
    assert code == 2
    assert "::error title=session-buddy-ci::session-buddy-ci runs on Linux and macOS runners" in out
    assert "Windows" in summary.read_text()
    assert not (Path.cwd() / "ran").exists()


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://ci-stats.example.com", True),
        ("http://10.0.0.7:8080", True),
        ("https://ci-stats.example.com", False),
        ("http://127.0.0.1:8080", False),
        ("http://localhost:8080", False),
    ],
)
def test_a_token_sent_unencrypted_over_the_network_is_warned_about(url: str, warned: bool) -> None:
    import entrypoint

    env = {**GITHUB_ENV, "SBCI_RUN": "true", "SBCI_STAGE": "test", "SBCI_SKILL": "pytest-run"}
    env |= {"SBCI_RECEIVER_URL": url, "SBCI_TOKEN": "s3cret"}
    inputs, notes = entrypoint.Inputs.from_env(env)
    tracking = entrypoint.prepare_tracking(inputs, env, notes)
    assert tracking.sendable  # a warning, not a block: internal networks exist
    clear = [p for p in tracking.problems if "unencrypted" in p]
    assert clear == (
        [
            "receiver-url is an http:// address on another machine: the token crosses the network "
            "unencrypted; use https://"
        ]
        if warned
        else []
    )


@pytest.mark.parametrize(
    ("stage", "words", "phase"),
    [
        ("lint", "", "verification"),
        ("linters", "", "verification"),
        ("smoke", "", "execution"),
        ("smoke", "smoke=verification", "verification"),
    ],
)
def test_an_unsent_steps_phase_is_the_one_the_receiver_would_answer(
    stage: str, words: str, phase: str, tmp_path: Path
) -> None:
    import entrypoint
    from tracker.cicd import CICDTracker
    from tracker.settings import Settings

    env = {**GITHUB_ENV, "SBCI_RUN": "true", "SBCI_STAGE": stage, "SBCI_SKILL": "x"}
    env["SESSION_BUDDY_CI_GITHUB_PHASE_WORDS"] = words
    inputs, _ = entrypoint.Inputs.from_env(env)
    assert entrypoint.workflow_phase(inputs, env) == phase
    settings = Settings(database_url=f"sqlite:///{tmp_path}/r.db", github_phase_words=words)
    receiver = CICDTracker(settings=settings)
    try:
        assert receiver.phase_for(stage).value == phase
    finally:
        receiver.close()


def test_a_repository_that_is_no_owner_name_is_left_out_not_the_result(action: Action) -> None:
    # act sets GITHUB_REPOSITORY from the origin remote: a clone of a local
    # path gives a path. The field is optional; the result still goes.
    with receiver_double() as receiver:
        step = action("true", receiver_url=receiver.url, extra={"GITHUB_REPOSITORY": "/work/main"})
    assert step.outputs["delivered"] == "true"
    (request,) = receiver.requests
    assert "repository" not in request.body["context"] or request.body["context"]["repository"] is None
    assert "::warning::GITHUB_REPOSITORY '/work/main' does not look like owner/name" in step.out
