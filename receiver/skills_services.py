"""What the skills, IDE and Crackerjack endpoints share in a worker: the
catalogue with its embedder, the IDE protocol, the baseline schedule, and
reading a JSON body.

Built lazily on the first request that needs them, after gunicorn forked
the worker; the embedder (MiniLM: 3.5–5 s, ~440 MB) loads on the first
search, once per worker.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app

from tracker.embeddings import EmbedderUnavailable
from tracker.ide import IDEPluginProtocol
from tracker.ide_context import FieldError
from tracker.records import check_name
from tracker.semantic import SkillCatalogue
from tracker.storage import SkillsStorage
from tracker.storage.ide import ShortcutConflict

from . import db
from .errors import error_response
from .jsonbody import bad
from .jsonbody import read_json as read_json_body
from .stage_input import FieldError as StageFieldError
from .stage_input import find_bad_text

log = logging.getLogger(__name__)
_KEY = "session_buddy_ci_skills"
_lock = threading.Lock()


class BaselineScheduler(threading.Thread):
    """Recomputes the community baselines every ``hours`` (checked every
    ``check_seconds``), in a daemon thread of each worker. The staleness
    check and the refresh share one write transaction, so when several
    workers wake up together only one does the work."""

    def __init__(self, storage: SkillsStorage, hours: float, check_seconds: float | None = None) -> None:
        super().__init__(name="baseline-scheduler", daemon=True)
        self.storage = storage
        self.hours = hours
        self.check_seconds = check_seconds if check_seconds is not None else min(300.0, hours * 3600 / 4)
        self.stopped = threading.Event()
        self.checks = 0
        self.refreshes = 0

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                if self.storage.refresh_baselines_if_stale(self.hours) is not None:
                    self.refreshes += 1
            except Exception:  # a bad night for the database must not kill the thread
                log.exception("recomputing community baselines failed; retrying later")
            self.checks += 1
            self.stopped.wait(self.check_seconds)

    def stop(self) -> None:
        self.stopped.set()


@dataclass
class SkillServices:
    catalogue: SkillCatalogue
    ide: IDEPluginProtocol
    scheduler: BaselineScheduler | None


def skill_services(app: Flask | None = None) -> SkillServices:
    """The catalogue and IDE protocol of this worker (built on first use;
    the baseline scheduler starts then, unless the app is under test or
    ``baseline_refresh_hours`` is 0)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get(_KEY)
    if found is None:
        with _lock:
            found = app.extensions.get(_KEY)
            if found is None:
                storage = db.services(app).storage
                catalogue = SkillCatalogue(storage)
                ide = IDEPluginProtocol(storage=storage, catalogue=catalogue, refresh_baselines=False)
                hours = storage.settings.baseline_refresh_hours
                scheduler = None
                if hours > 0 and not app.testing:
                    scheduler = BaselineScheduler(storage, hours)
                    scheduler.start()
                found = SkillServices(catalogue, ide, scheduler)
                app.extensions[_KEY] = found
    assert isinstance(found, SkillServices)
    return found


def read_json() -> Any | Response:
    """The parsed JSON object of the request, or the answer that refuses it
    (415, 413, 400 — also for a body that is not an object or holds text
    that is not valid Unicode)."""
    body = read_json_body()
    if isinstance(body, Response):
        return body
    if not isinstance(body, dict):
        return bad("body", "the request body must be a JSON object")
    broken = find_bad_text(body)
    if broken:
        return bad(broken, f"{broken} is not valid Unicode text")
    return body


def object_field(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if not isinstance(value, dict):
        raise FieldError(name, f"{name} must be a JSON object")
    return value


def text_field(body: dict[str, Any], name: str, *, required: bool = True, limit: int = 200) -> str | None:
    """A string field: present (when required), a non-empty string, not too long."""
    value = body.get(name)
    if value is None:
        if required:
            raise FieldError(name, f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise FieldError(name, f"{name} must be a non-empty string")
    if len(value) > limit:
        raise FieldError(name, f"{name} is longer than {limit} characters")
    return value


def name_field(body: dict[str, Any], name: str, *, limit: int = 200) -> str:
    """A required name: non-empty, at most ``limit`` characters, no control characters."""
    value = body.get(name)
    try:
        return check_name(value, name, limit)
    except ValueError as exc:
        raise FieldError(name, f"{name} is required" if value is None else str(exc)) from None


def bool_field(body: dict[str, Any], name: str, *, required: bool = True, default: bool = False) -> bool:
    value = body.get(name)
    if value is None and not required:
        return default
    if not isinstance(value, bool):
        raise FieldError(name, f"{name} must be true or false")
    return value


def register_errors(bp: Blueprint) -> None:
    """Map the tracker's errors to answers for this blueprint's views."""

    @bp.errorhandler(FieldError)
    @bp.errorhandler(StageFieldError)
    def _field(exc: FieldError | StageFieldError) -> Response:
        return bad(exc.field, str(exc))

    @bp.errorhandler(ShortcutConflict)
    def _conflict(exc: ShortcutConflict) -> Response:
        return error_response(409, "conflict", str(exc), owner=exc.owner, shortcut=exc.shortcut)

    @bp.errorhandler(ValueError)
    def _value(exc: ValueError) -> Response:
        # The tracker says what is wrong with an input in a ValueError; a
        # field the view did not check by name still gets a 400, never a 500.
        return bad("body", str(exc))

    @bp.errorhandler(EmbedderUnavailable)
    def _embedder(exc: EmbedderUnavailable) -> Response:
        log.error("embedder unavailable: %s", exc)
        return error_response(503, "embedder_unavailable", str(exc))
