"""The SQLite write path without SQLAlchemy's per-statement overhead.

A stage result is one insert and about ten rollup upserts in one
transaction. Through ``Connection.execute`` each statement cost ~60 µs of
Python (cache look-up, execution context, result set-up) and the write
transaction ~150 µs more: ~640 µs a result, a third of the receiver's
throughput target. The same statements compiled once and run on the DBAPI
cursor cost ~190 µs a result, commit included (``bench/ingest.py``).

:class:`RawConnection` mimics the part of :class:`sqlalchemy.Connection`
that the write path uses (``execute(statement, params)`` → ``rowcount``,
``inserted_primary_key``, ``first()``, ``one()``), so the same code runs on
it and, for PostgreSQL, on a real connection. Statements are compiled by
SQLAlchemy for the engine's dialect, with its bind processors (dates,
JSON, booleans), so what lands in the database is what ``Connection.execute``
would store. Rows come back as the driver returns them (no result
processing): select only integer and text columns through it.
"""

from __future__ import annotations

import os
import threading
import types
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from ..coop import run_blocking
from ..errors import StorageError, StorageFullError
from .engine import BUSY_TIMEOUT_MS

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's own locking only
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class CompiledStatement:
    """SQL text in the driver's positional style, the parameter names in
    order, and the bind processors of those that have one (by position)."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]

    def parameters(self, values: Mapping[str, Any]) -> list[Any]:
        params = [values[name] for name in self.names]
        for index, proc in self.processors:
            params[index] = proc(params[index])
        return params


def compile_statement(statement: ClauseElement, dialect: Dialect, keys: tuple[str, ...]) -> CompiledStatement:
    """Compile ``statement`` for ``dialect`` with parameters named ``keys``
    (for an insert: exactly those columns)."""
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    assert isinstance(compiled, SQLCompiler)
    names = tuple(compiled.positiontup or ())
    processors: list[tuple[int, Callable[[Any], Any]]] = []
    for index, name in enumerate(names):
        proc = compiled._bind_processors.get(name)
        if proc is None:
            continue
        if not callable(proc):
            raise TypeError(f"parameter {name!r}: tuple-typed parameters are not supported here")
        processors.append((index, _faster(proc)))
    return CompiledStatement(str(compiled), names, tuple(processors))


_SAMPLES = (
    datetime(2026, 11, 25, 6, 0),
    datetime(2026, 1, 2, 3, 4, 5, 60),
    datetime(474, 12, 31, 23, 59, 59),
)


def _agrees(proc: Callable[[Any], Any], fast: Callable[[Any], Any], samples: tuple[Any, ...]) -> bool:
    """Whether ``fast`` gives what ``proc`` gives (same type, same value)."""
    try:
        return all(type(a) is type(b) and a == b for a, b in ((proc(v), fast(v)) for v in samples))
    except (TypeError, ValueError):
        return False


def _faster(proc: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``proc``, or an equivalent that skips the generic path for the
    common values: SQLite's DATETIME and DATE text (several a result; the
    generic one costs ~3 µs each), booleans stored as 0/1, and ``None``
    when ``proc`` keeps it (the unused JSON columns). Checked against ``proc`` on sample values,
    so a dialect with other formats keeps its own."""
    if _agrees(proc, lambda v: v.isoformat(" ", "microseconds"), _SAMPLES):

        def naive_datetime(value: Any) -> Any:
            if type(value) is datetime and value.tzinfo is None:
                return value.isoformat(" ", "microseconds")
            return proc(value)

        return naive_datetime
    if _agrees(proc, date.isoformat, tuple(v.date() for v in _SAMPLES)):

        def plain_date(value: Any) -> Any:
            if type(value) is date:
                return value.isoformat()
            return proc(value)

        return plain_date
    if _agrees(proc, int, (True, False)):

        def boolean(value: Any) -> Any:
            if type(value) is bool:
                return int(value)
            return proc(value)

        return boolean
    if isinstance(proc, types.FunctionType) and _agrees(proc, lambda v: v, (None,)):
        # (Compiled processors, such as the float one, are fast already.)

        def keeps_none(value: Any) -> Any:
            if value is None:
                return None
            return proc(value)

        return keeps_none
    return proc


class _Compiled:
    """Compiled statements of one dialect, keyed by statement and
    parameter names. Only long-lived statements belong here (the hot path
    builds its statements once): the key holds the statement object."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        #: Whether the driver's SQLite knows ``RETURNING`` (3.35 and later).
        self.returning = tuple(getattr(dialect.loaded_dbapi, "sqlite_version_info", (0,))) >= (3, 35)
        self._cache: dict[tuple[int, tuple[str, ...]], tuple[ClauseElement, CompiledStatement]] = {}
        # SQL of statements with an expanding IN, by statement and value count.
        self._expanded: dict[tuple[int, int], tuple[ClauseElement, str]] = {}
        self._lock = threading.Lock()

    def expanded(self, statement: ClauseElement, count: int) -> str:
        """SQL of ``statement`` with its one expanding parameter rendered
        as ``count`` positional ones."""
        key = (id(statement), count)
        found = self._expanded.get(key)
        if found is not None and found[0] is statement:
            return found[1]
        [name] = statement.compile(dialect=self.dialect).params
        bound = statement.params({name: [None] * count})
        compiled = bound.compile(dialect=self.dialect, compile_kwargs={"render_postcompile": True})
        assert isinstance(compiled, SQLCompiler) and len(compiled.positiontup or ()) == count
        with self._lock:
            self._expanded[key] = (statement, str(compiled))
        return str(compiled)

    def get(self, statement: ClauseElement, keys: tuple[str, ...]) -> CompiledStatement:
        key = (id(statement), keys)
        found = self._cache.get(key)
        if found is not None and found[0] is statement:
            return found[1]
        compiled = compile_statement(statement, self.dialect, keys)
        with self._lock:
            # Keep the statement alive with its compiled form: its id is the key.
            self._cache[key] = (statement, compiled)
        return compiled


class _Result:
    """What the write path reads from an executed statement."""

    __slots__ = ("_cursor", "_names", "inserted_primary_key", "rowcount")

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.rowcount: int = cursor.rowcount
        self.inserted_primary_key = (cursor.lastrowid,) if cursor.description is None else None
        self._names = tuple(d[0] for d in cursor.description) if cursor.description else ()

    def first(self) -> Any:
        row = self._cursor.fetchone()
        if row is None:
            return None
        return _row_type(self._names)(*row)

    def one(self) -> Any:
        row = self.first()
        if row is None:
            raise StorageError("expected one row, found none")
        return row


_ROW_TYPES: dict[tuple[str, ...], type[Any]] = {}


def _row_type(names: tuple[str, ...]) -> type[Any]:
    if names not in _ROW_TYPES:
        _ROW_TYPES[names] = namedtuple("Row", names)
    return _ROW_TYPES[names]


class RawConnection:
    """A DBAPI cursor inside an open write transaction, answering
    ``execute(statement, params)`` like a SQLAlchemy connection does."""

    def __init__(self, cursor: Any, compiled: _Compiled) -> None:
        self._cursor = cursor
        self._compiled = compiled

    def execute(
        self, statement: ClauseElement, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
    ) -> _Result:
        """Run ``statement`` once, or once per mapping of a list of them
        (``executemany``: all with the same keys)."""
        if isinstance(params, Sequence):
            stmt = self._compiled.get(statement, tuple(params[0]))
            self._cursor.executemany(stmt.sql, [stmt.parameters(values) for values in params])
            return _Result(self._cursor)
        values = params or {}
        stmt = self._compiled.get(statement, tuple(values))
        self._cursor.execute(stmt.sql, stmt.parameters(values))
        return _Result(self._cursor)

    def insert_returning(
        self, statement: ClauseElement, rows: Sequence[Mapping[str, Any]], key: str
    ) -> list[int]:
        """Insert ``rows`` (all with the same keys) in one multi-row
        ``INSERT … RETURNING key``, and return the new keys in the order of
        ``rows``. SQLite hands out rowids in increasing order as it inserts
        the rows of ``VALUES`` in turn, so the keys, sorted, are in that
        order whatever order RETURNING gives them in."""
        stmt = self._compiled.get(statement, tuple(rows[0]))
        if not self._compiled.returning:
            # SQLite before 3.35 (Debian 11, Ubuntu 20.04): a row at a time.
            keys = []
            for row in rows:
                self._cursor.execute(stmt.sql, stmt.parameters(row))
                keys.append(int(self._cursor.lastrowid))
            return keys
        head, found, values = stmt.sql.partition(" VALUES ")
        if not found:
            raise ValueError("insert_returning needs an INSERT … VALUES statement")
        sql = f"{head} VALUES {', '.join([values] * len(rows))} RETURNING {key}"
        self._cursor.execute(sql, [value for row in rows for value in stmt.parameters(row)])
        return sorted(int(found_key) for (found_key,) in self._cursor.fetchall())

    def fetch_in(self, statement: ClauseElement, values: Sequence[Any]) -> list[tuple[Any, ...]]:
        """The rows of ``statement``, whose one parameter is an expanding
        ``bindparam`` (``column.in_(bindparam(name, expanding=True))``),
        for ``values``."""
        self._cursor.execute(self._compiled.expanded(statement, len(values)), list(values))
        return list(self._cursor.fetchall())


_COMPILED: weakref.WeakKeyDictionary[Dialect, _Compiled] = weakref.WeakKeyDictionary()


def compiled_for(engine: Engine) -> _Compiled:
    """The statements compiled for ``engine``'s dialect (shared by the
    engines of one dialect)."""
    found = _COMPILED.get(engine.dialect)
    if found is None:
        found = _COMPILED.setdefault(engine.dialect, _Compiled(engine.dialect))
    return found


def is_full(exc: BaseException) -> bool:
    """Whether a driver error says the database or the disk is full."""
    message = str(getattr(exc, "orig", exc)).lower()
    return "database or disk is full" in message or "no space left" in message


#: How long a writer that will not wait (``raw_write(wait=False)``) lets
#: SQLite retry a lock held outside the WriterLock: a start-up's schema
#: check, WAL recovery after a killed process.
NO_WAIT_BUSY_TIMEOUT_MS = 200


class WriterBusy(StorageError):
    """Another writer holds the database, and the caller would not wait."""


class WriterLock:
    """Serialises the writers of one SQLite file: a thread lock inside the
    process, ``flock`` on ``<database>-writer.lock`` between processes.

    SQLite's own busy handler polls: a writer that finds the database
    locked sleeps 1, 2, 5, 10… ms before it tries again, while the holder
    needs a fraction of a millisecond. With two gunicorn workers that
    sleeping cost a third of the throughput. A blocked ``flock`` wakes as
    soon as the holder lets go, and the kernel drops the lock of a killed
    process. Writers that don't take this lock (other tools) still meet
    SQLite's lock and busy timeout: correctness never depends on it.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._owner: int | None = None

    def _descriptor(self) -> int | None:
        if self.path is None or fcntl is None:
            return None
        # flock belongs to the open file description, which a fork shares:
        # each process opens its own.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def held(self, wait: bool = True) -> Iterator[None]:
        """Hold the lock; a thread that holds it already just goes on (the
        group-commit leader takes it before it picks its batch).

        :raises WriterBusy: with ``wait=False``, when another thread or
            process holds it.
        """
        if self._owner == threading.get_ident():
            yield
            return
        if not self._thread_lock.acquire(blocking=wait):
            raise WriterBusy("another writer of this process holds the database")
        try:
            try:
                fd = self._descriptor()
            except OSError:
                fd = None  # a read-only folder: SQLite's own locking still holds
            held, own = fd, False
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if not wait:
                        raise WriterBusy("another process is writing to the database") from None
                    held, own = self._wait_for_other_process(), True
            self._owner = threading.get_ident()
            try:
                yield
            finally:
                self._owner = None
                if held is not None:
                    fcntl.flock(held, fcntl.LOCK_UN)
                    if own:
                        os.close(held)
        finally:
            self._thread_lock.release()

    def _wait_for_other_process(self) -> int:
        """A new descriptor of the lock file that holds the lock, once the
        process holding it lets go. Under gevent the wait runs in a thread
        (:func:`~tracker.coop.run_blocking`), so this process's other
        requests go on. A descriptor of its own: if the waiting greenlet is
        killed, the thread still gets the lock, and closing that descriptor
        when it does lets the lock go again; the shared one would keep it."""
        assert self.path is not None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        run_blocking(fcntl.flock, fd, fcntl.LOCK_EX, abandoned=lambda: os.close(fd))
        return fd


_LOCKS: dict[str | None, WriterLock] = {}
_LOCKS_LOCK = threading.Lock()


def writer_lock(engine: Engine) -> WriterLock:
    """The :class:`WriterLock` of ``engine``'s database file (one per file
    and process; an in-memory database gets a thread lock only)."""
    found = _ENGINE_LOCKS.get(engine)
    if found is None:
        found = _ENGINE_LOCKS.setdefault(engine, _writer_lock(engine))
    return found


_ENGINE_LOCKS: weakref.WeakKeyDictionary[Engine, WriterLock] = weakref.WeakKeyDictionary()


def _writer_lock(engine: Engine) -> WriterLock:
    database = engine.url.database
    path = None
    if database and database != ":memory:" and not engine.url.query.get("uri"):
        path = os.path.abspath(database) + "-writer.lock"
    with _LOCKS_LOCK:
        found = _LOCKS.get(path)
        if found is None:
            found = _LOCKS[path] = WriterLock(path)
        return found


@contextmanager
def raw_write(engine: Engine, doing: str, *, wait: bool = True) -> Iterator[RawConnection]:
    """A ``BEGIN IMMEDIATE`` transaction on a pooled SQLite connection,
    under the file's :class:`WriterLock`; committed when the block ends (and
    so before the caller answers anyone), rolled back on any error.

    With ``wait=False`` it raises :class:`WriterBusy` rather than wait for
    another writer (for SQLite's own lock, after
    :data:`NO_WAIT_BUSY_TIMEOUT_MS`).

    :raises StorageFullError: the disk or database is full; nothing stored.
    :raises StorageError: any other database error.
    """
    dbapi_error: type[BaseException] = engine.dialect.loaded_dbapi.Error
    try:
        pooled = engine.raw_connection()
    except Exception as exc:  # SQLAlchemy wraps connect errors
        raise StorageError(f"database error while {doing}: {exc}") from exc
    try:
        connection = pooled.driver_connection
        assert connection is not None
        cursor = connection.cursor()
        try:
            with writer_lock(engine).held(wait):
                if not wait:  # a writer that skips the WriterLock: only a moment
                    cursor.execute(f"PRAGMA busy_timeout={NO_WAIT_BUSY_TIMEOUT_MS}")
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                finally:
                    if not wait:
                        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                try:
                    yield RawConnection(cursor, compiled_for(engine))
                    connection.commit()
                except BaseException:
                    connection.rollback()
                    raise
        except dbapi_error as exc:
            if is_full(exc):
                raise StorageFullError(f"disk full while {doing}: nothing was stored") from exc
            if not wait and "database is locked" in str(exc):
                raise WriterBusy(f"another writer held the database while {doing}") from exc
            raise StorageError(f"database error while {doing}: {exc}") from exc
        finally:
            cursor.close()
    finally:
        pooled.close()
