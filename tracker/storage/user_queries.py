"""Distinct user queries (recommendation and search texts), each stored
once with its embedding, counted each time it is asked again."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from ..embeddings import Vectors, from_blob, to_blob
from ..records import utcnow, without_nul
from .base import StorageBase
from .schema import skill_query


def query_hash(text_: str) -> str:
    """The identity of a user query: case and spacing do not count."""
    return hashlib.sha256(" ".join(text_.lower().split()).encode("utf-8")).hexdigest()


class UserQueryStore(StorageBase):
    """The ``skill_query`` table."""

    def stored_query_vector(self, query_text: str, embedder: str) -> Vectors | None:
        """The stored vector of a user query made by ``embedder``, if any."""
        with self.read("reading a stored query") as conn:
            row = conn.execute(
                select(skill_query.c.embedding).where(
                    skill_query.c.query_hash == query_hash(query_text), skill_query.c.embedder == embedder
                )
            ).first()
        return from_blob(row.embedding) if row is not None and row.embedding is not None else None

    def remember_query(
        self, query_text: str, vector: Vectors | None = None, embedder: str | None = None
    ) -> None:
        """Count a distinct user query; store its vector when given."""
        now = utcnow()
        blob = to_blob(vector) if vector is not None else None
        values = {
            "query_hash": query_hash(query_text),
            "text": without_nul(query_text[:2000]),
            "embedding": blob,
            "embedder": embedder if blob is not None else None,
            "uses": 1,
            "first_seen": now,
            "last_seen": now,
        }
        changes: dict[str, Any] = {"uses": skill_query.c.uses + 1, "last_seen": now}
        if blob is not None:
            changes.update(embedding=blob, embedder=embedder)
        with self.write("remembering a query") as conn:
            self.upsert(conn, skill_query, values, ["query_hash"], changes)

    def queries(self, limit: int = 100) -> list[dict[str, Any]]:
        """Stored user queries, most used first."""
        q = skill_query
        with self.read("reading stored queries") as conn:
            rows = conn.execute(
                select(q.c.text, q.c.uses, q.c.embedder, q.c.first_seen, q.c.last_seen)
                .order_by(q.c.uses.desc(), q.c.last_seen.desc())
                .limit(limit)
            ).all()
        return [dict(r._mapping) for r in rows]
