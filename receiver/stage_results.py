"""``POST /api/v1/stage-results``: stage results from the GitHub Action.

The contract is DESIGN.md's "Stage-result API". Order of the checks: the
token (401/403), the media type (415), the size (413), the JSON (400), each
field (400 naming it), then the idempotency key (200 replay / 422). The
result and its key commit in one transaction before the answer is sent, so
an acknowledged result survives a worker killed right after answering.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, request

from tracker.errors import IdempotencyConflict
from tracker.phases import Source
from tracker.storage import request_hash

from . import db
from .auth import token_required
from .errors import error_response
from .jsonbody import bad, read_json
from .openapi import describe, error, json_body
from .stage_input import FieldError, find_bad_text, parse_idempotency_key, parse_stage_result
from .stage_openapi import IDEMPOTENCY_KEY_HEADER, SCHEMAS

bp = Blueprint("stage_results", __name__)


@bp.post("/api/v1/stage-results")
@token_required
def post_stage_result() -> Response:
    """Store one stage result; 201, or 200 for a repeated idempotency key."""
    body = read_json("the stage result")
    if isinstance(body, Response):
        return body
    try:
        key = parse_idempotency_key(request.headers.get("Idempotency-Key"))
        result = parse_stage_result(body)
        digest = request_hash(body)
    except FieldError as exc:
        return bad(exc.field, str(exc))
    except UnicodeEncodeError:
        field = find_bad_text(body) or "body"
        return bad(field, f"{field} contains text that is not valid Unicode (a lone surrogate)")

    services = db.services()
    try:
        record = services.cicd.build_record(
            result.context,
            result.stage,
            result.skill,
            result.success,
            result.duration_seconds,
            error_message=result.error,
            integration=result.integration,
            exit_code=result.exit_code,
            started_at=result.started_at,
            source=Source.CI,
        )
    except ValueError as exc:
        # Crackerjack phase names are strict; the message lists the valid ones.
        return bad("stage", str(exc))
    try:
        stored = services.storage.record_stage_result(record, idempotency_key=key, request_digest=digest)
    except IdempotencyConflict as exc:
        return error_response(422, "idempotency_key_reused", str(exc))
    answer = {
        "id": stored.id,
        "session_id": stored.session_id,
        "workflow_phase": stored.workflow_phase,
        "duplicate": stored.duplicate,
    }
    # json.dumps directly: this is the hot path, and jsonify's provider
    # costs as much again for four fields.
    return Response(json.dumps(answer), status=200 if stored.duplicate else 201, mimetype="application/json")


describe(
    {
        "/api/v1/stage-results": {
            "post": {
                "summary": "Record one stage result (sent by the GitHub Action)",
                "operationId": "postStageResult",
                "security": [{"bearer": []}],
                "parameters": [IDEMPOTENCY_KEY_HEADER],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StageResult"}}},
                },
                "responses": {
                    "201": json_body({"$ref": "#/components/schemas/StoredStageResult"}, "Stored"),
                    "200": json_body(
                        {"$ref": "#/components/schemas/StoredStageResult"},
                        "Already stored under this Idempotency-Key: the first answer, with duplicate true",
                    ),
                    "400": error("A missing or malformed field (named in `field`), or broken JSON"),
                    "401": error("No bearer token"),
                    "403": error("Wrong bearer token"),
                    "413": error("Body larger than SESSION_BUDDY_CI_MAX_BODY_BYTES"),
                    "415": error("Content-Type is not application/json"),
                    "422": error("Idempotency-Key already used with a different body"),
                    "503": error("Database unavailable; retry later"),
                    "507": error("Database or disk full; nothing was stored"),
                },
            }
        }
    },
    schemas=SCHEMAS,
)
