"""Read endpoints: pipelines, their analytics and reports."""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify, request

from tracker.cicd import MAX_DAYS
from tracker.report import ReportFormat, render

from . import db
from .errors import error_response
from .openapi import describe, error, json_body
from .query import bounded_int

bp = Blueprint("pipelines", __name__, url_prefix="/api/v1/pipelines")

_MEDIA = {
    ReportFormat.MARKDOWN: "text/markdown; charset=utf-8",
    ReportFormat.TEXT: "text/plain; charset=utf-8",
    ReportFormat.JSON: "application/json",
}


def days_arg(default: int) -> int | Response:
    """The ``days`` query parameter, or a 400 answer naming it."""
    raw = request.args.get("days")
    if raw is None:
        return default
    days = bounded_int(raw, 1, MAX_DAYS)
    if days is None:
        return error_response(400, "bad_request", f"days must be a whole number from 1 to {MAX_DAYS}")
    return days


@bp.get("")
def list_pipelines() -> Response:
    """Every pipeline with data, most recently active first."""
    rows = db.get_storage().pipelines()
    return jsonify(
        {
            "pipelines": [
                {
                    "name": p.name,
                    "runs": p.runs,
                    "success_rate": p.successes / p.runs if p.runs else 0.0,
                    "stages": p.stages,
                    "last_day": p.last_day.isoformat(),
                }
                for p in rows
            ]
        }
    )


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


#: The longest pipeline name (the column's width).
MAX_NAME = 255


def bad_name(name: str) -> Response | None:
    """A 400 for a pipeline name no pipeline can have: one with a control
    character (``%00`` in the path), which CIPipelineContext refuses and
    PostgreSQL cannot even compare."""
    if _CONTROL.search(name):
        return error_response(400, "bad_request", "a pipeline name has no control characters")
    if len(name) > MAX_NAME:
        return error_response(400, "bad_request", f"a pipeline name is at most {MAX_NAME} characters")
    return None


@bp.get("/<path:name>/analytics")
def analytics(name: str) -> Response:
    days = days_arg(7)
    if isinstance(days, Response):
        return days
    refused = bad_name(name)
    if refused is not None:
        return refused
    return jsonify(db.services().cicd.get_pipeline_analytics(name, days).to_dict())


@bp.get("/<path:name>/report")
def report(name: str) -> Response:
    days = days_arg(30)
    if isinstance(days, Response):
        return days
    refused = bad_name(name)
    if refused is not None:
        return refused
    raw = request.args.get("format", "md")
    try:
        fmt = ReportFormat(raw)
    except ValueError:
        return error_response(400, "bad_request", "format must be md, text or json")
    body = render(db.services().cicd.get_pipeline_analytics(name, days), fmt)
    return Response(body, status=200, content_type=_MEDIA[fmt])


# Pipeline names never hold control characters (CIPipelineContext refuses
# them; a path with one gets a 400).
_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": "^[^\\x00-\\x1f\\x7f]+$"},
}


def _days_param(default: int) -> dict[str, object]:
    return {
        "name": "days",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": default},
    }


describe(
    {
        "/api/v1/pipelines": {
            "get": {
                "summary": "Pipelines with data",
                "operationId": "listPipelines",
                "responses": {
                    "200": json_body(
                        {
                            "type": "object",
                            "required": ["pipelines"],
                            "properties": {"pipelines": {"type": "array", "items": {"type": "object"}}},
                        }
                    )
                },
            }
        },
        "/api/v1/pipelines/{name}/analytics": {
            "get": {
                "summary": "Per-stage analytics of a pipeline",
                "operationId": "pipelineAnalytics",
                "parameters": [_NAME, _days_param(7)],
                "responses": {
                    "200": json_body({"type": "object", "required": ["schema_version", "stages"]}),
                    "400": error(
                        "Bad query parameter, a name with a control character or over 255 characters"
                    ),
                    "404": error("No such route: a name with a line break (no path segment holds one)"),
                },
            }
        },
        "/api/v1/pipelines/{name}/report": {
            "get": {
                "summary": "The pipeline report",
                "operationId": "pipelineReport",
                "parameters": [
                    _NAME,
                    _days_param(30),
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["md", "text", "json"], "default": "md"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The report",
                        "content": {
                            "text/markdown": {"schema": {"type": "string"}},
                            "text/plain": {"schema": {"type": "string"}},
                            "application/json": {"schema": {"type": "object"}},
                        },
                    },
                    "400": error(
                        "Bad query parameter, a name with a control character or over 255 characters"
                    ),
                    "404": error("No such route: a name with a line break (no path segment holds one)"),
                },
            }
        },
    }
)
