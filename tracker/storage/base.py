"""The storage core: engine, transactions, error mapping, upserts."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from ..errors import StorageError, StorageFullError
from ..settings import Settings
from . import migrate
from .engine import make_engine, sqlite_driver
from .rawwrite import writer_lock

log = logging.getLogger(__name__)


#: Query parameters libpq reads a secret from (``?password=…`` is as valid
#: as ``user:password@``).
_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})


def shown_url(url: str) -> str:
    """``url`` for a log line or a message: its password hidden, in the
    user part and in the query, or only its scheme when it does not parse
    (it may hold a password all the same).

    >>> shown_url("postgresql+psycopg://ci:s3cret@db/ci?sslmode=require&password=s3cret")
    'postgresql+psycopg://ci:***@db/ci?password=hidden&sslmode=require'
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is no number
        return url.split(":", 1)[0] + "://…"
    hidden = {k: "hidden" for k in parsed.query if k.lower() in _SECRET_PARAMETERS}
    return parsed.update_query_dict(hidden).render_as_string(hide_password=True)


_SUPPORTED = (
    "SQLite and PostgreSQL are supported, for example sqlite:///ci.db or postgresql+psycopg://user@host/db"
)


def _check_url(url: str) -> None:
    """Refuse, in one line, a URL that names no database this runs on: one
    SQLAlchemy cannot parse (a port that is no number), another backend
    (mysql://, foo://), an async driver, or an SQLite driver other than
    the standard one (which storage swaps for one that loads sqlite-vec).

    :raises StorageError: naming the URL, its password hidden.
    """
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, ValueError) as exc:  # ValueError: the port
        raise StorageError(f"cannot use the database {shown_url(url)}: {exc} ({_SUPPORTED})") from exc
    backend = parsed.get_backend_name()
    problem = None
    if backend not in ("sqlite", "postgresql"):
        problem = f"{backend} is not supported"
    elif getattr(dialect, "is_async", False):
        problem = f"{parsed.drivername} is an async driver"
    elif backend == "sqlite" and parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
        problem = f"{parsed.drivername} is not supported"
    if problem:
        raise StorageError(f"cannot use the database {shown_url(url)}: {problem} ({_SUPPORTED})")


def database_url(target: str | Path | None, settings: Settings | None = None) -> str:
    """A SQLAlchemy URL from a URL, a file path, or the settings' default.

    >>> database_url("skills.db").startswith("sqlite:///")
    True
    """
    if target is None:
        return (settings or Settings.from_env()).resolved_database_url
    text = str(target)
    if "://" in text:
        return text
    if text == ":memory:":
        return "sqlite://"
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; ``None`` for other databases and memory.

    >>> sqlite_file("sqlite:////data/ci.db"), sqlite_file("sqlite://"), sqlite_file("postgresql://h/ci")
    (PosixPath('/data/ci.db'), None, None)
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite") or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.query.get("uri"):  # file:…?mode=… names: SQLite's to read
        return None
    return Path(parsed.database)


def _is_full(exc: BaseException) -> bool:
    message = str(getattr(exc, "orig", exc)).lower()
    return "database or disk is full" in message or "no space left" in message


class StorageBase:
    """Owns the engine; every query goes through :meth:`read` or :meth:`write`."""

    engine: Engine
    vector_enabled: bool

    def __init__(
        self,
        target: str | Path | None = None,
        *,
        settings: Settings | None = None,
        vector: bool = True,
        migrate_schema: bool = True,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.url = database_url(target, self.settings)
        path = sqlite_file(self.url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        _check_url(self.url)
        try:
            self.engine, self.vector_enabled = make_engine(
                self.url, synchronous=self.settings.sqlite_synchronous, vector=vector
            )
        except ImportError as exc:  # a PostgreSQL driver that is not installed
            raise StorageError(f"cannot use the database {shown_url(self.url)}: {exc}") from exc
        if migrate_schema:
            with self._errors("migrating the database"):
                migrate.upgrade(self.engine)
        self._after_open()

    def _after_open(self) -> None:
        """Hook for mixins that prepare derived structures (vector index)."""

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            if _is_full(exc):
                raise StorageFullError(f"disk full while {doing}: nothing was stored") from exc
            raise StorageError(f"database error while {doing}: {exc.orig}") from exc
        except DBAPIError as exc:
            raise StorageError(f"database error while {doing}: {exc.orig}") from exc

    @contextmanager
    def write(self, doing: str = "writing") -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite): committed on
        success, rolled back on any error.

        On SQLite it is taken in turn with the file's other writers
        (:class:`~tracker.storage.rawwrite.WriterLock`). A blocked writer
        then wakes when the lock is free, instead of polling in SQLite's
        busy handler (1, 2, 5, 10… ms sleeps). Under gevent that handler
        would also stop the whole process, and with it a greenlet of the
        same process that holds the lock.
        """
        if self.dialect != "sqlite":
            with self._errors(doing), self.engine.connect() as conn, conn.begin():
                yield conn
            return
        # The connection first, then the lock (as ``raw_write`` does): a
        # writer holding the lock never waits on the pool.
        with (
            self._errors(doing),
            self.engine.connect().execution_options(sqlite_immediate=True) as conn,
            writer_lock(self.engine).held(),
            conn.begin(),
        ):
            yield conn

    def check_health(self) -> None:
        """Read the schema's version, as a health check.

        On a SQLite file, through a connection of its own: a pooled one
        answers from its page cache even after the file has stopped being a
        database.

        :raises StorageError: the database cannot be read.
        """
        path = sqlite_file(self.url)
        if path is None:
            with self.read("checking health") as conn:
                conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
            return
        module = sqlite_driver().module or importlib.import_module("sqlite3")
        try:
            fresh = module.connect(str(path), timeout=5)
            try:
                fresh.execute("SELECT version_num FROM alembic_version").fetchall()
            finally:
                fresh.close()
        except module.Error as exc:
            raise StorageError(f"database error while checking health: {exc}") from exc

    @contextmanager
    def read(self, doing: str = "reading") -> Iterator[Connection]:
        """A read transaction: one consistent snapshot."""
        with self._errors(doing), self.engine.connect() as conn, conn.begin():
            yield conn

    def upsert(
        self,
        conn: Connection,
        table: Table,
        values: Mapping[str, Any],
        keys: Sequence[str],
        update: Mapping[str, Any] | None = None,
    ) -> int:
        """``INSERT … ON CONFLICT (keys) DO UPDATE SET update`` (or ``DO
        NOTHING`` when ``update`` is empty), in one statement so concurrent
        writers never lose an increment. Returns the row count."""
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        stmt = dialect_insert(table).values(**values)
        if update:
            stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=dict(update))
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        return conn.execute(stmt).rowcount

    def excluded(self, table: Table) -> Any:
        """The ``excluded`` pseudo-row of an upsert, for ``update`` values."""
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        return dialect_insert(table).excluded
