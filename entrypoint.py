"""The program of the session-buddy-ci GitHub Action (``action.yml``).

It runs one stage's command the way GitHub runs a ``run:`` step, streams
its output live, times it, and sends the result to a session-buddy-ci
receiver. Standard library only: it runs on every CI step, where nothing
has been pip-installed. It imports the stdlib-only ``tracker.context``,
``tracker.phases`` and ``tracker.markdown`` from its own folder
(``$GITHUB_ACTION_PATH``).

Exit status: the command's own; 124 when ``timeout-minutes`` ran out;
128+N when a signal N ended it; 2 for an input that makes the command
impossible to run. Tracking problems are warnings and change nothing,
unless ``fail-on-tracking-error`` is true (then 1, if the command passed).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

# The Action's own folder ($GITHUB_ACTION_PATH) comes first: its tracker/
# and ci_action/ are the ones meant, whatever the workspace holds.
_HERE = str(Path(__file__).resolve().parent)
if sys.path[0] != _HERE:
    sys.path.insert(0, _HERE)

from ci_action import workflow  # noqa: E402
from ci_action.command import (  # noqa: E402
    SHELLS,
    USAGE_EXIT,
    Finished,
    UsageError,
    run_command,
    script_text,
    shell_command,
)
from ci_action.delivery import Delivered, check_url, deliver  # noqa: E402

if TYPE_CHECKING:
    from tracker.context import CIPipelineContext

#: action.yml hands every input over in one of these variables (a composite
#: action gets no ``INPUT_*`` variables on GitHub). The command never sees
#: them: the token must not leak into the build's environment.
INPUT_PREFIX = "SBCI_"
#: What act (not GitHub) also sets for a composite action: ``INPUT_`` and
#: each input's name, upper-cased, as written (``INPUT_RECEIVER-URL``).
ACT_INPUT_PREFIX = "INPUT_"


def _ours(name: str) -> bool:
    """Whether an environment variable carries one of this action's inputs,
    which the command must not see."""
    upper = name.upper()
    return upper.startswith(INPUT_PREFIX) or (
        upper.startswith(ACT_INPUT_PREFIX)
        and upper[len(ACT_INPUT_PREFIX) :].replace("_", "-").lower() in INPUTS
    )


INPUTS = (
    "run",
    "stage",
    "skill",
    "shell",
    "working-directory",
    "receiver-url",
    "token",
    "environment",
    "integration",
    "fail-on-tracking-error",
    "timeout-minutes",
)

#: The Tracking column of the summary and the log line.
TRACKED = {Delivered.TRUE: "delivered", Delivered.SPOOLED: "spooled", Delivered.NOT_SENT: "not sent"}

BAD_TIMEOUT = "timeout-minutes must be a number of minutes >= 0 (0 = no limit), not {value!r}"
EMPTY_RUN = "the run input is empty: give the command this step should run"
NO_DIRECTORY = "working-directory {value!r} is not a directory (relative paths start at {cwd})"


@dataclass(frozen=True)
class Inputs:
    """The Action's inputs, read from the ``SBCI_*`` variables."""

    run: str
    stage: str
    skill: str
    shell: str = "bash"
    working_directory: str = "."
    receiver_url: str = ""
    token: str = field(default="", repr=False)
    environment: str = "ci"
    integration: str = "ci"
    fail_on_tracking_error: bool = False
    timeout_minutes: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> tuple[Inputs, list[str]]:
        """The inputs and warnings about values that only concern tracking.

        :raises UsageError: when the command cannot run as asked.
        """

        def get(name: str, default: str = "") -> str:
            return env.get(INPUT_PREFIX + name.upper().replace("-", "_"), "").strip() or default

        warnings: list[str] = []
        run = env.get(INPUT_PREFIX + "RUN", "")
        if not run.strip():
            raise UsageError(EMPTY_RUN)
        timeout_text = get("timeout-minutes", "0")
        try:
            timeout = float(timeout_text)
        except ValueError:
            timeout = -1.0
        if not math.isfinite(timeout) or timeout < 0:
            raise UsageError(BAD_TIMEOUT.format(value=timeout_text))
        flag = get("fail-on-tracking-error", "false").lower()
        if flag not in ("true", "false"):
            warnings.append(f"fail-on-tracking-error must be true or false, not {flag!r}; using false")
        return (
            cls(
                run=run,
                stage=get("stage"),
                skill=get("skill"),
                shell=get("shell", "bash"),
                working_directory=get("working-directory", "."),
                receiver_url=get("receiver-url").rstrip("/"),
                token=get("token"),
                environment=get("environment", "ci"),
                integration=get("integration", "ci").lower(),
                fail_on_tracking_error=flag == "true",
                timeout_minutes=timeout,
            ),
            warnings,
        )


def workflow_phase(inputs: Inputs, env: Mapping[str, str]) -> str:
    """The workflow phase of the stage. ``SESSION_BUDDY_CI_STAGE_PHASES``
    (the receiver's setting, e.g. ``e2e=verification``) adds CI stage names.

    :raises ValueError: for an unknown integration, an empty stage, or a
        Crackerjack phase that does not exist (Crackerjack's set is fixed).
    """
    from tracker.phases import Integration, parse_phase_overrides, phase_map_for

    if inputs.integration not in {i.value for i in Integration}:
        raise ValueError(f"integration must be ci or crackerjack, not {inputs.integration!r}")
    if not inputs.stage:
        raise ValueError("the stage input is empty")
    integration = Integration(inputs.integration)
    if integration is Integration.CRACKERJACK:
        return phase_map_for(integration).strict_phase_for(inputs.stage).value
    # The receiver's settings, as it maps names (its answer wins when sent).
    overrides = parse_phase_overrides(env.get("SESSION_BUDDY_CI_STAGE_PHASES", ""))
    ci_map = phase_map_for(integration, overrides)
    if ci_map.knows(inputs.stage):
        return ci_map.phase_for(inputs.stage).value
    # Only for other names: the word rules cost ~8 ms of start-up.
    from tracker.github.rules import PhaseRules, stage_phase

    words = parse_phase_overrides(env.get("SESSION_BUDDY_CI_GITHUB_PHASE_WORDS", ""))
    rules = PhaseRules.build(exact=overrides, words=tuple(words.items()))
    return stage_phase(inputs.stage, ci_map, rules).value


def payload(inputs: Inputs, context: CIPipelineContext, finished: Finished) -> dict[str, object]:
    """The stage-result body of DESIGN.md's contract."""
    return {
        "context": context.to_dict(),
        "stage": inputs.stage,
        "skill": inputs.skill,
        "success": finished.success,
        "duration_seconds": round(finished.duration, 6),
        "exit_code": finished.exit_code,
        "error": finished.error(inputs.timeout_minutes),
        "started_at": finished.started_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "integration": inputs.integration,
    }


def temp_dir(env: Mapping[str, str]) -> Path:
    """``RUNNER_TEMP`` (per job, emptied after it: the script and the spool
    live there), or the system's temporary directory outside a runner."""
    runner_temp = Path(env.get("RUNNER_TEMP") or tempfile.gettempdir())
    return runner_temp if runner_temp.is_dir() else Path(tempfile.gettempdir())


def die(message: str, env: Mapping[str, str], exit_code: int = USAGE_EXIT) -> NoReturn:
    """Report why the command cannot run, in the job summary and as an
    error annotation, and stop with ``exit_code``."""
    if env.get("GITHUB_STEP_SUMMARY"):
        workflow.write_summary_note(env["GITHUB_STEP_SUMMARY"], message)
    workflow.github_command("error", message, title="session-buddy-ci")
    raise SystemExit(exit_code)


@dataclass
class Tracking:
    """What the step knows for the receiver, and what went wrong with it."""

    context: CIPipelineContext | None = None
    phase: str = ""
    problems: list[str] = field(default_factory=list)
    #: Set by a problem that leaves nothing valid to send.
    blocked: bool = False

    def block(self, problem: str) -> None:
        self.problems.append(problem)
        self.blocked = True

    @property
    def sendable(self) -> bool:
        return self.context is not None and bool(self.phase) and not self.blocked


def prepare_tracking(inputs: Inputs, env: Mapping[str, str], notes: list[str]) -> Tracking:
    """Everything tracking needs that can be known before the command runs;
    problems are collected, never raised: tracking never stops the build.
    ``notes`` are warnings that do not stop the result from being sent."""
    tracking = Tracking(problems=list(notes))
    try:
        from tracker import phases  # noqa: F401
        from tracker.context import CIPipelineContext
        from tracker.urls import in_clear
    except Exception as exc:  # a python3 too old, a partial copy: run, don't track
        tracking.block(f"cannot load the tracker modules with Python {sys.version.split()[0]}: {exc}")
        return tracking
    try:
        tracking.phase = workflow_phase(inputs, env)
    except ValueError as exc:
        tracking.block(str(exc))
    except ImportError as exc:  # a partial copy of the Action: run, don't track
        tracking.block(f"cannot load the tracker modules with Python {sys.version.split()[0]}: {exc}")
    if not inputs.skill:
        tracking.block("the skill input is empty")
    try:
        tracking.context = CIPipelineContext.from_github_env(env, environment=inputs.environment)
        given = env.get("GITHUB_REPOSITORY", "").strip()
        if given and tracking.context.repository is None and inputs.receiver_url:
            tracking.problems.append(
                f"GITHUB_REPOSITORY {given!r} does not look like owner/name (act takes it from the "
                "origin remote): the result is sent without a repository"
            )
    except ValueError as exc:
        # Without a receiver nothing would be sent anyway: no need to warn.
        if inputs.receiver_url:
            tracking.block(f"{exc}; the stage result is not sent")
    if inputs.receiver_url:
        bad_url = check_url(inputs.receiver_url)
        if bad_url:
            tracking.block(bad_url)
        elif inputs.token and in_clear(inputs.receiver_url):
            tracking.problems.append(
                "receiver-url is an http:// address on another machine: the token crosses the network "
                "unencrypted; use https://"
            )
        if inputs.token and not (inputs.token.isascii() and inputs.token.isprintable()):
            tracking.block(
                "the token input holds a line break, another control character or a character "
                "beyond ASCII (a pasted quote?), which a bearer token cannot; the stage result is not sent"
            )
    return tracking


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the step and return its exit status. ``env`` defaults to
    ``os.environ``; tests pass their own."""
    del argv  # every input arrives through the environment (see action.yml)
    environ = dict(os.environ if env is None else env)
    try:
        return _step(environ)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1


UNSUPPORTED_OS = (
    "session-buddy-ci runs on Linux and macOS runners (process groups, file locks); "
    "this runner is Windows: use `run:` for this step, or a Linux runner"
)


def on_windows() -> bool:
    return os.name == "nt"


def _step(env: dict[str, str]) -> int:
    if on_windows():
        die(UNSUPPORTED_OS, env)
    try:
        inputs, notes = Inputs.from_env(env)
    except UsageError as exc:
        die(str(exc), env, exc.exit_code)
    if inputs.token:
        # Masked in the log even when the token comes from `vars`, not `secrets`;
        # a command ends at a line break, so each line of it is masked.
        for line in inputs.token.splitlines():
            if line.strip():
                print(f"::add-mask::{line}", flush=True)
    cwd = Path(inputs.working_directory)
    if not cwd.is_dir():
        die(NO_DIRECTORY.format(value=inputs.working_directory, cwd=Path.cwd()), env)
    tracking = prepare_tracking(inputs, env, notes)
    finished = _run(inputs, env, cwd)

    outcome, answer = Delivered.NOT_SENT, {}
    if not inputs.receiver_url:
        workflow.github_command(
            "notice",
            "no receiver-url is set: the stage result was not sent (outputs and job summary are written)",
            title="session-buddy-ci",
        )
    elif tracking.sendable and tracking.context is not None:
        try:
            report = deliver(
                inputs.receiver_url,
                inputs.token,
                payload(inputs, tracking.context, finished),
                spool_dir=temp_dir(env),
            )
        except Exception as exc:  # e.g. an unwritable RUNNER_TEMP: tracking never breaks the build
            tracking.problems.append(f"the stage result was not sent: {type(exc).__name__}: {exc}")
        else:
            outcome, answer = report.outcome, report.answer
            tracking.problems.extend(report.problems)
    for problem in tracking.problems:
        workflow.github_command("error" if inputs.fail_on_tracking_error else "warning", problem)

    # The receiver's answer wins: its phase map may hold names this step's doesn't.
    phase = str(answer.get("workflow_phase") or tracking.phase)
    session_id = str(answer.get("session_id") or (tracking.context.session_id if tracking.context else ""))
    tracked = TRACKED[outcome]
    failure = finished.error(inputs.timeout_minutes)
    print(
        workflow.one_line(
            f"session-buddy-ci: {inputs.stage} ({inputs.skill}, {phase or 'no phase'}) "
            f"{failure or 'passed'} in {finished.duration:.2f} s; result {tracked}"
        ),
        flush=True,
    )
    if failure:
        workflow.github_command(
            "error", f"stage {inputs.stage} ({inputs.skill}) failed: {failure}", title="session-buddy-ci"
        )
    if env.get("GITHUB_OUTPUT"):
        workflow.write_outputs(
            env["GITHUB_OUTPUT"],
            {
                "success": "true" if finished.success else "false",
                "duration": f"{finished.duration:.3f}",
                "exit-code": str(finished.exit_code),
                "workflow-phase": phase,
                "session-id": session_id,
                "delivered": outcome.value,
            },
        )
    if env.get("GITHUB_STEP_SUMMARY"):
        result = f"❌ {failure}" if failure else "✅ success"
        cells = [inputs.stage, inputs.skill, phase, result, f"{finished.duration:.2f} s"]
        row = workflow.summary_row([*cells, str(finished.exit_code), tracked])
        workflow.write_summary(env["GITHUB_STEP_SUMMARY"], row)
    if tracking.problems and inputs.fail_on_tracking_error and finished.success:
        return 1
    return finished.exit_code


def _run(inputs: Inputs, env: Mapping[str, str], cwd: Path) -> Finished:
    """Write the script to a file under RUNNER_TEMP and run it; the command
    gets the job's environment without the Action's own inputs (the token)."""
    child_env = {k: v for k, v in env.items() if not _ours(k)}
    temp = temp_dir(env)
    suffix = SHELLS.get(inputs.shell, ("", ""))[1]
    with tempfile.NamedTemporaryFile(
        "w", suffix=suffix, prefix="sbci-", dir=temp, delete=False, encoding="utf-8"
    ) as handle:
        handle.write(script_text(inputs.shell, inputs.run))
        script = Path(handle.name)
    try:
        argv = shell_command(inputs.shell, script, child_env.get("PATH", os.defpath))
        timeout = inputs.timeout_minutes * 60 or None
        return run_command(argv, cwd=cwd, env=child_env, timeout=timeout)
    except UsageError as exc:
        die(str(exc), env, exc.exit_code)
    finally:
        script.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
