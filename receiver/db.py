"""The storage and the trackers of this process, shared by its requests.

SQLAlchemy pools connections per process (one gunicorn worker), so the
storage is built once per app, lazily, after the fork.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import Flask, current_app

from tracker.cicd import CICDTracker
from tracker.settings import Settings
from tracker.storage import SkillsStorage

_KEY = "session_buddy_ci"
_lock = threading.Lock()


@dataclass
class Services:
    storage: SkillsStorage
    cicd: CICDTracker


def settings() -> Settings:
    """The settings of the current app."""
    value = current_app.config["SETTINGS"]
    assert isinstance(value, Settings)
    return value


def services(app: Flask | None = None) -> Services:
    """The storage and trackers of ``app`` (default: the current one)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get(_KEY)
    if found is None:
        with _lock:
            found = app.extensions.get(_KEY)
            if found is None:
                cfg: Settings = app.config["SETTINGS"]
                storage = SkillsStorage(settings=cfg)
                found = Services(storage=storage, cicd=CICDTracker(storage=storage, settings=cfg))
                app.extensions[_KEY] = found
    assert isinstance(found, Services)
    return found


def get_storage() -> SkillsStorage:
    return services().storage


def init_app(app: Flask) -> None:
    """Open the database now, so a bad URL or a failed migration stops the
    start instead of the first request."""
    services(app)
