"""What every command shares: settings, storage, error handling."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import click

from tracker.cicd import CICDTracker
from tracker.errors import TrackerError
from tracker.settings import Settings
from tracker.storage import SkillsStorage, database_url
from tracker.storage.base import sqlite_file


@dataclass
class State:
    """Per-invocation state, built from the settings and ``--database``."""

    database: str | None = None
    _storage: SkillsStorage | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        """The environment's settings (with ``--database``); a bad value is
        a one-line error, as library errors are."""
        try:
            base = Settings.from_env()
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        if self.database:
            return base.with_(database_url=database_url(self.database))
        return base

    def storage(self, *, existing: bool = False) -> SkillsStorage:
        """The storage; ``existing``: a command that only reads refuses a
        SQLite file that does not exist (a mistyped path would otherwise
        become a new, empty database and an empty answer)."""
        if self._storage is None:
            settings = self.settings
            if existing:
                path = sqlite_file(settings.resolved_database_url)
                if path is not None and not path.exists():
                    raise click.ClickException(
                        f"no database at {path}: check --database or SESSION_BUDDY_CI_DATABASE_URL "
                        "(serve, track and the receiver create it)"
                    )
            self._storage = SkillsStorage(settings=settings)
        return self._storage

    def cicd(self, *, existing: bool = False) -> CICDTracker:
        return CICDTracker(storage=self.storage(existing=existing))


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Library errors become one-line CLI errors (exit 1), not tracebacks."""
    try:
        yield
    except (TrackerError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
