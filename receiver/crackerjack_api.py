"""Crackerjack over HTTP: record a phase result remotely, read a project's report."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from tracker.crackerjack import CrackerjackIntegration, crackerjack_session_id
from tracker.ide_context import FieldError
from tracker.phases import CRACKERJACK_PHASES, Source
from tracker.records import MAX_DURATION_SECONDS, MAX_ERROR_BYTES, check_duration, check_name
from tracker.skills import SkillsTracker

from . import db
from .auth import token_required
from .openapi import describe, error, json_body
from .skills_services import bool_field, name_field, read_json, register_errors, skill_services, text_field
from .stage_input import parse_rfc3339

bp = Blueprint("crackerjack", __name__, url_prefix="/api/v1/crackerjack")
register_errors(bp)

_PHASES = list(CRACKERJACK_PHASES.table)


def _name(value: str | None, field: str, limit: int = 200) -> str:
    try:
        return check_name(value, field, limit)
    except ValueError as exc:
        raise FieldError(field, str(exc)) from None


def _integration(project: str, session_id: str) -> CrackerjackIntegration:
    tracker = SkillsTracker(
        crackerjack_session_id(session_id),
        db.get_storage(),
        source=Source.CRACKERJACK,
        catalogue=skill_services().catalogue,
        refresh_baselines=False,
    )
    return CrackerjackIntegration(tracker, ".", project_name=project)


@bp.post("/phases")
@token_required
def record_phase() -> tuple[Response, int]:
    """Record one skill run of a Crackerjack phase."""
    body = read_json()
    if isinstance(body, Response):
        return body, body.status_code
    project = name_field(body, "project")
    session = name_field(body, "session_id", limit=280)
    phase = text_field(body, "phase", limit=50)
    assert phase is not None
    if not CRACKERJACK_PHASES.knows(phase):
        raise FieldError("phase", f"unknown crackerjack phase {phase!r}; valid phases: {', '.join(_PHASES)}")
    skill = name_field(body, "skill")
    completed = bool_field(body, "completed")
    try:
        duration = check_duration(body.get("duration_seconds"))
    except ValueError as exc:
        raise FieldError("duration_seconds", str(exc)) from None
    message = body.get("error_message")
    if message is not None and not isinstance(message, str):
        raise FieldError("error_message", "error_message must be a string")
    started = body.get("started_at")
    if started is not None and not isinstance(started, str):
        raise FieldError("started_at", "started_at must be an RFC 3339 timestamp")
    integration = _integration(project, session)
    new_id = integration.track_crackerjack_phase(
        phase,
        skill,
        completed,
        duration,
        message,
        started_at=parse_rfc3339(started) if started else None,
    )
    return jsonify(
        {
            "id": new_id,
            "session_id": integration.session_id,
            "project": project,
            "workflow_phase": integration.get_workflow_phase(phase).value,
        }
    ), 201


@bp.get("/projects/<path:project>/report")
def report(project: str) -> Response:
    """Per-phase figures over every recorded run of ``project``."""
    name = _name(project, "project")
    return jsonify(_integration(name, "report").get_crackerjack_workflow_report())


_NO_CONTROL = "^[^\\x00-\\x1f\\x7f]*[^\\s\\x00-\\x1f\\x7f][^\\x00-\\x1f\\x7f]*$"
_PHASE_RESULT: dict[str, Any] = {
    "type": "object",
    "required": ["project", "session_id", "phase", "skill", "completed", "duration_seconds"],
    "properties": {
        "project": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": _NO_CONTROL},
        "session_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 280,
            "pattern": _NO_CONTROL,
            "description": "Stored as crackerjack_<session_id> (a prefix already there is kept)",
        },
        "phase": {"type": "string", "enum": _PHASES},
        "skill": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": _NO_CONTROL},
        "completed": {"type": "boolean"},
        "duration_seconds": {"type": "number", "minimum": 0, "maximum": MAX_DURATION_SECONDS},
        "error_message": {
            "type": ["string", "null"],
            "description": f"Stored cut to {MAX_ERROR_BYTES} bytes, NUL as U+FFFD",
        },
        "started_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
_SUMMARY: dict[str, Any] = {
    "type": "object",
    "required": ["phase", "workflow_phase", "invocations", "completion_rate", "mean_duration", "tools"],
    "properties": {
        "phase": {"type": "string"},
        "workflow_phase": {"type": "string"},
        "invocations": {"type": "integer"},
        "completed": {"type": "integer"},
        "failed": {"type": "integer"},
        "completion_rate": {"type": ["number", "null"]},
        "mean_duration": {"type": ["number", "null"]},
        "total_duration": {"type": "number"},
        "runs": {"type": "integer"},
        "tools": {"type": "array", "items": {"type": "object"}},
        "common_failures": {"type": "array", "items": {"type": "object"}},
        "bottleneck": {"type": "boolean"},
        "bottleneck_tool": {"type": ["string", "null"]},
        "slowest_tool": {"type": ["string", "null"]},
        "last_run": {"type": ["string", "null"]},
    },
}

describe(
    {
        "/api/v1/crackerjack/phases": {
            "post": {
                "summary": "Record one skill run of a Crackerjack phase",
                "operationId": "recordCrackerjackPhase",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/CrackerjackPhaseResult"},
                            "example": {
                                "project": "myproject",
                                "session_id": "123",
                                "phase": "fast_hooks",
                                "skill": "ruff-check",
                                "completed": True,
                                "duration_seconds": 2.5,
                            },
                        }
                    },
                },
                "responses": {
                    "201": json_body(
                        {
                            "type": "object",
                            "required": ["id", "session_id", "project", "workflow_phase"],
                            "properties": {
                                "id": {"type": "integer"},
                                "session_id": {"type": "string"},
                                "project": {"type": "string"},
                                "workflow_phase": {"type": "string"},
                            },
                        },
                        "Stored",
                    ),
                    "400": error(
                        "A missing or malformed field, named in `field` (an unknown phase lists the valid)"
                    ),
                    "401": error("No bearer token"),
                    "403": error("Wrong bearer token"),
                    "413": error("Body larger than SESSION_BUDDY_CI_MAX_BODY_BYTES"),
                    "415": error("Content-Type is not application/json"),
                    "503": error("Database unavailable"),
                    "507": error("Database or disk full; nothing was stored"),
                },
            }
        },
        "/api/v1/crackerjack/projects/{project}/report": {
            "get": {
                "summary": "Per-phase figures over every recorded Crackerjack run of a project",
                "operationId": "crackerjackReport",
                "parameters": [
                    {
                        "name": "project",
                        "in": "path",
                        "required": True,
                        "schema": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 200,
                            "pattern": _NO_CONTROL,
                        },
                    }
                ],
                "responses": {
                    "200": json_body(
                        {
                            "type": "object",
                            "required": ["project", "runs", "invocations", "phases", "bottlenecks"],
                            "properties": {
                                "project": {"type": "string"},
                                "session_id": {"type": "string"},
                                "runs": {"type": "integer"},
                                "invocations": {"type": "integer"},
                                "phases": {"type": "object", "additionalProperties": _SUMMARY},
                                "bottlenecks": {"type": "array", "items": {"type": "string"}},
                                "slowest_phase": {"type": ["string", "null"]},
                            },
                        }
                    ),
                    "400": error("Malformed project name"),
                },
            }
        },
    },
    schemas={"CrackerjackPhaseResult": _PHASE_RESULT},
)
