"""Ranking on a labelled set of contexts and queries (the right skill in the
top 3, with MiniLM and with the fallback), and how history, baselines,
phase and feedback move it."""

from __future__ import annotations

import pytest

from tracker.embeddings import Embedder
from tracker.ide import IDEPluginProtocol
from tracker.ide_context import IDEContext
from tracker.phases import Outcome, Source, WorkflowPhase
from tracker.records import InvocationRecord
from tracker.semantic import SkillCatalogue
from tracker.skills import SkillsTracker
from tracker.storage import SkillsStorage

# (file, selection, the skill that must be in the top 3)
LABELLED_CONTEXTS = [
    ("src/test_main.py", "def test_foo():", "pytest-run"),
    ("web/cart.test.ts", "describe('cart', () => {\n  it('adds', () => {})\n})", "jest-run"),
    ("web/__tests__/cart.js", "test('adds', () => {})", "jest-run"),
    ("app/db.py", 'cursor.execute("SELECT id FROM users WHERE name = ?")', "sql-lint"),
    ("tools/run.py", "subprocess.run(cmd, shell=True)", "bandit-security"),
    ("app/calc.py", "result = eval(user_input)", "bandit-security"),
    ("app/service.py", "async def fetch(url):\n    return await client.get(url)", "asyncio-check"),
    ("app/models.py", "class User(Base):\n    names: list[str]", "mypy-check"),
    ("app/util.py", '"""Return the sum of the numbers."""', "doc-generate"),
    ("src/main.py", "import os\nfrom pathlib import Path", "ruff-check"),
    ("src/index.ts", None, "tsc-check"),
    ("Dockerfile", "FROM python:3.12-slim\nRUN pip install .", "docker-build"),
    ("infra/main.tf", 'resource "aws_s3_bucket" "b" {}', "terraform-apply"),
    ("charts/app/Chart.yaml", "apiVersion: v2", "helm-deploy"),
    ("package.json", '{"name": "web"}', "npm-install"),
]

# (query, the skill that must be in the top 3)
LABELLED_QUERIES = [
    ("run the unit tests", "pytest-run"),
    ("check type annotations", "mypy-check"),
    ("format my python code", "ruff-format"),
    ("deploy to kubernetes with helm", "helm-deploy"),
    ("publish the package to pypi", "pypi-publish"),
    ("find dead code", "skylos-deadcode"),
    ("fix spelling mistakes", "codespell"),
    ("scan dependencies for known vulnerabilities", "safety-check"),
    ("build the docker image", "docker-build"),
    ("measure test coverage", "pytest-coverage"),
    ("lint javascript", "eslint-check"),
    ("apply terraform infrastructure", "terraform-apply"),
]


def test_labelled_contexts_top_3(plugin: IDEPluginProtocol) -> None:
    misses = []
    for path, code, wanted in LABELLED_CONTEXTS:
        answer = plugin.recommend(IDEContext(file_path=path, line_number=1, selected_code=code), 3)
        names = [s.skill_name for s in answer.suggestions]
        if wanted not in names:
            misses.append((path, wanted, names))
        assert all(0 <= s.confidence <= 1 for s in answer.suggestions)
        assert [s.confidence for s in answer.suggestions] == sorted(
            (s.confidence for s in answer.suggestions), reverse=True
        )
    assert not misses, f"{plugin.catalogue.embedder_name}: {misses}"


def test_labelled_queries_top_3(storage: SkillsStorage, embedder: Embedder) -> None:
    tracker = SkillsTracker("s1", storage, catalogue=SkillCatalogue(storage, embedder))
    misses = []
    for query, wanted in LABELLED_QUERIES:
        names = [r.skill_name for r in tracker.recommend_skills(query, 3)]
        if wanted not in names:
            misses.append((query, wanted, names))
    assert not misses, f"{embedder.name}: {misses}"


def runs(
    storage: SkillsStorage, skill: str, project: str, ok: int, failed: int, seconds: float = 5.0
) -> None:
    storage.record_invocations(
        InvocationRecord(
            skill_name=skill,
            session_id=f"{project}_1",
            workflow_phase=WorkflowPhase.SETUP,
            source=Source.SESSION,
            outcome=Outcome.SUCCESS if i < ok else Outcome.FAILURE,
            duration_seconds=seconds,
            workflow_path=project,
        )
        for i in range(ok + failed)
    )


def test_history_moves_a_skill_up_or_down(storage: SkillsStorage, embedder: Embedder) -> None:
    tracker = SkillsTracker("s1", storage, project="web", catalogue=SkillCatalogue(storage, embedder))
    before = [r.skill_name for r in tracker.recommend_skills("format my python code", 5)]
    assert before.index("black-format") < before.index("ruff-format")
    runs(storage, "black-format", "web", ok=0, failed=8)
    runs(storage, "ruff-format", "web", ok=8, failed=0)
    after = tracker.recommend_skills("format my python code", 5)
    names = [r.skill_name for r in after]
    assert names.index("ruff-format") < names.index("black-format")
    ruff = after[names.index("ruff-format")]
    assert ruff.history_source == "local" and ruff.completion_rate == 1.0 and ruff.mean_duration == 5.0


def test_no_local_history_falls_back_to_the_baselines(storage: SkillsStorage, fallback: Embedder) -> None:
    other = SkillsTracker("s2", storage, project="api", catalogue=SkillCatalogue(storage, fallback))
    unknown = {r.skill_name: r for r in other.recommend_skills("format my python code", 5)}["black-format"]
    assert unknown.history_source == "none" and unknown.history_score == pytest.approx(0.4)
    runs(storage, "black-format", "web", ok=1, failed=3, seconds=12.0)
    storage.refresh_baselines()
    found = {r.skill_name: r for r in other.recommend_skills("format my python code", 5)}
    black = found["black-format"]
    assert black.history_source == "baseline"
    assert black.completion_rate == 0.25 and black.mean_duration == 12.0
    assert found["ruff-format"].history_source == "none"
    # A poor baseline costs score: 0.6 × 2/6 + 0.2 / (1 + 12/300) + 0 < 0.4.
    assert black.history_score == pytest.approx(0.6 * 2 / 6 + 0.2 / 1.04)
    assert black.score < unknown.score


def test_phase_fit(storage: SkillsStorage, fallback: Embedder) -> None:
    tracker = SkillsTracker("s1", storage, catalogue=SkillCatalogue(storage, fallback))
    neutral = {r.skill_name: r for r in tracker.recommend_skills("docker", 6)}
    deploy = {r.skill_name: r for r in tracker.recommend_skills("docker", 6, WorkflowPhase.DEPLOYMENT)}
    assert neutral["docker-push"].phase_fit == 0.5 and deploy["docker-push"].phase_fit == 1.0
    assert deploy["docker-build"].phase_fit == 0.0
    assert list(deploy).index("docker-push") < list(deploy).index("docker-build")
    with pytest.raises(ValueError, match="valid phases"):
        tracker.recommend_skills("docker", 3, "shipping")
    with pytest.raises(ValueError, match="limit"):
        tracker.recommend_skills("docker", 0)
    with pytest.raises(ValueError, match="query"):
        tracker.recommend_skills("   ", 3)


def test_feedback_shifts_ranking(plugin: IDEPluginProtocol) -> None:
    context = IDEContext(file_path="src/index.ts", line_number=1, project_name="web")
    first, second = (s.skill_name for s in plugin.recommend(context, 2).suggestions)
    before = {s.skill_name: s.confidence for s in plugin.recommend(context, 5).suggestions}
    for _ in range(5):
        plugin.record_feedback(first, False, context)
        plugin.record_feedback(second, True, context)
    after = plugin.recommend(context, 5).suggestions
    confidence = {s.skill_name: s.confidence for s in after}
    assert confidence[first] < before[first] and confidence[second] > before[second]
    assert after[0].skill_name == second
    assert any(r.startswith("feedback:+") for r in after[0].reasons)


def test_history_gives_the_estimated_duration(plugin: IDEPluginProtocol) -> None:
    runs(plugin.storage, "pytest-run", "myproject", ok=3, failed=1, seconds=8.0)
    context = IDEContext(file_path="tests/test_x.py", line_number=1, project_name="myproject")
    found = {s.skill_name: s for s in plugin.get_code_context_recommendations(context, 5)}
    assert found["pytest-run"].estimated_duration == 8.0
    assert found["pytest-run"].shortcut == "Ctrl+Shift+T"
    assert found["pytest-debug"].estimated_duration is None
