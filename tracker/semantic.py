"""Semantic search over the skill catalogue: storage plus an embedder.

:class:`SkillCatalogue` seeds the built-in skills, embeds whatever entry
lacks a vector from the current embedder (once per catalogue version, not
per request), embeds queries (with a per-process cache), and searches.

>>> catalogue = SkillCatalogue(SkillsStorage("skills.db"))   # doctest: +SKIP
>>> [m.name for m in catalogue.search("run my unit tests", k=3)]  # doctest: +SKIP
['pytest-run', 'jest-run', 'vitest-run']
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from .catalogue import CatalogueEntry, builtin_entries
from .embeddings import Embedder, QueryCache, Vectors, get_embedder
from .storage import SkillsStorage
from .storage.catalogue import CatalogueMatch

#: vec0 answers at most this many neighbours per query.
MAX_K = 1000
MAX_QUERY = 2000


class SkillCatalogue:
    """The catalogue of one storage, searched with one embedder.

    :param embedder: default: the one the storage's ``embedder`` setting names.
    """

    def __init__(self, storage: SkillsStorage, embedder: Embedder | None = None) -> None:
        self.storage = storage
        self.embedder = embedder or get_embedder(storage.settings.embedder)
        self.queries = QueryCache(self.embedder)
        self._lock = threading.Lock()
        self._seeded = False
        self._ready_version: int | None = None
        self._entries: tuple[int, dict[str, CatalogueEntry]] | None = None

    @property
    def embedder_name(self) -> str:
        return self.embedder.name

    def ensure_seeded(self) -> None:
        """Add the built-in skills that are missing (cheap: names only)."""
        if not self._seeded:
            self.storage.seed_catalogue(builtin_entries())
            self._seeded = True

    def ensure_embedded(self) -> int:
        """Embed every entry without a vector from this embedder; returns
        the catalogue version that is now fully embedded."""
        version = self.storage.catalogue_version()
        if version == self._ready_version:
            return version
        with self._lock:
            self.ensure_seeded()
            while True:
                pending = self.storage.pending_embeddings(self.embedder.name)
                if not pending:
                    break
                vectors = self.embedder.embed([text for _, text in pending])
                self.storage.store_embeddings(
                    [(skill_id, vectors[i]) for i, (skill_id, _) in enumerate(pending)], self.embedder.name
                )
            self._ready_version = self.storage.catalogue_version()
            return self._ready_version

    def embed_query(self, text: str, *, remember: bool = False) -> Vectors:
        """The vector of a query. With ``remember``, the distinct query is
        stored with its vector (and a stored vector is reused)."""
        text = _check_query(text)
        if remember:
            stored = self.storage.stored_query_vector(text, self.embedder.name)
            vector = stored if stored is not None else self.queries.embed_one(text)
            self.storage.remember_query(text, vector if stored is None else None, self.embedder.name)
            return vector
        return self.queries.embed_one(text)

    def search(
        self, query: str | Vectors, k: int = 10, *, remember: bool = False, version: int | None = None
    ) -> list[CatalogueMatch]:
        """The ``k`` skills nearest to ``query`` (text or vector), best first.
        ``version``: what :meth:`ensure_embedded` just returned, if called."""
        if version is None:
            version = self.ensure_embedded()
        vector = self.embed_query(query, remember=remember) if isinstance(query, str) else query
        return self.storage.search_catalogue(
            vector, min(max(k, 0), MAX_K), self.embedder.name, version=version
        )

    def similarities(self, query: Vectors, names: Sequence[str]) -> dict[str, float]:
        """Cosine similarity of ``query`` to each of ``names`` that has a vector."""
        vectors = self.storage.catalogue_vectors(list(names), self.embedder.name, version=self._ready_version)
        if not vectors:
            return {}
        keys = list(vectors)
        sims = np.stack([vectors[k] for k in keys]) @ np.asarray(query, dtype=np.float32)
        return {k: float(s) for k, s in zip(keys, sims, strict=True)}

    def add(self, entry: CatalogueEntry, *, replace: bool = False) -> int:
        """Add (or replace) a user's skill, embedded now; returns its id.

        :raises ValueError: when the name exists and ``replace`` is false.
        """
        self.ensure_seeded()
        vector = self.embedder.embed([entry.embedding_text()])[0]
        return self.storage.add_catalogue_entry(entry, vector, self.embedder.name, replace=replace)

    def entries(
        self, names: Sequence[str] | None = None, *, version: int | None = None
    ) -> dict[str, CatalogueEntry]:
        """Catalogue entries by name (all when ``names`` is ``None``), from a
        copy in memory reloaded when the catalogue version changes (a request
        reads the names and phases of dozens of skills). ``version``: the
        version the caller has just read, to save reading it again."""
        self.ensure_seeded()
        if version is None:
            version = self.storage.catalogue_version()
        cached = self._entries
        if cached is None or cached[0] != version:
            version = self.storage.catalogue_version()
            rows = self.storage.catalogue_entries()
            cached = (version, {r["name"]: CatalogueEntry.from_row(r) for r in rows})
            self._entries = cached
        if names is None:
            return dict(cached[1])
        return {n: cached[1][n] for n in names if n in cached[1]}


def _check_query(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("query must be a non-empty string")
    text = " ".join(text.split())
    if len(text) > MAX_QUERY:
        raise ValueError(f"query is longer than {MAX_QUERY} characters")
    return text
