"""Schema migrations, run in code (no alembic.ini needed at run time)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest revision this version of the code knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision``.

    Safe when several processes start at once (gunicorn workers): SQLite
    takes its write lock first (``BEGIN IMMEDIATE``) and PostgreSQL an
    advisory lock, so one process migrates while the others wait, then find
    nothing left to do.
    """
    if revision == "head" and current_revision(engine) == head_revision():
        return
    cfg = _config()
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(4242424242)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Step the database back to ``revision`` (development and tests)."""
    cfg = _config()
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
