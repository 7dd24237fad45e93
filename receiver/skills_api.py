"""The skill catalogue over HTTP: list, add, semantic search."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from tracker.catalogue import MAX_DESCRIPTION, MAX_LANGUAGES, CatalogueEntry
from tracker.ide_context import FieldError
from tracker.phases import WorkflowPhase
from tracker.semantic import MAX_QUERY
from tracker.skills import SkillsTracker

from . import db
from .auth import token_required
from .errors import error_response
from .openapi import describe, error, json_body
from .query import bounded_int
from .skills_services import bool_field, read_json, register_errors, skill_services, text_field

bp = Blueprint("skills", __name__, url_prefix="/api/v1/skills")
register_errors(bp)

_PHASES = [p.value for p in WorkflowPhase]
MAX_PAGE = 1000


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    value = bounded_int(raw, low, high)
    if value is None:
        raise FieldError(name, f"{name} must be a whole number from {low} to {high}")
    return value


@bp.get("")
def list_skills() -> Response:
    """The catalogue, by name (``limit``/``offset`` pages through it)."""
    limit = _int_arg("limit", 100, 1, MAX_PAGE)
    offset = _int_arg("offset", 0, 0, 10**9)
    catalogue = skill_services().catalogue
    catalogue.ensure_seeded()
    rows = catalogue.storage.catalogue_entries(limit=limit, offset=offset)
    skills = [
        {
            "name": r["name"],
            "description": r["description"],
            "workflow_phase": r["workflow_phase"],
            "languages": list(r["languages"] or []),
            "builtin": bool(r["builtin"]),
        }
        for r in rows
    ]
    return jsonify({"skills": skills, "total": catalogue.storage.catalogue_size(), "offset": offset})


@bp.post("")
@token_required
def add_skill() -> tuple[Response, int]:
    """Add a skill (409 when the name exists, unless ``replace``)."""
    body = read_json()
    if isinstance(body, Response):
        return body, body.status_code
    name = text_field(body, "name")
    description = text_field(body, "description", limit=MAX_DESCRIPTION)
    phase = body.get("workflow_phase")
    if phase is not None and phase not in _PHASES:
        raise FieldError("workflow_phase", f"workflow_phase must be one of {', '.join(_PHASES)}")
    languages = body.get("languages") or []
    if not isinstance(languages, list) or len(languages) > MAX_LANGUAGES:
        raise FieldError("languages", f"languages must be a list of at most {MAX_LANGUAGES} language names")
    replace = bool_field(body, "replace", required=False)
    try:
        entry = CatalogueEntry(name or "", description or "", phase, tuple(languages))
    except ValueError as exc:
        # CatalogueEntry's messages start with the field's name.
        first = str(exc).split(" ", 1)[0]
        field = {"name": "name", "description": "description"}.get(first, "languages")
        raise FieldError(field, str(exc)) from None
    catalogue = skill_services().catalogue
    try:
        skill_id = catalogue.add(entry, replace=replace)
    except ValueError as exc:
        return error_response(409, "conflict", str(exc)), 409
    return jsonify({"id": skill_id, **entry.to_dict(), "embedder": catalogue.embedder_name}), 201


@bp.get("/search")
def search() -> Response:
    """Skills for a query, ranked by similarity, phase fit and history."""
    query = request.args.get("q", "")
    if not query.strip():
        raise FieldError("q", "q (the query) is required")
    if len(query) > MAX_QUERY:
        raise FieldError("q", f"q is longer than {MAX_QUERY} characters")
    limit = _int_arg("limit", 5, 1, 100)
    phase = request.args.get("workflow_phase") or None
    if phase is not None and phase not in _PHASES:
        raise FieldError("workflow_phase", f"workflow_phase must be one of {', '.join(_PHASES)}")
    project = request.args.get("project") or None
    services = skill_services()
    tracker = SkillsTracker(
        "api",
        db.get_storage(),
        project=_project(project),
        catalogue=services.catalogue,
        refresh_baselines=False,
    )
    results = tracker.recommend_skills(query, limit, phase)
    return jsonify(
        {
            "query": query,
            "embedder": services.catalogue.embedder_name,
            "results": [r.to_dict() for r in results],
        }
    )


def _project(value: str | None) -> str | None:
    if value is not None and (len(value) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in value)):
        raise FieldError("project", "project must be at most 200 characters, without control characters")
    return (value.strip() or None) if value else None


_SKILL: dict[str, Any] = {
    "type": "object",
    "required": ["name", "description", "workflow_phase", "languages", "builtin"],
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "workflow_phase": {"type": ["string", "null"], "enum": [*_PHASES, None]},
        "languages": {"type": "array", "items": {"type": "string"}},
        "builtin": {"type": "boolean"},
    },
}
_NO_CONTROL = "^[^\\x00-\\x1f\\x7f]*[^\\s\\x00-\\x1f\\x7f][^\\x00-\\x1f\\x7f]*$"
_NEW_SKILL: dict[str, Any] = {
    "type": "object",
    "required": ["name", "description"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": _NO_CONTROL},
        "description": {"type": "string", "minLength": 1, "maxLength": MAX_DESCRIPTION, "pattern": "\\S"},
        "workflow_phase": {"type": ["string", "null"], "enum": [*_PHASES, None]},
        "languages": {
            "type": ["array", "null"],
            "maxItems": MAX_LANGUAGES,
            "items": {"type": "string", "minLength": 1, "maxLength": 50, "pattern": "^[A-Za-z0-9+#._-]+$"},
        },
        "replace": {"type": "boolean", "default": False},
    },
}
_RECOMMENDATION = {
    "type": "object",
    "required": ["skill_name", "description", "score", "similarity", "embedder"],
    "properties": {
        "skill_name": {"type": "string"},
        "description": {"type": "string"},
        "score": {"type": "number"},
        "similarity": {"type": "number"},
        "phase_fit": {"type": "number"},
        "history_score": {"type": "number"},
        "workflow_phase": {"type": ["string", "null"]},
        "history_source": {"type": "string", "enum": ["local", "baseline", "none"]},
        "completion_rate": {"type": ["number", "null"]},
        "mean_duration": {"type": ["number", "null"]},
        "embedder": {"type": "string"},
    },
}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


describe(
    {
        "/api/v1/skills": {
            "get": {
                "summary": "The skill catalogue",
                "operationId": "listSkills",
                "parameters": [
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 100}),
                    _query("offset", {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0}),
                ],
                "responses": {
                    "200": json_body(
                        {
                            "type": "object",
                            "required": ["skills", "total", "offset"],
                            "properties": {
                                "skills": {"type": "array", "items": {"$ref": "#/components/schemas/Skill"}},
                                "total": {"type": "integer"},
                                "offset": {"type": "integer"},
                            },
                        }
                    ),
                    "400": error("Bad query parameter, named in `field`"),
                },
            },
            "post": {
                "summary": "Add a skill to the catalogue (embedded at once)",
                "operationId": "addSkill",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/NewSkill"},
                            "example": {
                                "name": "alembic-check",
                                "description": "Check that the database migrations match the models.",
                                "workflow_phase": "verification",
                                "languages": ["python"],
                            },
                        }
                    },
                },
                "responses": {
                    "201": json_body({"type": "object", "required": ["id", "name", "embedder"]}, "Added"),
                    "400": error("A missing or malformed field, named in `field`"),
                    "401": error("No bearer token"),
                    "403": error("Wrong bearer token"),
                    "409": error("A skill of this name exists; send replace: true to change it"),
                    "413": error("Body larger than SESSION_BUDDY_CI_MAX_BODY_BYTES"),
                    "415": error("Content-Type is not application/json"),
                    "503": error("Database or embedder unavailable"),
                },
            },
        },
        "/api/v1/skills/search": {
            "get": {
                "summary": "Skills for a query: semantic similarity, phase fit and history",
                "description": "The score blends similarity (0.55), workflow-phase fit (0.20) and history "
                "(0.25: completion rate, speed, recent use in `project`; else community baselines).",
                "operationId": "searchSkills",
                "parameters": [
                    {
                        "name": "q",
                        "in": "query",
                        "required": True,
                        "schema": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_QUERY,
                            "pattern": "\\S",
                        },
                        "example": "check my type annotations",
                    },
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 5}),
                    _query("workflow_phase", {"type": "string", "enum": _PHASES}),
                    _query(
                        "project",
                        {"type": "string", "maxLength": 200, "pattern": "^[^\\x00-\\x1f\\x7f]*$"},
                        "Rank on this project's history",
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "Ranked skills",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["query", "embedder", "results"],
                                    "properties": {
                                        "query": {"type": "string"},
                                        "embedder": {"type": "string"},
                                        "results": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/SkillRecommendation"},
                                        },
                                    },
                                },
                                "example": {
                                    "query": "check my type annotations",
                                    "embedder": "all-MiniLM-L6-v2",
                                    "results": [
                                        {
                                            "skill_name": "mypy-check",
                                            "description": "Check Python type annotations and type errors "
                                            "with mypy.",
                                            "score": 0.62,
                                            "similarity": 0.66,
                                            "phase_fit": 0.5,
                                            "history_score": 0.4,
                                            "workflow_phase": "verification",
                                            "history_source": "none",
                                            "completion_rate": None,
                                            "mean_duration": None,
                                            "embedder": "all-MiniLM-L6-v2",
                                        }
                                    ],
                                },
                            }
                        },
                    },
                    "400": error("Missing or malformed query parameter, named in `field`"),
                    "503": error("Database or embedder unavailable"),
                },
            }
        },
    },
    schemas={"Skill": _SKILL, "NewSkill": _NEW_SKILL, "SkillRecommendation": _RECOMMENDATION},
)
