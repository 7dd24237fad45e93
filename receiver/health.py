"""``GET /healthz``: is the database answering?"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from . import db
from .openapi import describe, json_body

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    storage = db.get_storage()
    try:
        storage.check_health()
    except Exception as exc:  # any failure means unhealthy; say which
        return jsonify({"status": "unhealthy", "database": type(exc).__name__}), 503
    return jsonify(
        {"status": "ok", "database": storage.dialect, "vector_search": storage.vector_enabled}
    ), 200


describe(
    {
        "/healthz": {
            "get": {
                "summary": "Is the database answering?",
                "operationId": "healthz",
                "responses": {
                    "200": json_body({"type": "object", "required": ["status"]}),
                    "503": json_body({"type": "object", "required": ["status"]}, "Database unavailable"),
                },
            }
        }
    }
)
