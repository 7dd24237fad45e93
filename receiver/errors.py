"""Every error answer is JSON: ``{"error": "...", "message": "..."}``."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from tracker.errors import StorageError, StorageFullError

log = logging.getLogger(__name__)


def error_response(status: int, error: str, message: str, **extra: object) -> Response:
    """A JSON error answer."""
    response = jsonify({"error": error, "message": message, **extra})
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        name = (exc.name or "error").lower().replace(" ", "_")
        response = error_response(status, name, exc.description or name)
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(StorageFullError)
    def _full(exc: StorageFullError) -> Response:
        log.error("storage full: %s", exc)
        response = error_response(507, "insufficient_storage", str(exc))
        response.headers["Retry-After"] = "60"
        return response

    @app.errorhandler(StorageError)
    def _storage(exc: StorageError) -> Response:
        log.error("storage error: %s", exc)
        response = error_response(503, "database_unavailable", "the database is unavailable; retry later")
        response.headers["Retry-After"] = "5"
        return response
