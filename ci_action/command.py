"""Running a step's command as GitHub runs a ``run:`` step: the shell's
command line, a script file, live output, a timeout that stops the whole
process group, and signals passed on when the job is cancelled."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType

#: ``shell:`` names and the command lines GitHub runs them with ({0} is the
#: script file), with the script file's extension.
SHELLS: dict[str, tuple[str, str]] = {
    "bash": ("bash --noprofile --norc -eo pipefail {0}", ".sh"),
    "sh": ("sh -e {0}", ".sh"),
    "python": ("python {0}", ".py"),
    "pwsh": ("pwsh -command \". '{0}'\"", ".ps1"),
}

TIMEOUT_EXIT = 124
USAGE_EXIT = 2
#: After SIGTERM on timeout, how long the command's process group gets
#: before SIGKILL.
KILL_GRACE_SECONDS = 5.0

BAD_SHELL = (
    "shell {value!r} is not one of bash, sh, python, pwsh, and is no command template "
    "with {{0}} where the script file goes (for example 'bash -x {{0}}')"
)
NO_PROGRAM = "the shell program {program!r} is not on PATH; install it or choose another shell"


class UsageError(Exception):
    """An input that makes running the command impossible."""

    def __init__(self, message: str, exit_code: int = USAGE_EXIT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Finished:
    """How the command ended."""

    exit_code: int
    duration: float
    started_at: datetime
    timed_out: bool = False
    signal: int | None = None

    @property
    def success(self) -> bool:
        return self.exit_code == 0

    def error(self, timeout_minutes: float) -> str | None:
        """What the receiver stores as the failure. The Action does not
        capture the output (it streams it), so this names how it ended."""
        if self.timed_out:
            return f"timed out after {timeout_minutes:g} minutes"
        if self.signal is not None:
            return f"killed by signal {self.signal}"
        return None if self.success else f"exit code {self.exit_code}"


def shell_command(shell: str, script: Path, path: str | None) -> list[str]:
    """The argv that runs ``script`` with ``shell``, as GitHub would.

    >>> shell_command("sh", Path("/t/s.sh"), None)
    ['sh', '-e', '/t/s.sh']
    >>> shell_command("bash -x {0}", Path("/t/s"), None)
    ['bash', '-x', '/t/s']
    """
    template = SHELLS[shell][0] if shell in SHELLS else shell
    if "{0}" not in template:
        raise UsageError(BAD_SHELL.format(value=shell))
    try:
        parts = shlex.split(template)
    except ValueError:  # an unbalanced quote: "bash {0} '"
        raise UsageError(BAD_SHELL.format(value=shell)) from None
    argv = [part.replace("{0}", str(script)) for part in parts]
    if path is not None:
        found = shutil.which(argv[0], path=path)
        if found is None and argv[0] == "python":
            # GitHub's images have `python`; many other machines only python3.
            argv[0], found = "python3", shutil.which("python3", path=path)
        if found is None:
            raise UsageError(NO_PROGRAM.format(program=argv[0]), 127)
    return argv


def script_text(shell: str, run: str) -> str:
    if shell == "pwsh":
        # GitHub wraps pwsh scripts so that errors stop them and the exit code is the script's.
        return (
            "$ErrorActionPreference = 'stop'\n"
            f"{run}\n"
            "if ((Test-Path -LiteralPath variable:\\LASTEXITCODE)) { exit $LASTEXITCODE }\n"
        )
    return run


def _signal_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):  # the group is gone already
        os.killpg(pgid, signum)


@contextmanager
def _forwarding_signals(pgid: int) -> Iterator[None]:
    """Pass SIGINT/SIGTERM (a cancelled job, Ctrl-C under act) on to the
    command's process group: it runs in its own session, out of reach."""

    def forward(signum: int, frame: FrameType | None) -> None:
        _signal_group(pgid, signum)

    previous: dict[signal.Signals, signal._HANDLER] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        with suppress(ValueError):  # not the main thread: leave signals alone
            previous[signum] = signal.signal(signum, forward)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_command(argv: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float | None) -> Finished:
    """Run ``argv`` with inherited stdout/stderr (live output, nothing
    buffered here) in its own process group, so a timeout can stop the
    command and everything it started."""
    sys.stdout.flush()
    sys.stderr.flush()
    # datetime.UTC is 3.11+; the runner's python3 may be older.
    started_at = datetime.now(timezone.utc)  # noqa: UP017
    start = time.monotonic()
    process = subprocess.Popen(argv, cwd=cwd, env=dict(env), start_new_session=True)
    timed_out = False
    with _forwarding_signals(process.pid):
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _signal_group(process.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=KILL_GRACE_SECONDS)
            # Whatever ignored SIGTERM, or was started by the command, goes too.
            _signal_group(process.pid, signal.SIGKILL)
            code = process.wait()
    duration = time.monotonic() - start
    if timed_out:
        return Finished(TIMEOUT_EXIT, duration, started_at, timed_out=True)
    if code < 0:
        return Finished(128 - code, duration, started_at, signal=-code)
    return Finished(code, duration, started_at)
