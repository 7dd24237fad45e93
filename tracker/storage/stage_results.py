"""Stage results of the API: stored exactly once per idempotency key, with
the writes of concurrent threads group-committed."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, bindparam, select, text

from ..errors import IdempotencyConflict
from ..records import InvocationRecord, utcnow
from .groupcommit import GroupCommit
from .invocations import InvocationStore
from .pending_rollups import PendingRollups
from .rawwrite import RawConnection, compiled_for, writer_lock
from .schema import skill_invocation, stage_result_request

_FIND_REQUESTS = select(
    stage_result_request.c.idempotency_key,
    stage_result_request.c.request_hash,
    stage_result_request.c.invocation_id,
).where(stage_result_request.c.idempotency_key.in_(bindparam("keys", expanding=True)))
_LOCK_KEYS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(key, 0)) FROM unnest(CAST(:keys AS text[])) AS key"
)
_REPLAY = select(skill_invocation.c.session_id, skill_invocation.c.workflow_phase).where(
    skill_invocation.c.id == bindparam("id")
)
_GROUP_COMMIT_LOCK = threading.Lock()
#: The most stage results one transaction takes.
MAX_BATCH = 64
#: How long a busy process's commit leader waits for more results
#: (:class:`GroupCommit`'s ``linger``). gevent's timers tick in whole
#: milliseconds: a 1.5 ms sleep lasts ~2.1 ms, anything up to 1 ms ~1.1 ms.
#: Measured with bench/ingest.py: lingering grew batches from ~2.5 to ~6.5
#: results and cut a result's CPU from ~220 to ~135 µs. 1 ms rather than
#: 1.5: a worker with few connections (the keep-alive connections often
#: land unevenly) idles less while it waits; one worker with 4 or 8
#: keep-alive connections: +19% and +25% results/s, with 13 the same. An
#: answer waits ~1 ms more, only under load.
COMMIT_LINGER_SECONDS = 0.001


@dataclass(frozen=True)
class StoredResult:
    """The answer to a stored stage result."""

    id: int
    session_id: str
    workflow_phase: str
    duplicate: bool


def request_hash(body: Any) -> str:
    """A stable hash of a JSON-like request body (key order does not count).

    :raises UnicodeEncodeError: for text that is not valid Unicode (a lone
        surrogate from a ``"\\ud800"`` escape).
    """
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _StageWrite:
    record: InvocationRecord
    idempotency_key: str | None
    digest: str


class StageResultStore(InvocationStore):
    """Writes of the stage-result API."""

    def record_stage_result(
        self,
        record: InvocationRecord,
        *,
        idempotency_key: str | None,
        body: Any = None,
        request_digest: str | None = None,
    ) -> StoredResult:
        """Store a stage result under an idempotency key, exactly once.

        The same key with the same ``body`` returns the first answer with
        ``duplicate=True``; with another body it raises
        :class:`IdempotencyConflict`. Key and invocation commit together, and
        this returns only after that commit, so an acknowledged result is
        stored exactly once even when the client retries after a crash.
        ``request_digest`` is :func:`request_hash` of the body, when the
        caller has computed it already. Threads that call at the same time
        share one transaction (:class:`GroupCommit`).
        """
        digest = request_digest if request_digest is not None else request_hash(body)
        return self._stage_results().submit(_StageWrite(record, idempotency_key, digest))

    def _stage_results(self) -> GroupCommit[_StageWrite, StoredResult]:
        found = self.__dict__.get("_stage_group_commit")
        if found is None:
            with _GROUP_COMMIT_LOCK:
                gate = writer_lock(self.engine).held if self.dialect == "sqlite" else GroupCommit.no_gate
                found = self.__dict__.setdefault(
                    "_stage_group_commit",
                    GroupCommit(
                        self._write_stage_results, MAX_BATCH, gate=gate, linger=COMMIT_LINGER_SECONDS
                    ),
                )
        assert isinstance(found, GroupCommit)
        return found

    def _write_stage_results(self, writes: Sequence[_StageWrite]) -> list[StoredResult | BaseException]:
        """One transaction for ``writes``; an idempotency conflict fails its
        own write only (it is found before that write touches anything).

        A batch costs a fixed number of statements: one look-up of its keys,
        one multi-row insert of its new results, one insert of their keys
        and the rollups of the whole batch, summed by key (results of one
        build share their rollup rows).
        """
        with self._writing("recording stage results") as conn:
            return self._write_batch(conn, writes)

    def warm_up(self, record: InvocationRecord) -> None:
        """Store ``record`` under a key, in a transaction that is then rolled
        back: no row is left (PostgreSQL's id sequence skips one), but every
        statement of the write is compiled and a pooled connection is open.
        A gunicorn worker calls this before it serves, so its first stage
        result does not take ~16 ms longer (during which, at a burst of new
        keep-alive connections, the other worker accepted all of them). The
        key look-up for every batch size is compiled too.

        It never waits for another writer: a worker must start serving
        (``/healthz`` included) whatever else holds the database.

        :raises StorageError: the database cannot be written now
            (:class:`~tracker.storage.rawwrite.WriterBusy` when another
            writer holds it).
        """
        try:
            with self._writing("warming up", wait=False) as conn:
                if self.dialect == "postgresql":
                    conn.execute(text("SET LOCAL lock_timeout = '200ms'"))
                self._write_batch(conn, [_StageWrite(record, "warm-up", "")])
                raise _RollBack
        except _RollBack:
            pass
        if self.dialect == "sqlite":
            compiled = compiled_for(self.engine)
            for count in range(1, MAX_BATCH + 1):
                compiled.expanded(_FIND_REQUESTS, count)

    def _write_batch(
        self, conn: Connection | RawConnection, writes: Sequence[_StageWrite]
    ) -> list[StoredResult | BaseException]:
        outcomes: list[StoredResult | BaseException | None] = [None] * len(writes)
        pending = PendingRollups()
        keys = {w.idempotency_key for w in writes if w.idempotency_key is not None}
        known = _known_requests(conn, sorted(keys))
        fresh: list[int] = []  # indexes of the writes to insert
        first_with: dict[str, int] = {}  # a key new in this batch → its first write
        repeats: list[int] = []  # later writes of a key new in this batch
        for index, write in enumerate(writes):
            key = write.idempotency_key
            if key is None:
                fresh.append(index)
            elif key in known:
                outcomes[index] = _replay(conn, write, *known[key])
            elif key in first_with:
                repeats.append(index)
            else:
                first_with[key] = index
                fresh.append(index)
        ids = self._insert_many(conn, [writes[i].record for i in fresh], pending)
        now = utcnow()
        requests = []
        for index, new_id in zip(fresh, ids, strict=True):
            write = writes[index]
            record = write.record
            outcomes[index] = StoredResult(new_id, record.session_id, record.workflow_phase.value, False)
            if write.idempotency_key is not None:
                requests.append(
                    {
                        "idempotency_key": write.idempotency_key,
                        "request_hash": write.digest,
                        "invocation_id": new_id,
                        "created_at": now,
                    }
                )
        if requests:
            conn.execute(self._stmts()["request"], requests)
        for index in repeats:
            first = first_with[writes[index].idempotency_key or ""]
            stored = outcomes[first]
            assert isinstance(stored, StoredResult)
            same = writes[index].digest == writes[first].digest
            outcomes[index] = replace(stored, duplicate=True) if same else _conflict()
        pending.flush(conn, self._stmts())
        assert all(o is not None for o in outcomes)
        return outcomes  # type: ignore[return-value]


def _known_requests(conn: Connection | RawConnection, keys: list[str]) -> dict[str, tuple[str, int]]:
    """The stored request hash and invocation id of each of ``keys`` that
    is stored already, in one query."""
    if not keys:
        return {}
    if isinstance(conn, RawConnection):
        rows = conn.fetch_in(_FIND_REQUESTS, keys)
    else:
        if conn.dialect.name == "postgresql":
            # PostgreSQL runs writers at once (SQLite's run in turn, under
            # the writer lock): two batches holding the same new key would
            # both miss it and both insert. A lock per key, held to the end
            # of the transaction, makes the second wait and then find the
            # first's row. ``keys`` is sorted, so batches lock in one order.
            conn.execute(_LOCK_KEYS, {"keys": keys})
        rows = [tuple(row) for row in conn.execute(_FIND_REQUESTS, {"keys": keys})]
    return {key: (digest, int(invocation_id)) for key, digest, invocation_id in rows}


def _replay(
    conn: Connection | RawConnection, write: _StageWrite, digest: str, invocation_id: int
) -> StoredResult | IdempotencyConflict:
    """The first answer to a key stored by an earlier batch, or the conflict."""
    if digest != write.digest:
        return _conflict()
    row = conn.execute(_REPLAY, {"id": invocation_id}).one()
    return StoredResult(invocation_id, row.session_id, row.workflow_phase, True)


class _RollBack(Exception):
    """Ends a write transaction without committing it."""


def _conflict() -> IdempotencyConflict:
    return IdempotencyConflict("this Idempotency-Key was already used with a different request body")
