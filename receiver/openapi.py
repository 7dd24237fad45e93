"""The OpenAPI 3.1 description of the receiver, served at
``/api/v1/openapi.json``.

Each blueprint module describes its own paths with :func:`describe` next to
its views, so the document and the routes change together; a test checks
that every route is described and every described path is routed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

bp = Blueprint("openapi", __name__)

_PATHS: dict[str, dict[str, Any]] = {}
_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    }
}


def describe(paths: dict[str, dict[str, Any]], schemas: dict[str, dict[str, Any]] | None = None) -> None:
    """Add ``paths`` (OpenAPI path items) and component ``schemas``."""
    for path, item in paths.items():
        _PATHS.setdefault(path, {}).update(item)
    _SCHEMAS.update(schemas or {})


def error(description: str) -> dict[str, Any]:
    """A response object whose body is the ``Error`` schema."""
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def json_body(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "session-buddy-ci receiver",
            "version": "1",
            "description": "Stage results from the GitHub Action, GitHub webhooks, analytics, reports "
            "and IDE recommendations.",
        },
        "paths": dict(sorted(_PATHS.items())),
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@bp.get("/api/v1/openapi.json")
def openapi_json() -> Response:
    return jsonify(document())


describe(
    {
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {"200": json_body({"type": "object"})},
            }
        }
    }
)
