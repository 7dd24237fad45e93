"""OpenAPI schemas of the stage-result API.

They state the same rules as :mod:`receiver.stage_input` (a test fuzzes
the endpoint with bodies these schemas allow and expects none refused):
text without control characters and with something besides whitespace,
names of at most 200 characters, the crackerjack phase names when
``integration`` is ``crackerjack``, and so on.
"""

from __future__ import annotations

from typing import Any

from tracker.phases import CRACKERJACK_PHASES, Integration, WorkflowPhase
from tracker.records import MAX_DURATION_SECONDS, MAX_ERROR_BYTES, MAX_NAME_LENGTH

from .stage_input import (
    MAX_BUILD_NUMBER,
    MAX_EXIT_CODE,
    MAX_IDEMPOTENCY_KEY,
    MAX_RUN_ATTEMPT,
    MAX_START_YEAR,
    MIN_EXIT_CODE,
    MIN_START_YEAR,
)

# Regular expressions in the ECMA-262 subset JSON Schema uses. Whitespace
# is spelled out: the server strips what Python calls whitespace (which
# has U+0085 and not U+FEFF, unlike ECMA's \s); both are excluded here.
_CONTROL = "\\x00-\\x1f\\x7f"
_SPACE = "\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
#: Some character that is neither whitespace nor a control character.
TEXT_PATTERN = f"^[^{_CONTROL}]*[^{_SPACE}{_CONTROL}][^{_CONTROL}]*$"
#: One word: no whitespace, no control characters.
WORD_PATTERN = f"^[^{_SPACE}{_CONTROL}]+$"

_TEXT: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": TEXT_PATTERN}
_NULLABLE_TEXT: dict[str, Any] = {**_TEXT, "type": ["string", "null"]}
_NAME: dict[str, Any] = {**_TEXT, "maxLength": MAX_NAME_LENGTH}
_WHOLE = "A whole number is taken as its decimal text."

PIPELINE_CONTEXT: dict[str, Any] = {
    "type": "object",
    "description": "The pipeline run the stage belongs to; its session id is "
    "`{pipeline_name}-{build_number}`. Unknown fields are ignored.",
    "required": ["pipeline_name", "build_number", "git_commit", "git_branch", "environment", "triggered_by"],
    "properties": {
        "pipeline_name": {**_TEXT, "examples": ["CI"]},
        "build_number": {
            "oneOf": [
                {"type": "string", "pattern": "^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$"},
                {"type": "integer", "minimum": 0, "maximum": MAX_BUILD_NUMBER},
            ],
            "description": f"The run number; a re-run attempt is `42.2`. {_WHOLE}",
        },
        "git_commit": {"type": "string", "pattern": "^[0-9a-fA-F]{7,40}$"},
        "git_branch": {**_TEXT, "pattern": WORD_PATTERN},
        "environment": _TEXT,
        "triggered_by": {**_TEXT, "description": "The event: push, pull_request, schedule…"},
        "repository": {
            "type": ["string", "null"],
            "maxLength": 255,
            "pattern": f"^[^/{_SPACE}{_CONTROL}]+/[^/{_SPACE}{_CONTROL}]+$",
            "examples": ["octo-org/octo-repo"],
        },
        "run_id": {
            "oneOf": [
                {"type": "string", "maxLength": 64, "pattern": WORD_PATTERN},
                {"type": "integer", "minimum": -MAX_BUILD_NUMBER, "maximum": MAX_BUILD_NUMBER},
                {"type": "null"},
            ],
            "description": _WHOLE,
        },
        "run_attempt": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_RUN_ATTEMPT},
        "job": _NULLABLE_TEXT,
    },
}

STAGE_RESULT: dict[str, Any] = {
    "type": "object",
    "description": "One stage result. Unknown fields are ignored.",
    "required": ["context", "stage", "skill", "success", "duration_seconds"],
    "properties": {
        "context": {"$ref": "#/components/schemas/PipelineContext"},
        "stage": {
            **_NAME,
            "description": "Stage name, mapped to a workflow phase (a name the CI table does not "
            "know takes the phase its words name, else `execution`). With integration `crackerjack` "
            "it must be one of: "
            f"{', '.join(CRACKERJACK_PHASES.table)}.",
            "examples": ["test"],
        },
        "skill": {**_NAME, "examples": ["pytest-run"]},
        "success": {"type": "boolean"},
        "duration_seconds": {"type": "number", "minimum": 0, "maximum": MAX_DURATION_SECONDS},
        "exit_code": {"type": ["integer", "null"], "minimum": MIN_EXIT_CODE, "maximum": MAX_EXIT_CODE},
        "error": {
            "type": ["string", "null"],
            "description": f"Failure message; stored cut to {MAX_ERROR_BYTES} bytes of UTF-8, NUL as U+FFFD.",
        },
        "started_at": {
            "type": ["string", "null"],
            "format": "date-time",
            "pattern": "^(19|20|21)[0-9]{2}-",  # MIN_START_YEAR to MAX_START_YEAR
            "description": f"RFC 3339 with an offset, years {MIN_START_YEAR}-{MAX_START_YEAR}. "
            "Default: the time received minus the duration.",
        },
        "integration": {
            "type": ["string", "null"],
            "enum": [*(i.value for i in Integration), None],
            "default": "ci",
            "description": "Which stage vocabulary `stage` belongs to.",
        },
    },
    "allOf": [
        {
            "if": {"properties": {"integration": {"const": "crackerjack"}}, "required": ["integration"]},
            "then": {"properties": {"stage": {"enum": list(CRACKERJACK_PHASES.table)}}},
        }
    ],
}

STORED_STAGE_RESULT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "session_id", "workflow_phase", "duplicate"],
    "properties": {
        "id": {"type": "integer"},
        "session_id": {"type": "string"},
        "workflow_phase": {"type": "string", "enum": [p.value for p in WorkflowPhase]},
        "duplicate": {"type": "boolean"},
    },
}

SCHEMAS = {
    "PipelineContext": PIPELINE_CONTEXT,
    "StageResult": STAGE_RESULT,
    "StoredStageResult": STORED_STAGE_RESULT,
}

IDEMPOTENCY_KEY_HEADER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "One unique key per result (the Action sends a UUID): a retry with the same key "
    "and body is answered from the first one and stored once; the same key with another body is a 422. "
    "Without it every POST is a new result.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_IDEMPOTENCY_KEY,
        # Printable ASCII; HTTP drops spaces at either end, so none there.
        "pattern": "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$",
    },
}
