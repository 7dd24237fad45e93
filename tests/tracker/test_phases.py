"""The workflow vocabulary: every built-in mapping, the default for unknown
names, user extensions and their errors."""

from __future__ import annotations

import pytest

from tracker.cicd import CICDTracker
from tracker.phases import (
    CI_STAGES,
    CRACKERJACK_PHASES,
    Integration,
    WorkflowPhase,
    parse_phase_overrides,
    phase_map_for,
)
from tracker.settings import Settings
from tracker.storage import SkillsStorage

S, E, V, D = (
    WorkflowPhase.SETUP,
    WorkflowPhase.EXECUTION,
    WorkflowPhase.VERIFICATION,
    WorkflowPhase.DEPLOYMENT,
)


@pytest.mark.parametrize(
    ("stage", "phase"),
    [("build", S), ("test", E), ("lint", V), ("security", V), ("deploy", D), ("publish", D)],
)
def test_ci_stage_map(stage: str, phase: WorkflowPhase) -> None:
    assert CI_STAGES.phase_for(stage) is phase
    assert CI_STAGES.phase_for(f"  {stage.upper()} ") is phase  # case and spaces don't matter


@pytest.mark.parametrize(
    ("name", "phase"),
    [("fast_hooks", S), ("tests", E), ("comprehensive_hooks", V), ("ai_fix", E)],
)
def test_crackerjack_map(name: str, phase: WorkflowPhase) -> None:
    assert CRACKERJACK_PHASES.phase_for(name) is phase
    assert CRACKERJACK_PHASES.strict_phase_for(name) is phase


def test_maps_hold_exactly_the_vocabulary() -> None:
    assert dict(CI_STAGES.table) == {
        "build": S,
        "test": E,
        "lint": V,
        "security": V,
        "deploy": D,
        "publish": D,
    }
    assert dict(CRACKERJACK_PHASES.table) == {
        "fast_hooks": S,
        "tests": E,
        "comprehensive_hooks": V,
        "ai_fix": E,
    }
    assert [p.value for p in WorkflowPhase] == ["setup", "execution", "verification", "deployment"]


@pytest.mark.parametrize("name", ["smoke-tests", "e2e", "Package", "notify slack"])
def test_unknown_ci_stage_maps_to_documented_default(name: str) -> None:
    assert not CI_STAGES.knows(name)
    assert CI_STAGES.phase_for(name) is E


def test_crackerjack_strict_error_lists_valid_phases() -> None:
    with pytest.raises(ValueError) as info:
        CRACKERJACK_PHASES.strict_phase_for("slow_hooks")
    message = str(info.value)
    assert "'slow_hooks'" in message
    for valid in ("fast_hooks", "tests", "comprehensive_hooks", "ai_fix"):
        assert valid in message


def test_tracker_rejects_unknown_crackerjack_phase_but_not_ci_stage(storage: SkillsStorage) -> None:
    tracker = CICDTracker(storage=storage)
    assert tracker.phase_for("fast_hooks", Integration.CRACKERJACK) is S
    assert tracker.phase_for("whatever-stage") is E
    with pytest.raises(ValueError, match="valid phases: fast_hooks, tests, comprehensive_hooks, ai_fix"):
        tracker.phase_for("whatever", "crackerjack")


def test_extended_adds_and_overrides_without_touching_the_original() -> None:
    custom = CI_STAGES.extended({"E2E": "verification", "deploy": WorkflowPhase.SETUP})
    assert custom.phase_for("e2e") is V
    assert custom.phase_for("deploy") is S
    assert custom.phase_for("lint") is V
    assert custom.phase_for("unknown") is E
    assert CI_STAGES.phase_for("deploy") is D
    assert not CI_STAGES.knows("e2e")
    assert custom.usual_skills == CI_STAGES.usual_skills


def test_extended_rejects_unknown_phase() -> None:
    with pytest.raises(ValueError, match="unknown workflow phase 'testing'; valid phases: setup, execution"):
        CI_STAGES.extended({"e2e": "testing"})


def test_parse_phase_overrides() -> None:
    assert parse_phase_overrides(" e2e = Verification , package=setup,,") == {"e2e": V, "package": S}
    assert parse_phase_overrides("") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("e2e", "'e2e' is not of the form name=phase"),
        ("=setup", "'=setup' is not of the form name=phase"),
        ("e2e=testing", "unknown workflow phase 'testing'"),
    ],
)
def test_parse_phase_overrides_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_phase_overrides(text)


def test_settings_overrides_reach_the_tracker(storage: SkillsStorage) -> None:
    settings = Settings.from_env(
        {"SESSION_BUDDY_CI_STAGE_PHASES": "e2e=verification"}, database_url=storage.url
    )
    tracker = CICDTracker(storage=storage, settings=settings)
    assert tracker.phase_for("e2e") is V
    assert phase_map_for(Integration.CI, settings.stage_phase_overrides).phase_for("E2E") is V
    with pytest.raises(ValueError, match="not of the form"):
        Settings.from_env({"SESSION_BUDDY_CI_STAGE_PHASES": "e2e"})


def test_usual_skills_of_each_phase() -> None:
    assert CI_STAGES.skills_for_phase(D) == (
        "docker-push",
        "helm-deploy",
        "terraform-apply",
        "npm-publish",
        "pypi-publish",
    )
    assert CRACKERJACK_PHASES.skills_for_phase(S) == (
        "ruff-format",
        "ruff-check",
        "codespell",
        "whitespace-check",
    )


def test_a_name_is_found_alike_by_every_map_and_rule() -> None:
    # The Action's output, the receiver's stored phase and a webhook job's
    # phase must agree, whatever the spaces and case of the name.
    from tracker.github.rules import PhaseRules, stage_phase
    from tracker.phases import Integration, WorkflowPhase, parse_phase_overrides, phase_map_for

    overrides = parse_phase_overrides("smoke  test=verification")
    ci_map = phase_map_for(Integration.CI, overrides)
    rules = PhaseRules.build(exact=overrides)
    for name in ("smoke test", "Smoke  Test", " smoke\ttest "):
        assert ci_map.phase_for(name) is WorkflowPhase.VERIFICATION, name
        assert rules.job_phase(name) is WorkflowPhase.VERIFICATION, name
        assert stage_phase(name, ci_map, rules) is WorkflowPhase.VERIFICATION, name
