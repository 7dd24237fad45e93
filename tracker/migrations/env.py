"""Alembic environment: run on the connection that tracker.storage passes in.

There is no alembic.ini: :func:`tracker.storage.migrate.upgrade` builds the
configuration in code, so a packaged install can migrate its own database.
For a new revision during development:
``alembic -c tracker/migrations/alembic.ini revision --autogenerate -m "..."``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from tracker.storage.schema import metadata

config = context.config

#: Derived tables storage creates at run time (the sqlite-vec index of the
#: catalogue and its shadow tables): not part of the schema.
RUNTIME_PREFIXES = ("skill_catalogue_vec",)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return not (type_ == "table" and name is not None and name.startswith(RUNTIME_PREFIXES))


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as conn:
        context.configure(
            connection=conn, target_metadata=metadata, render_as_batch=True, include_name=include_name
        )
        with context.begin_transaction():
            context.run_migrations()


run()
