"""Fixtures of the skills tests: embedders (MiniLM loaded once per test
session), storages with and without sqlite-vec, and trackers on them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tracker.embeddings import Embedder, HashingEmbedder, MiniLMEmbedder, minilm_installed
from tracker.ide import IDEPluginProtocol
from tracker.semantic import SkillCatalogue
from tracker.settings import Settings
from tracker.storage import SkillsStorage

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    """The real all-MiniLM-L6-v2, offline, loaded once for the whole session."""
    if not minilm_installed():
        pytest.fail("the embeddings extra is part of the test install (scripts/bootstrap test)")
    embedder = MiniLMEmbedder()
    embedder.embed(["warm up"])
    return embedder


@pytest.fixture(scope="session")
def fallback() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(params=["minilm", "fallback"])
def embedder(request: pytest.FixtureRequest) -> Embedder:
    """Each test that takes it runs with both embedders."""
    found = request.getfixturevalue(request.param)
    assert isinstance(found, MiniLMEmbedder | HashingEmbedder)
    return found


StorageFactory = Callable[..., SkillsStorage]


@pytest.fixture
def make_storage(tmp_path: Path, settings: Settings) -> Iterator[StorageFactory]:
    """Open storages (closed at the end); ``vector=False`` is the
    no-extension path."""
    opened: list[SkillsStorage] = []

    def make(name: str = "skills.db", *, vector: bool = True, **changes: object) -> SkillsStorage:
        store = SkillsStorage(tmp_path / name, settings=settings.with_(**changes), vector=vector)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def plugin(storage: SkillsStorage, embedder: Embedder) -> IDEPluginProtocol:
    return IDEPluginProtocol(storage, catalogue=SkillCatalogue(storage, embedder))
