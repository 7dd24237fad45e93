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

    def storage(self) -> SkillsStorage:
        if self._storage is None:
            self._storage = SkillsStorage(settings=self.settings)
        return self._storage

    def cicd(self) -> CICDTracker:
        return CICDTracker(storage=self.storage())


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Library errors become one-line CLI errors (exit 1), not tracebacks."""
    try:
        yield
    except (TrackerError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
