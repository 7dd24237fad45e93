"""The IDE plugin protocol over HTTP: recommendations, shortcuts, feedback.

An editor extension POSTs the context of the cursor and shows the
suggestions; it reports back whether the user took one, which shifts later
rankings. The OpenAPI description below carries request and response
examples an extension can copy.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from tracker.ide_context import MAX_LINES, MAX_PATH, MAX_SELECTION, FieldError, IDEContext
from tracker.records import MAX_DURATION_SECONDS, check_duration

from .auth import token_required
from .openapi import describe, error, json_body
from .skills_services import bool_field, name_field, read_json, register_errors, skill_services, text_field

bp = Blueprint("ide", __name__, url_prefix="/api/v1/ide")
register_errors(bp)


def _context(body: dict[str, Any]) -> IDEContext:
    return IDEContext.from_dict(body)


@bp.post("/recommendations")
def recommendations() -> Response:
    """Suggestions for the code at the cursor."""
    body = read_json()
    if isinstance(body, Response):
        return body
    limit = body.get("limit", 5)
    context = _context(body)
    answer = skill_services().ide.recommend(context, limit)
    return jsonify(answer.to_dict())


@bp.get("/shortcuts")
def get_shortcuts() -> Response:
    return jsonify({"shortcuts": skill_services().ide.get_available_shortcuts()})


@bp.put("/shortcuts")
@token_required
def put_shortcut() -> Response:
    """Bind a key combination to a skill (409 when another skill has it,
    unless ``override``)."""
    body = read_json()
    if isinstance(body, Response):
        return body
    skill = name_field(body, "skill_name")
    shortcut = text_field(body, "shortcut", limit=60)
    override = bool_field(body, "override", required=False)
    assert shortcut is not None
    ide = skill_services().ide
    combo = ide.register_shortcut(skill, shortcut, override=override)
    return jsonify(
        {"skill_name": skill.strip(), "shortcut": combo, "shortcuts": ide.get_available_shortcuts()}
    )


@bp.post("/feedback")
@token_required
def feedback() -> tuple[Response, int]:
    """Whether the user took a suggestion; with ``completed`` and
    ``duration_seconds`` the run itself is recorded too (source ``ide``)."""
    body = read_json()
    if isinstance(body, Response):
        return body, body.status_code
    skill = name_field(body, "skill_name")
    accepted = bool_field(body, "accepted")
    raw_context = body.get("context")
    if raw_context is not None and not isinstance(raw_context, dict):
        raise FieldError("context", "context must be a JSON object")
    context = _context(raw_context) if raw_context is not None else None
    confidence = body.get("confidence")
    if confidence is not None and (
        isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1
    ):
        raise FieldError("confidence", "confidence must be a number from 0 to 1")
    completed = body.get("completed")
    if completed is not None and not isinstance(completed, bool):
        raise FieldError("completed", "completed must be true or false")
    duration = body.get("duration_seconds")
    if duration is not None:
        try:
            duration = check_duration(duration)
        except ValueError as exc:
            raise FieldError("duration_seconds", str(exc)) from None
    if (completed is None) != (duration is None):
        field = "duration_seconds" if duration is None else "completed"
        raise FieldError(field, "completed and duration_seconds go together: send both to record the run")
    feedback_id, invocation_id = skill_services().ide.record_feedback(
        skill, accepted, context, confidence=confidence, completed=completed, duration=duration
    )
    return jsonify({"id": feedback_id, "invocation_id": invocation_id}), 201


_TEXT_NO_CONTROL = "^[^\\x00-\\x1f\\x7f]*[^\\s\\x00-\\x1f\\x7f][^\\x00-\\x1f\\x7f]*$"
_CONTEXT_EXAMPLE = {
    "file_path": "src/test_main.py",
    "line_number": 42,
    "selected_code": "def test_foo():",
    "language": "python",
    "cursor_position": [42, 0],
    "project_name": "myproject",
}
_SUGGESTION_EXAMPLE = {
    "skill_name": "pytest-run",
    "description": "Run the Python unit tests with pytest.",
    "confidence": 0.83,
    "shortcut": "Ctrl+Shift+T",
    "estimated_duration": 12.5,
    "workflow_phase": "execution",
    "reasons": ["pattern:python-test", "test-file", "language:python:testing", "similarity:0.41"],
}
_CONTEXT_PROPERTIES: dict[str, Any] = {
    "file_path": {"type": "string", "minLength": 1, "maxLength": MAX_PATH, "pattern": _TEXT_NO_CONTROL},
    "line_number": {"type": "integer", "minimum": 1, "maximum": MAX_LINES},
    "selected_code": {"type": ["string", "null"], "maxLength": MAX_SELECTION},
    "language": {
        "type": ["string", "null"],
        "maxLength": 50,
        "pattern": "^[A-Za-z0-9+#._-]*$",
        "description": "Editor language id or extension (py, tsx, typescriptreact…); empty: from the file",
    },
    "cursor_position": {
        "type": ["array", "null"],
        "description": "[line, column]: line 1-based (inside the file when total_lines is given), "
        "column 0-based",
        "prefixItems": [
            {"type": "integer", "minimum": 1, "maximum": MAX_LINES},
            {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        ],
        "items": False,
        "minItems": 2,
        "maxItems": 2,
    },
    "project_name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": _TEXT_NO_CONTROL},
    "total_lines": {
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": MAX_LINES,
        "description": "Length of the file; line_number and the cursor must not exceed it",
    },
}
_CONTEXT: dict[str, Any] = {
    "type": "object",
    "required": ["file_path", "line_number"],
    "properties": _CONTEXT_PROPERTIES,
    "examples": [_CONTEXT_EXAMPLE],
}
_SUGGESTION: dict[str, Any] = {
    "type": "object",
    "required": [
        "skill_name",
        "description",
        "confidence",
        "shortcut",
        "estimated_duration",
        "workflow_phase",
    ],
    "properties": {
        "skill_name": {"type": "string"},
        "description": {"type": "string"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "shortcut": {"type": ["string", "null"]},
        "estimated_duration": {"type": ["number", "null"], "description": "Seconds, from history"},
        "workflow_phase": {"type": ["string", "null"]},
        "reasons": {"type": "array", "items": {"type": "string"}},
    },
}
_PHASES = ["setup", "execution", "verification", "deployment"]
_SHORTCUTS = {
    "type": "object",
    "required": ["shortcuts"],
    "properties": {"shortcuts": {"type": "object", "additionalProperties": {"type": "string"}}},
}
_WRITE_ERRORS = {
    "401": error("No bearer token"),
    "403": error("Wrong bearer token"),
    "413": error("Body larger than SESSION_BUDDY_CI_MAX_BODY_BYTES"),
    "415": error("Content-Type is not application/json"),
}

describe(
    {
        "/api/v1/ide/recommendations": {
            "post": {
                "summary": "Skills to offer for the code at the cursor",
                "description": "Send the editor's context; the answer names the embedder that ranked it "
                "(`all-MiniLM-L6-v2` or the `hashing-v1` fallback) and the workflow phase inferred.",
                "operationId": "ideRecommendations",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "allOf": [
                                    {"$ref": "#/components/schemas/IDEContext"},
                                    {
                                        "type": "object",
                                        "properties": {
                                            "limit": {
                                                "type": "integer",
                                                "minimum": 1,
                                                "maximum": 50,
                                                "default": 5,
                                            }
                                        },
                                    },
                                ]
                            },
                            "example": {**_CONTEXT_EXAMPLE, "limit": 5},
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "Suggestions, most confident first",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/IDERecommendations"},
                                "example": {
                                    "suggestions": [_SUGGESTION_EXAMPLE],
                                    "workflow_phase": "execution",
                                    "embedder": "all-MiniLM-L6-v2",
                                    "session_id": "myproject_20261125T060000",
                                },
                            }
                        },
                    },
                    "400": error("A missing or malformed field, named in `field`"),
                    "413": error("Body larger than SESSION_BUDDY_CI_MAX_BODY_BYTES"),
                    "415": error("Content-Type is not application/json"),
                    "503": error("Database or embedder unavailable"),
                },
            }
        },
        "/api/v1/ide/shortcuts": {
            "get": {
                "summary": "Every skill's keyboard shortcut (defaults overlaid with registered ones)",
                "operationId": "ideShortcuts",
                "responses": {
                    "200": {
                        "description": "Skill name → key combination",
                        "content": {
                            "application/json": {
                                "schema": _SHORTCUTS,
                                "example": {
                                    "shortcuts": {"pytest-run": "Ctrl+Shift+T", "ruff-check": "Ctrl+Alt+L"}
                                },
                            }
                        },
                    }
                },
            },
            "put": {
                "summary": "Register a shortcut for a catalogue skill",
                "description": "Modifiers Ctrl, Alt, Shift, Cmd then one key (a letter, digit, F1-F24, "
                "Enter…); a chord is two combinations separated by a space. A combination another skill has "
                "is a 409 unless `override` is true, which moves it.",
                "operationId": "ideRegisterShortcut",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["skill_name", "shortcut"],
                                "properties": {
                                    "skill_name": {"type": "string", "minLength": 1, "maxLength": 200},
                                    "shortcut": {"type": "string", "minLength": 1, "maxLength": 60},
                                    "override": {"type": "boolean", "default": False},
                                },
                            },
                            "example": {"skill_name": "bandit-security", "shortcut": "ctrl+alt+b"},
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "Registered; the canonical combination and all shortcuts",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["skill_name", "shortcut", "shortcuts"],
                                    "properties": {
                                        "skill_name": {"type": "string"},
                                        "shortcut": {"type": "string"},
                                        "shortcuts": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                    },
                                },
                                "example": {
                                    "skill_name": "bandit-security",
                                    "shortcut": "Ctrl+Alt+B",
                                    "shortcuts": {
                                        "bandit-security": "Ctrl+Alt+B",
                                        "pytest-run": "Ctrl+Shift+T",
                                    },
                                },
                            }
                        },
                    },
                    "400": error("Malformed combination or unknown skill, named in `field`"),
                    "409": error(
                        "Another skill has this combination (`owner`); send override: true to move it"
                    ),
                    **_WRITE_ERRORS,
                    "503": error("Database unavailable"),
                },
            },
        },
        "/api/v1/ide/feedback": {
            "post": {
                "summary": "Report whether the user took a suggestion (shifts later rankings)",
                "operationId": "ideFeedback",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/IDEFeedback"},
                            "example": {
                                "skill_name": "pytest-run",
                                "accepted": True,
                                "confidence": 0.83,
                                "context": _CONTEXT_EXAMPLE,
                                "completed": True,
                                "duration_seconds": 11.2,
                            },
                        }
                    },
                },
                "responses": {
                    "201": json_body(
                        {
                            "type": "object",
                            "required": ["id", "invocation_id"],
                            "properties": {
                                "id": {"type": "integer"},
                                "invocation_id": {"type": ["integer", "null"]},
                            },
                        },
                        "Stored; invocation_id when the run was recorded too",
                    ),
                    "400": error("A missing or malformed field, named in `field`"),
                    **_WRITE_ERRORS,
                    "503": error("Database unavailable"),
                    "507": error("Database or disk full; nothing was stored"),
                },
            }
        },
    },
    schemas={
        "IDEContext": _CONTEXT,
        "IDESuggestion": _SUGGESTION,
        "IDERecommendations": {
            "type": "object",
            "required": ["suggestions", "workflow_phase", "embedder", "session_id"],
            "properties": {
                "suggestions": {"type": "array", "items": {"$ref": "#/components/schemas/IDESuggestion"}},
                "workflow_phase": {"type": "string", "enum": _PHASES},
                "embedder": {"type": "string"},
                "session_id": {"type": "string"},
            },
        },
        "IDEFeedback": {
            "type": "object",
            "required": ["skill_name", "accepted"],
            "properties": {
                "skill_name": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 200,
                    "pattern": _TEXT_NO_CONTROL,
                },
                "accepted": {"type": "boolean"},
                "confidence": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "context": {"oneOf": [{"$ref": "#/components/schemas/IDEContext"}, {"type": "null"}]},
                "completed": {
                    "type": ["boolean", "null"],
                    "description": "With duration_seconds: record the run",
                },
                "duration_seconds": {
                    "type": ["number", "null"],
                    "minimum": 0,
                    "maximum": MAX_DURATION_SECONDS,
                },
            },
        },
    },
)
