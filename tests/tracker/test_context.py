"""CIPipelineContext: validation of each field, identity, JSON, and the
GitHub Actions (and act) environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tracker.cicd import CICDTracker
from tracker.context import CIPipelineContext
from tracker.storage import SkillsStorage

VALID: dict[str, Any] = {
    "pipeline_name": "test-pipeline",
    "build_number": "123",
    "git_commit": "abc123def456",
    "git_branch": "main",
    "environment": "staging",
    "triggered_by": "github",
}
REQUIRED = list(VALID)


def make(**changes: Any) -> CIPipelineContext:
    return CIPipelineContext(**{**VALID, **changes})


def test_valid_context_identity() -> None:
    ctx = make()
    assert ctx.session_id == "test-pipeline-123"
    assert ctx.get_short_commit() == "abc123d"
    assert ctx.short_commit() == "abc123d"


def test_values_are_normalised() -> None:
    ctx = make(git_commit=" ABC123DEF456 ", pipeline_name="  CI  ", build_number=42)
    assert ctx.git_commit == "abc123def456"
    assert ctx.pipeline_name == "CI"
    assert ctx.build_number == "42"
    assert ctx.session_id == "CI-42"


@pytest.mark.parametrize("field", REQUIRED)
@pytest.mark.parametrize("value", ["", "   "])
def test_empty_field(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"^{field} must not be empty$"):
        make(**{field: value})


@pytest.mark.parametrize("field", ["pipeline_name", "git_branch", "environment", "triggered_by"])
def test_too_long_field(field: str) -> None:
    make(**{field: "x" * 255})  # the limit itself is fine
    with pytest.raises(ValueError, match=f"^{field} is 256 characters long; the limit is 255$"):
        make(**{field: "x" * 256})


@pytest.mark.parametrize("field", ["pipeline_name", "git_branch", "environment", "triggered_by"])
@pytest.mark.parametrize("char", ["\x00", "\n", "\x1b", "\x7f"])
def test_control_characters(field: str, char: str) -> None:
    with pytest.raises(ValueError, match=f"^{field} must not contain control characters$"):
        make(**{field: f"a{char}b"})


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        (".", "\u2024"),
        ("..", "\u2025"),
        ("a/../b", "a/\u2025/b"),
        ("../api/v1/pipelines/CI/report", "\u2025/api/v1/pipelines/CI/report"),
        ("./test", "\u2024/test"),
        ("release/v2.1", "release/v2.1"),
        ("...", "..."),
    ],
)
def test_dot_segments_of_a_pipeline_name_are_written_with_dot_leaders(name: str, kept: str) -> None:
    # The name is a path in the dashboard's URLs: a browser resolves "." and
    # "..". Dot leaders look the same and are plain characters to it.
    assert make(pipeline_name=name).pipeline_name == kept


# (An int build number is accepted and turned into text.)
@pytest.mark.parametrize("field", [f for f in REQUIRED if f != "build_number"])
def test_field_of_wrong_type(field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field} must be a string, not list$"):
        make(**{field: ["main"]})


@pytest.mark.parametrize(
    "commit",
    ["abc123", "a" * 41, "abc123g", "abc 123def", "0x1234567", "ábc1234"],
)
def test_commit_not_7_to_40_hex(commit: str) -> None:
    with pytest.raises(ValueError, match="must be 7 to 40 hexadecimal characters"):
        make(git_commit=commit)


@pytest.mark.parametrize("commit", ["abc1234", "a" * 40, "0123456789ABCDEF0123"])
def test_commit_7_to_40_hex(commit: str) -> None:
    assert make(git_commit=commit).git_commit == commit.lower()


@pytest.mark.parametrize("build", ["12 3", "#123", "-1", "1" * 65, "1/2", ".5"])
def test_bad_build_number(build: str) -> None:
    with pytest.raises(ValueError, match="must be 1-64 letters, digits"):
        make(build_number=build)


@pytest.mark.parametrize("build", ["1", "42.2", "2026-11-25_3", "1" * 64])
def test_good_build_number(build: str) -> None:
    assert make(build_number=build).build_number == build


def test_branch_with_whitespace() -> None:
    with pytest.raises(ValueError, match=r"^git_branch must not contain whitespace: 'my branch'$"):
        make(git_branch="my branch")
    assert make(git_branch="feature/login").git_branch == "feature/login"


@pytest.mark.parametrize("repo", ["octo-repo", "octo/org/repo", "/octo", "octo/", "octo /repo"])
def test_bad_repository(repo: str) -> None:
    with pytest.raises(ValueError, match=r"^repository"):
        make(repository=repo)


@pytest.mark.parametrize("attempt", [0, -1, True, "2", 1.5])
def test_bad_run_attempt(attempt: Any) -> None:
    with pytest.raises(ValueError, match=r"^run_attempt must be an integer >= 1"):
        make(run_attempt=attempt)


def test_optional_fields() -> None:
    ctx = make(repository="octo-org/octo-repo", run_id=1234567890, run_attempt=2, job="test")
    assert (ctx.repository, ctx.run_id, ctx.run_attempt, ctx.job) == (
        "octo-org/octo-repo",
        "1234567890",
        2,
        "test",
    )
    with pytest.raises(ValueError, match=r"^job must not be empty$"):
        make(job="")


def test_json_round_trip() -> None:
    full = make(repository="octo-org/octo-repo", run_id="99", run_attempt=3, job="lint")
    for ctx in (make(), full):
        text = ctx.to_json()
        assert CIPipelineContext.from_json(text) == ctx
        assert CIPipelineContext.from_dict(json.loads(text)) == ctx
    # None fields are left out of the JSON.
    assert set(json.loads(make().to_json())) == set(REQUIRED)
    assert json.loads(full.to_json())["run_attempt"] == 3


def test_from_dict_ignores_unknown_keys() -> None:
    assert CIPipelineContext.from_dict({**VALID, "colour": "blue"}) == make()


def test_from_dict_names_every_missing_field() -> None:
    with pytest.raises(ValueError) as info:
        CIPipelineContext.from_dict({"pipeline_name": "CI", "git_branch": "", "environment": "ci"})
    assert str(info.value) == "context is missing build_number, git_commit, git_branch, triggered_by"


def test_from_dict_of_non_mapping() -> None:
    with pytest.raises(ValueError, match="context must be a JSON object"):
        CIPipelineContext.from_dict(["CI"])  # type: ignore[arg-type]


def test_from_dict_reports_bad_values() -> None:
    with pytest.raises(ValueError, match="git_commit 'nothex!' must be 7 to 40"):
        CIPipelineContext.from_dict({**VALID, "git_commit": "nothex!"})


# -- GitHub Actions and act ------------------------------------------------

#: What act 0.2 sets in a job container for `act push` in a clone whose
#: origin is github.com/octo-org/octo-repo (ACT=true, actor nektos/act, run
#: id, number and attempt all 1, an empty GITHUB_HEAD_REF).
ACT_ENV = {
    "ACT": "true",
    "CI": "true",
    "GITHUB_ACTIONS": "true",
    "GITHUB_ACTOR": "nektos/act",
    "GITHUB_API_URL": "https://api.github.com",
    "GITHUB_BASE_REF": "",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_EVENT_PATH": "/var/run/act/workflow/event.json",
    "GITHUB_HEAD_REF": "",
    "GITHUB_JOB": "test",
    "GITHUB_REF": "refs/heads/main",
    "GITHUB_REF_NAME": "main",
    "GITHUB_REF_TYPE": "branch",
    "GITHUB_REPOSITORY": "octo-org/octo-repo",
    "GITHUB_REPOSITORY_OWNER": "octo-org",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_RUN_ID": "1",
    "GITHUB_RUN_NUMBER": "1",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_SHA": "5f2b1c9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c",
    "GITHUB_WORKFLOW": "CI",
    "GITHUB_WORKSPACE": "/home/runner/work/octo-repo/octo-repo",
    "HOME": "/root",
    "RUNNER_TEMP": "/tmp",
}


def test_from_act_environment() -> None:
    ctx = CIPipelineContext.from_github_env(ACT_ENV)
    assert ctx == CIPipelineContext(
        pipeline_name="CI",
        build_number="1",
        git_commit="5f2b1c9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c",
        git_branch="main",
        environment="ci",
        triggered_by="push",
        repository="octo-org/octo-repo",
        run_id="1",
        run_attempt=1,
        job="test",
    )
    assert ctx.session_id == "CI-1"


def test_from_older_act_with_variables_missing() -> None:
    # Older act versions set neither GITHUB_REF_NAME nor GITHUB_RUN_ATTEMPT
    # nor GITHUB_JOB; the branch comes from GITHUB_REF, slashes and all.
    env = {
        k: v
        for k, v in ACT_ENV.items()
        if k not in {"GITHUB_REF_NAME", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB", "GITHUB_HEAD_REF"}
    }
    env["GITHUB_REF"] = "refs/heads/feature/login"
    ctx = CIPipelineContext.from_github_env(env, environment="local")
    assert (ctx.git_branch, ctx.run_attempt, ctx.job, ctx.build_number, ctx.environment) == (
        "feature/login",
        1,
        None,
        "1",
        "local",
    )


def test_from_pull_request_environment() -> None:
    env = {
        **ACT_ENV,
        "ACT": "",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_REF": "refs/pull/7/merge",
        "GITHUB_REF_NAME": "7/merge",
        "GITHUB_HEAD_REF": "feature/login",
        "GITHUB_BASE_REF": "main",
        "GITHUB_RUN_ID": "11937846235",
        "GITHUB_RUN_NUMBER": "318",
    }
    ctx = CIPipelineContext.from_github_env(env)
    assert (ctx.git_branch, ctx.triggered_by, ctx.build_number, ctx.run_id) == (
        "feature/login",
        "pull_request",
        "318",
        "11937846235",
    )


def test_second_attempt_gets_its_own_build_number() -> None:
    env = {**ACT_ENV, "GITHUB_RUN_NUMBER": "318", "GITHUB_RUN_ATTEMPT": "2"}
    ctx = CIPipelineContext.from_github_env(env)
    assert (ctx.build_number, ctx.run_attempt, ctx.session_id) == ("318.2", 2, "CI-318.2")


def test_run_id_stands_in_for_a_missing_run_number() -> None:
    env = {k: v for k, v in ACT_ENV.items() if k != "GITHUB_RUN_NUMBER"}
    env["GITHUB_RUN_ID"] = "987654"
    assert CIPipelineContext.from_github_env(env).build_number == "987654"


def test_missing_variables_are_all_named() -> None:
    with pytest.raises(ValueError) as info:
        CIPipelineContext.from_github_env({"HOME": "/root", "GITHUB_HEAD_REF": ""})
    assert str(info.value) == (
        "not a GitHub Actions environment: missing GITHUB_WORKFLOW, "
        "GITHUB_RUN_NUMBER or GITHUB_RUN_ID, GITHUB_SHA, "
        "GITHUB_REF_NAME, GITHUB_HEAD_REF or GITHUB_REF, GITHUB_EVENT_NAME"
    )


def test_one_missing_variable_is_named_alone() -> None:
    env = {k: v for k, v in ACT_ENV.items() if k != "GITHUB_SHA"}
    with pytest.raises(ValueError, match=r"^not a GitHub Actions environment: missing GITHUB_SHA$"):
        CIPipelineContext.from_github_env(env)


@pytest.mark.parametrize("attempt", ["0", "x", "-1", "²"])
def test_bad_run_attempt_variable(attempt: str) -> None:
    with pytest.raises(ValueError, match="GITHUB_RUN_ATTEMPT must be a positive integer"):
        CIPipelineContext.from_github_env({**ACT_ENV, "GITHUB_RUN_ATTEMPT": attempt})


def test_malformed_variable_is_a_validation_error() -> None:
    with pytest.raises(ValueError, match="git_commit 'not-a-sha' must be 7 to 40 hexadecimal"):
        CIPipelineContext.from_github_env({**ACT_ENV, "GITHUB_SHA": "not-a-sha"})


def test_a_pipeline_is_found_by_the_name_it_was_sent_with(tmp_path: Path) -> None:
    """Stored with dot leaders, looked up as sent: analytics, reports and
    the stage summary map the name the same way."""
    tracker = CICDTracker(storage=SkillsStorage(tmp_path / "n.db"))
    ctx = CIPipelineContext("./test", "1", "abcdef1", "main", "ci", "push")
    tracker.track_pipeline_stage(ctx, "lint", "ruff-check", True, 2.0)
    assert [s.total_runs for s in tracker.get_pipeline_analytics("./test").stages] == [1]
    assert tracker.get_pipeline_analytics("\u2024/test").pipeline_name == "\u2024/test"
    summary = tracker.get_stage_summary("./test", "lint")
    assert summary is not None and summary.total_runs == 1
