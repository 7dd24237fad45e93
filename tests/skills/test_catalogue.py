"""The catalogue: seeded with the vocabulary, searched through sqlite-vec
or numpy with the same results, kept in step across processes and
embedders, extended by users, and user queries stored."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text

from tracker.catalogue import BUILTIN, CatalogueEntry
from tracker.embeddings import DIMS, Embedder, HashingEmbedder, normalise
from tracker.ide_rules import CODE_PATTERNS, DEFAULT_SHORTCUTS, LANGUAGE_SKILLS
from tracker.phases import CI_STAGES, CRACKERJACK_PHASES, WorkflowPhase
from tracker.semantic import SkillCatalogue
from tracker.storage import SkillsStorage

from .conftest import StorageFactory


def vocabulary_skills() -> set[str]:
    names: set[str] = set()
    for table in (CRACKERJACK_PHASES, CI_STAGES):
        for skills in table.usual_skills.values():
            names.update(skills)
    for categories in LANGUAGE_SKILLS.values():
        for skills in categories.values():
            names.update(skills)
    for pattern in CODE_PATTERNS:
        names.update(pattern.skills)
    names.update(DEFAULT_SHORTCUTS)
    return names


def test_every_vocabulary_skill_is_seeded_with_a_description(storage: SkillsStorage) -> None:
    catalogue = SkillCatalogue(storage, HashingEmbedder())
    catalogue.ensure_seeded()
    entries = catalogue.entries()
    missing = vocabulary_skills() - set(entries)
    assert not missing
    for name in vocabulary_skills():
        entry = entries[name]
        assert len(entry.description) > 20 and "\n" not in entry.description
        assert entry.workflow_phase is not None
    assert entries["pytest-run"].languages == ("python",)
    assert entries["docker-build"].languages == ()
    # Seeding again adds nothing and keeps a user's change.
    catalogue.add(
        CatalogueEntry("pytest-run", "My own pytest wrapper", WorkflowPhase.EXECUTION), replace=True
    )
    assert storage.seed_catalogue(BUILTIN.values()) == 0
    assert catalogue.entries(["pytest-run"])["pytest-run"].description == "My own pytest wrapper"


def random_entries(n: int, seed: int = 7) -> tuple[list[CatalogueEntry], np.ndarray]:
    rng = np.random.default_rng(seed)
    entries = [CatalogueEntry(f"skill-{i:04d}", f"synthetic skill number {i}") for i in range(n)]
    return entries, normalise(rng.normal(size=(n, DIMS)))


def fill(storage: SkillsStorage, entries: list[CatalogueEntry], vectors: np.ndarray, embedder: str) -> None:
    for entry, vector in zip(entries, vectors, strict=True):
        storage.add_catalogue_entry(entry, vector, embedder)


def test_vec0_and_numpy_give_the_same_top_results(make_storage: StorageFactory) -> None:
    with_vec = make_storage("a.db")
    without = make_storage("b.db", vector=False)
    assert with_vec.vector_enabled and not without.vector_enabled
    entries, vectors = random_entries(300)
    for store in (with_vec, without):
        fill(store, entries, vectors, "test-embedder")
    queries = normalise(np.random.default_rng(1).normal(size=(40, DIMS)))
    for q in queries:
        a = with_vec.search_catalogue(q, 10, "test-embedder")
        b = without.search_catalogue(q, 10, "test-embedder")
        assert [m.name for m in a] == [m.name for m in b]
        assert np.allclose([m.similarity for m in a], [m.similarity for m in b], atol=1e-5)
        expected = np.argsort(-(vectors @ q))[:10]
        assert [m.name for m in b] == [entries[i].name for i in expected]
    # The vec path really ran in SQL: the index exists and holds every vector.
    with with_vec.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM skill_catalogue_vec")).scalar() == 300


def test_both_paths_rank_real_texts_alike(make_storage: StorageFactory, embedder: Embedder) -> None:
    results = []
    for store in (make_storage("a.db"), make_storage("b.db", vector=False)):
        catalogue = SkillCatalogue(store, embedder)
        results.append(
            [[m.name for m in catalogue.search(q, 5)] for q in ("run my unit tests", "check types", "deploy")]
        )
    assert results[0] == results[1]


def test_the_same_file_through_both_paths(make_storage: StorageFactory, fallback: HashingEmbedder) -> None:
    vec = SkillCatalogue(make_storage("same.db"), fallback)
    plain = SkillCatalogue(make_storage("same.db", vector=False), fallback)
    first = [m.name for m in vec.search("lint python code", 8)]
    # A process without sqlite-vec adds a skill: the vec0 index, now stale,
    # is rebuilt by the next search that uses it.
    plain.add(CatalogueEntry("lint-python-code", "lint python code lint python code"))
    assert plain.search("lint python code", 1)[0].name == "lint-python-code"
    second = [m.name for m in vec.search("lint python code", 8)]
    assert second[0] == "lint-python-code" and second[1:] == first[:7]


def test_vec0_index_follows_additions_and_the_embedder(
    make_storage: StorageFactory, embedder: Embedder
) -> None:
    store = make_storage()
    catalogue = SkillCatalogue(store, embedder)
    catalogue.search("tests", 3)
    catalogue.add(CatalogueEntry("alembic-check", "Check database migrations match the SQLAlchemy models"))
    assert catalogue.search("database migrations and models", 1)[0].name == "alembic-check"
    # Another embedder takes over the same database: everything is re-embedded.
    other: Embedder = HashingEmbedder() if embedder.name != "hashing-v1" else _Reversed()
    switched = SkillCatalogue(store, other)
    switched.search("tests", 3)
    assert {r["embedder"] for r in store.catalogue_entries()} == {other.name}
    assert store.search_catalogue(other.embed(["x"])[0], 3, embedder.name) == []


class _Reversed(HashingEmbedder):
    """A second deterministic embedder, different from the fallback."""

    name = "reversed-hashing"

    def embed(self, texts: list[str]) -> np.ndarray:  # type: ignore[override]
        return super().embed([t[::-1] for t in texts])


def test_numpy_cache_is_invalidated_by_another_process(make_storage: StorageFactory) -> None:
    reader = make_storage("c.db", vector=False)
    writer = make_storage("c.db", vector=False)
    entries, vectors = random_entries(20)
    fill(writer, entries, vectors, "e")
    assert len(reader.search_catalogue(vectors[0], 50, "e")) == 20
    writer.add_catalogue_entry(CatalogueEntry("late", "added later"), vectors[1], "e")
    found = reader.search_catalogue(vectors[1], 2, "e")
    assert {m.name for m in found} == {"late", "skill-0001"}


def test_users_add_skills(storage: SkillsStorage, fallback: HashingEmbedder) -> None:
    catalogue = SkillCatalogue(storage, fallback)
    # Loose input, as users give it: __post_init__ parses the phase and the languages.
    entry = CatalogueEntry("alembic-check", "Check migrations", "verification", ["py"])  # type: ignore[arg-type]
    catalogue.add(entry)
    stored = catalogue.entries(["alembic-check"])["alembic-check"]
    assert stored.languages == ("python",) and stored.workflow_phase is WorkflowPhase.VERIFICATION
    with pytest.raises(ValueError, match="already in the catalogue"):
        catalogue.add(entry)
    catalogue.add(CatalogueEntry("alembic-check", "Check migrations against models"), replace=True)
    assert (
        catalogue.entries(["alembic-check"])["alembic-check"].description == "Check migrations against models"
    )
    row = next(r for r in storage.catalogue_entries(["alembic-check"]))
    assert row["builtin"] is False and row["embedder"] == fallback.name


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "", "description": "x"}, "name"),
        ({"name": "a\tb", "description": "x"}, "name"),
        ({"name": "ok", "description": "  "}, "description"),
        ({"name": "ok", "description": "x", "workflow_phase": "testing"}, "workflow phase"),
        ({"name": "ok", "description": "x", "languages": "python"}, "languages"),
        ({"name": "ok", "description": "x", "languages": ["py thon"]}, "language"),
    ],
)
def test_catalogue_entry_validation(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CatalogueEntry(**fields)  # type: ignore[arg-type]


def test_distinct_user_queries_are_stored_with_their_vector(
    storage: SkillsStorage, fallback: HashingEmbedder
) -> None:
    catalogue = SkillCatalogue(storage, fallback)
    catalogue.search("Run the  tests", 3, remember=True)
    catalogue.search("run the tests", 3, remember=True)  # same query: case and spaces do not count
    catalogue.search("check types", 3, remember=True)
    queries = {q["text"].lower(): q for q in storage.queries()}
    assert queries["run the tests"]["uses"] == 2 and queries["check types"]["uses"] == 1
    assert queries["run the tests"]["embedder"] == fallback.name
    stored = storage.stored_query_vector("run the tests", fallback.name)
    assert stored is not None and np.allclose(stored, fallback.embed(["run the tests"])[0])


def test_a_query_without_words_matches_nothing(storage: SkillsStorage, fallback: HashingEmbedder) -> None:
    assert SkillCatalogue(storage, fallback).search(",;", 5) == []
