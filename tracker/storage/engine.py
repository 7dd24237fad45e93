"""Engines: choosing a SQLite driver that can load sqlite-vec, and pragmas.

Some Python builds (pyenv, python.org on macOS) compile ``sqlite3`` without
``enable_load_extension``. Then ``pysqlite3-binary`` (its own, newer SQLite)
takes over; where neither can load extensions, storage works without vector
search and says so once in the log. Only one binding is used per process:
two bindings both loading vec0 crashed on these machines.
"""

from __future__ import annotations

import functools
import importlib
import logging
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

#: How long a SQLite connection waits for a lock held by a writer that
#: does not take the :class:`~tracker.storage.rawwrite.WriterLock`.
BUSY_TIMEOUT_MS = 30000


@dataclass(frozen=True)
class SQLiteDriver:
    """A DB-API module for SQLite and whether it can load extensions."""

    name: str
    module: ModuleType | None
    can_load_extensions: bool


def _can_load(module: ModuleType) -> bool:
    return hasattr(getattr(module, "Connection", None), "enable_load_extension")


def choose_sqlite_driver(
    candidates: list[tuple[str, ModuleType | None]],
) -> SQLiteDriver:
    """The first candidate that can load extensions, else the first one.

    ``candidates`` are ``(name, module)`` pairs in order of preference; a
    ``None`` module is one that could not be imported.
    """
    available = [(name, mod) for name, mod in candidates if mod is not None]
    for name, mod in available:
        if _can_load(mod):
            return SQLiteDriver(name, mod, True)
    if not available:
        raise RuntimeError("no SQLite driver could be imported")
    name, mod = available[0]
    return SQLiteDriver(name, mod, False)


def _try_import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


@functools.cache
def sqlite_driver() -> SQLiteDriver:
    """The SQLite driver of this process (chosen once)."""
    driver = choose_sqlite_driver(
        [
            ("sqlite3", _try_import("sqlite3")),
            ("pysqlite3", _try_import("pysqlite3.dbapi2")),
        ]
    )
    # The stdlib module is what SQLAlchemy loads by itself; say module=None so
    # the dialect keeps its own import.
    if driver.name == "sqlite3":
        driver = SQLiteDriver(driver.name, None, driver.can_load_extensions)
    return driver


@functools.cache
def _warn_once(message: str) -> None:
    log.warning(message)


def _sqlite_vec() -> ModuleType | None:
    return _try_import("sqlite_vec")


#: How long a connection tries to switch a new file to WAL while other
#: processes hold it (gunicorn workers opening a new database together).
WAL_SWITCH_SECONDS = 30.0


def _use_wal(cur: Any, locked_error: type[Exception]) -> None:
    """Put the database in WAL mode (it stays so: one switch per file).

    Switching needs an exclusive lock, and SQLite answers "database is
    locked" at once instead of calling the busy handler: retry with short
    sleeps. No lock of ours is taken here: this runs inside SQLAlchemy's
    pool, under its first-connect mutex, and a writer holding the
    :class:`~tracker.storage.rawwrite.WriterLock` may be waiting on that
    mutex for a connection (a deadlock, seen under gunicorn).
    """
    if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + WAL_SWITCH_SECONDS
    pause = 0.002
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except locked_error as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


def make_engine(url: str, *, synchronous: str = "NORMAL", vector: bool = True) -> tuple[Engine, bool]:
    """Create the engine for ``url``; return it and whether vec0 is loaded.

    SQLite connections get WAL, a 30 s busy timeout, foreign keys and the
    given ``synchronous``. Transactions begin explicitly: ``BEGIN`` for
    readers, ``BEGIN IMMEDIATE`` for connections opened with the execution
    option ``sqlite_immediate=True`` (writers), which is what keeps
    concurrent read-then-write transactions from losing updates.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True), False

    driver = sqlite_driver()
    vec_module = _sqlite_vec() if vector else None
    load_vec = bool(vector and driver.can_load_extensions and vec_module is not None)
    if vector and not load_vec:
        why = (
            "sqlite_vec is not installed"
            if vec_module is None
            else ("no SQLite driver here can load extensions (install pysqlite3-binary)")
        )
        _warn_once(f"vector search runs in Python without sqlite-vec: {why}")

    kwargs: dict[str, Any] = {}
    dbapi_error = (driver.module or importlib.import_module("sqlite3")).OperationalError
    if driver.module is not None:
        kwargs["module"] = driver.module
    in_memory = parsed.database in (None, "", ":memory:")
    if not in_memory:
        # No thread ever waits for a pooled connection: the group-commit
        # leader asks for one while it holds the writer lock, and threads
        # holding connections may be waiting for that lock. (A SQLite
        # connection is a file handle; the extra ones close on return.)
        kwargs.update(pool_size=8, max_overflow=-1)
    engine = create_engine(url, **kwargs)
    sync = synchronous.upper()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        if load_vec:
            assert vec_module is not None
            dbapi_conn.enable_load_extension(True)
            vec_module.load(dbapi_conn)
            dbapi_conn.enable_load_extension(False)
        cur = dbapi_conn.cursor()
        # The busy timeout first: switching a new file to WAL takes a lock,
        # and processes that open it at once must wait for each other.
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if not in_memory:
            _use_wal(cur, dbapi_error)
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA synchronous={sync}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine, load_vec
