"""The skill catalogue: entries, their embeddings, and nearest-neighbour search.

Embeddings live as float32 BLOBs in ``skill_catalogue`` (the truth, on every
database). Where sqlite-vec is loaded, a ``vec0`` virtual table indexes them
(rowid = catalogue id) and KNN runs in SQL; it is created at run time, and
rebuilt from the BLOBs when it is missing, holds another embedder's vectors,
or lags behind the catalogue (another process without sqlite-vec changed
it). Elsewhere the vectors are read into numpy once per process and catalogue
version, and searched by brute force (0.3 ms for 10,000 × 384). Both paths
rank by cosine similarity, so they give the same top results.

``skills_state.catalogue_version`` is bumped by every catalogue write: it is
how each process learns that its cached vectors or the vec0 index are stale.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, bindparam, event, func, select, text, update

from ..catalogue import CatalogueEntry
from ..embeddings import DIMS, Vectors, from_blob, normalise, to_blob
from ..records import utcnow
from .base import StorageBase
from .schema import skill_catalogue, skills_state

cat = skill_catalogue
VEC_TABLE = "skill_catalogue_vec"
# The statements of the vec0 index, spelled out (384 = DIMS).
assert DIMS == 384
_VEC_CREATE = (
    "CREATE VIRTUAL TABLE skill_catalogue_vec USING vec0(embedding float[384] distance_metric=cosine)"
)
_VEC_DROP = "DROP TABLE IF EXISTS skill_catalogue_vec"
_VEC_DELETE = "DELETE FROM skill_catalogue_vec WHERE rowid = :id"
_VEC_INSERT = "INSERT INTO skill_catalogue_vec(rowid, embedding) VALUES (:id, :v)"
_VEC_FILL = (
    "INSERT INTO skill_catalogue_vec(rowid, embedding) SELECT id, embedding FROM skill_catalogue "
    "WHERE embedder = :e AND embedding IS NOT NULL"
)
_VEC_KNN = (
    "SELECT c.name, v.distance FROM (SELECT rowid, distance FROM skill_catalogue_vec "
    "WHERE embedding MATCH :q AND k = :k) AS v JOIN skill_catalogue AS c ON c.id = v.rowid "
    "ORDER BY v.distance, c.id"
)
_KNN = text(_VEC_KNN)
#: sqlite-vec answers at most this many neighbours.
MAX_VEC_K = 4096
_VECTORS_OF = select(cat.c.name, cat.c.embedding).where(
    cat.c.name.in_(bindparam("names", expanding=True)),
    cat.c.embedder == bindparam("embedder"),
    cat.c.embedding.is_not(None),
)


@dataclass(frozen=True)
class CatalogueMatch:
    """A catalogue skill and its cosine similarity to a query."""

    name: str
    similarity: float


@dataclass
class _Matrix:
    version: int
    embedder: str
    names: list[str]
    vectors: Vectors
    rows: dict[str, int]


class CatalogueStore(StorageBase):
    """Catalogue rows, their vectors, the vec0 index and stored user queries."""

    _matrix: _Matrix | None = None
    _matrix_lock = threading.Lock()
    _vec_checked: tuple[int, str] | None = None

    def _after_open(self) -> None:
        super()._after_open()
        if self.vector_enabled:
            # vec0 scans every vector of the catalogue per query; through a
            # memory map its chunks are read in place instead of copied
            # through SQLite's page cache (10,000 × 384: 4.2 ms a query
            # instead of 7.3 ms, as fast as an in-memory table).
            event.listen(self.engine, "connect", _map_memory)
            self.engine.dispose()  # connections opened while migrating: reopen with it

    # -- state -------------------------------------------------------------

    def _state(self, conn: Connection) -> Any:
        row = conn.execute(select(skills_state).where(skills_state.c.id == 1)).first()
        if row is None:
            self.upsert(conn, skills_state, {"id": 1, "catalogue_version": 0}, ["id"])
            row = conn.execute(select(skills_state).where(skills_state.c.id == 1)).one()
        return row

    def catalogue_version(self) -> int:
        """The version every catalogue write bumps (0 for a new database)."""
        with self.read("reading the catalogue version") as conn:
            found = conn.execute(
                select(skills_state.c.catalogue_version).where(skills_state.c.id == 1)
            ).scalar()
        return int(found or 0)

    def _bump(self, conn: Connection, *, index_too: bool = False) -> int:
        state = self._state(conn)
        version = int(state.catalogue_version) + 1
        values: dict[str, Any] = {"catalogue_version": version}
        if index_too:
            values["vector_version"] = version
        conn.execute(update(skills_state).where(skills_state.c.id == 1).values(**values))
        return version

    # -- entries -----------------------------------------------------------

    def seed_catalogue(self, entries: Iterable[CatalogueEntry], *, builtin: bool = True) -> int:
        """Insert the ``entries`` that are missing, in one transaction, never
        overwriting an existing one (a user's change of a built-in skill
        stays); returns how many were added. They are embedded later, by
        :meth:`tracker.semantic.SkillCatalogue.ensure_embedded` (a bulk
        import of users' skills passes ``builtin=False``)."""
        now = utcnow()
        with self.write("seeding the skill catalogue") as conn:
            added = 0
            for entry in entries:
                added += self.upsert(
                    conn,
                    cat,
                    {**_entry_values(entry), "builtin": builtin, "created_at": now, "updated_at": now},
                    ["name"],
                )
            if added:
                self._bump(conn)
        return added

    def add_catalogue_entry(
        self,
        entry: CatalogueEntry,
        embedding: Vectors | None = None,
        embedder: str | None = None,
        *,
        replace: bool = False,
    ) -> int:
        """Add a user's skill (or, with ``replace``, change an existing one).
        Returns its id.

        :raises ValueError: when the name exists and ``replace`` is false.
        """
        now = utcnow()
        blob = to_blob(embedding) if embedding is not None else None
        with self.write("adding a skill to the catalogue") as conn:
            existing = conn.execute(select(cat.c.id).where(cat.c.name == entry.name)).scalar()
            values = {**_entry_values(entry), "embedding": blob, "embedder": embedder, "updated_at": now}
            if existing is not None:
                if not replace:
                    raise ValueError(f"skill {entry.name!r} is already in the catalogue")
                conn.execute(update(cat).where(cat.c.id == existing).values(**values))
                skill_id = int(existing)
            else:
                result = conn.execute(cat.insert().values(**values, builtin=False, created_at=now))
                assert result.inserted_primary_key is not None
                skill_id = int(result.inserted_primary_key[0])
            self._after_catalogue_write(conn, [(skill_id, blob)], embedder, replaced=existing is not None)
        return skill_id

    def catalogue_entries(
        self, names: Sequence[str] | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Catalogue rows (without vectors), by name; all when ``names`` is
        ``None``."""
        query = select(
            cat.c.id,
            cat.c.name,
            cat.c.description,
            cat.c.workflow_phase,
            cat.c.languages,
            cat.c.builtin,
            cat.c.embedder,
        ).order_by(cat.c.name)
        if names is not None:
            if not names:
                return []
            query = query.where(cat.c.name.in_(list(names)))
        if limit is not None:
            query = query.limit(limit).offset(offset)
        with self.read("reading the skill catalogue") as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def catalogue_size(self) -> int:
        with self.read("counting the skill catalogue") as conn:
            return int(conn.execute(select(func.count()).select_from(cat)).scalar_one())

    # -- embeddings ----------------------------------------------------------

    def pending_embeddings(self, embedder: str, limit: int = 512) -> list[tuple[int, str]]:
        """``(id, text to embed)`` of entries without a vector from ``embedder``."""
        query = (
            select(cat.c.id, cat.c.name, cat.c.description)
            .where((cat.c.embedder.is_(None)) | (cat.c.embedder != embedder) | (cat.c.embedding.is_(None)))
            .order_by(cat.c.id)
            .limit(limit)
        )
        with self.read("finding entries to embed") as conn:
            rows = conn.execute(query).all()
        return [(int(r.id), CatalogueEntry(r.name, r.description).embedding_text()) for r in rows]

    def store_embeddings(self, vectors: Sequence[tuple[int, Vectors]], embedder: str) -> None:
        """Store the vectors ``embedder`` made for these catalogue ids."""
        if not vectors:
            return
        rows = [(skill_id, to_blob(v)) for skill_id, v in vectors]
        with self.write("storing skill embeddings") as conn:
            for skill_id, blob in rows:
                conn.execute(
                    update(cat).where(cat.c.id == skill_id).values(embedding=blob, embedder=embedder)
                )
            self._after_catalogue_write(conn, rows, embedder, replaced=True)

    def catalogue_vectors(
        self, names: Sequence[str], embedder: str, *, version: int | None = None
    ) -> dict[str, Vectors]:
        """The stored vectors of ``names`` made by ``embedder`` (from the
        in-memory matrix on the numpy path)."""
        if not names:
            return {}
        if not self.vector_enabled:
            matrix = self._load_matrix(embedder, version)
            return {n: matrix.vectors[matrix.rows[n]] for n in names if n in matrix.rows}
        with self.read("reading skill vectors") as conn:
            rows = conn.execute(_VECTORS_OF, {"names": list(names), "embedder": embedder})
            return {r.name: from_blob(r.embedding) for r in rows}

    def _after_catalogue_write(
        self,
        conn: Connection,
        rows: Sequence[tuple[int, bytes | None]],
        embedder: str | None,
        *,
        replaced: bool,
    ) -> None:
        """Bump the version; keep the vec0 index in step when it was current."""
        state = self._state(conn)
        current = (
            self.vector_enabled
            and embedder is not None
            and state.vector_embedder == embedder
            and state.vector_version == state.catalogue_version
            and self._vec_table_exists(conn)
        )
        if current:
            for skill_id, blob in rows:
                if replaced:
                    conn.execute(text(_VEC_DELETE), {"id": skill_id})
                if blob is not None:
                    conn.execute(
                        text(_VEC_INSERT),
                        {"id": skill_id, "v": blob},
                    )
        self._bump(conn, index_too=bool(current))

    # -- search --------------------------------------------------------------

    def search_catalogue(
        self, query: Vectors, k: int, embedder: str, *, version: int | None = None
    ) -> list[CatalogueMatch]:
        """The ``k`` entries most similar to ``query`` (a unit vector made by
        ``embedder``), best first: vec0 KNN where sqlite-vec is loaded, numpy
        otherwise. ``version`` is the catalogue version the caller has just
        read (saves reading it again)."""
        if k <= 0:
            return []
        q = normalise(np.asarray(query, dtype=np.float32).reshape(1, -1))[0]
        if q.shape[0] != DIMS:
            raise ValueError(f"query vector has {q.shape[0]} dimensions, not {DIMS}")
        if not np.any(q):
            return []  # a query without words (",") is similar to nothing
        if self.vector_enabled:
            return self._search_vec0(q, k, embedder, version)
        return self._search_numpy(q, k, embedder, version)

    def _search_numpy(self, q: Vectors, k: int, embedder: str, version: int | None) -> list[CatalogueMatch]:
        matrix = self._load_matrix(embedder, version)
        if not matrix.names:
            return []
        sims = matrix.vectors @ q
        k = min(k, len(sims))
        top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
        order = top[np.lexsort((top, -sims[top]))]
        return [CatalogueMatch(matrix.names[i], float(sims[i])) for i in order]

    def _load_matrix(self, embedder: str, version: int | None = None) -> _Matrix:
        if version is None:
            version = self.catalogue_version()
        found = self._matrix
        if found is not None and found.version == version and found.embedder == embedder:
            return found
        with self._matrix_lock:
            query = (
                select(cat.c.name, cat.c.embedding)
                .where(cat.c.embedder == embedder, cat.c.embedding.is_not(None))
                .order_by(cat.c.id)
            )
            with self.read("loading skill vectors") as conn:
                version = int(self._state_version(conn))
                rows = conn.execute(query).all()
            vectors = (
                np.frombuffer(b"".join(r.embedding for r in rows), dtype="<f4").reshape(len(rows), DIMS)
                if rows
                else np.zeros((0, DIMS), dtype=np.float32)
            )
            names = [r.name for r in rows]
            found = _Matrix(
                version,
                embedder,
                names,
                np.ascontiguousarray(vectors, np.float32),
                {n: i for i, n in enumerate(names)},
            )
            self._matrix = found
        return found

    def _state_version(self, conn: Connection) -> int:
        found = conn.execute(select(skills_state.c.catalogue_version).where(skills_state.c.id == 1)).scalar()
        return int(found or 0)

    def _vec_table_exists(self, conn: Connection) -> bool:
        return (
            conn.execute(
                text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"), {"n": VEC_TABLE}
            ).first()
            is not None
        )

    def _search_vec0(self, q: Vectors, k: int, embedder: str, version: int | None) -> list[CatalogueMatch]:
        self._ensure_vec_index(embedder, version)
        with self.read("searching the skill catalogue") as conn:
            rows = conn.execute(_KNN, {"q": to_blob(q), "k": min(k, MAX_VEC_K)}).all()
        return [CatalogueMatch(r.name, 1.0 - float(r.distance)) for r in rows if r.distance is not None]

    def _ensure_vec_index(self, embedder: str, version: int | None = None) -> None:
        """Create or rebuild the vec0 index when it is not current."""
        if version is not None and self._vec_checked == (version, embedder):
            return  # checked at this version already: no read needed
        with self.read("checking the vector index") as conn:
            state = self._state_row(conn)
            key = (int(state.catalogue_version) if state else 0, embedder)
            if self._vec_checked == key:
                return
            if state is not None and _index_current(state, embedder) and self._vec_table_exists(conn):
                self._vec_checked = key
                return
        with self.write("rebuilding the vector index") as conn:
            state = self._state(conn)  # again, under the write lock: another worker may have done it
            if not (_index_current(state, embedder) and self._vec_table_exists(conn)):
                conn.execute(text(_VEC_DROP))
                conn.execute(text(_VEC_CREATE))
                conn.execute(text(_VEC_FILL), {"e": embedder})
                conn.execute(
                    update(skills_state)
                    .where(skills_state.c.id == 1)
                    .values(vector_embedder=embedder, vector_version=state.catalogue_version)
                )
            self._vec_checked = (int(state.catalogue_version), embedder)

    def _state_row(self, conn: Connection) -> Any:
        return conn.execute(select(skills_state).where(skills_state.c.id == 1)).first()


#: Bytes of the database file each connection may map (SQLite's own cap applies).
MMAP_BYTES = 256 * 1024 * 1024


def _map_memory(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    cursor.close()


def _index_current(state: Any, embedder: str) -> bool:
    return bool(state.vector_embedder == embedder and state.vector_version == state.catalogue_version)


def _entry_values(entry: CatalogueEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "description": entry.description,
        "workflow_phase": entry.workflow_phase.value if entry.workflow_phase else None,
        "languages": list(entry.languages) or None,
    }
