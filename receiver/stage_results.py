"""``POST /api/v1/stage-results``: stage results from the GitHub Action.

The contract is DESIGN.md's "Stage-result API". Order of the checks: the
token (401/403), the media type (415), the size (413), the JSON (400), each
field (400 naming it), then the idempotency key (200 replay / 422). The
result and its key commit in one transaction before the answer is sent, so
an acknowledged result survives a worker killed right after answering.

A well-formed, authorised request never reaches the view below: the fast
path in front of Flask (:mod:`receiver.fast_ingest`) answers it with the
same :func:`prepare`, :func:`store` and :func:`answer`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, request

from tracker.errors import IdempotencyConflict
from tracker.phases import Source
from tracker.records import InvocationRecord
from tracker.storage import StoredResult, request_hash

from . import db
from .auth import token_required
from .errors import error_response
from .jsonbody import bad, read_json
from .openapi import describe, error, json_body
from .stage_input import FieldError, find_bad_text, parse_idempotency_key, parse_stage_result
from .stage_openapi import IDEMPOTENCY_KEY_HEADER, SCHEMAS

bp = Blueprint("stage_results", __name__)


@dataclass(frozen=True)
class Prepared:
    """A validated stage result, ready to store."""

    record: InvocationRecord
    idempotency_key: str | None
    digest: str


def prepare(services: db.Services, body: Any, idempotency_key: str | None) -> Prepared:
    """Validate a parsed body and its ``Idempotency-Key`` header and build
    the record to store. The same steps, whether Flask or the fast path
    (:mod:`receiver.fast_ingest`) read the request.

    :raises FieldError: naming the first bad field (a 400).
    """
    try:
        key = parse_idempotency_key(idempotency_key)
        result = parse_stage_result(body)
        digest = request_hash(body)
    except UnicodeEncodeError:
        field = find_bad_text(body) or "body"
        message = f"{field} contains text that is not valid Unicode (a lone surrogate)"
        raise FieldError(field, message) from None
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
        raise FieldError("stage", str(exc)) from None
    return Prepared(record, key, digest)


def store(services: db.Services, prepared: Prepared) -> StoredResult:
    """Store ``prepared``; returns once it has committed.

    :raises IdempotencyConflict: the key was used with another body (a 422).
    """
    return services.storage.record_stage_result(
        prepared.record, idempotency_key=prepared.idempotency_key, request_digest=prepared.digest
    )


def answer(stored: StoredResult) -> tuple[int, bytes]:
    """The status and JSON body that acknowledge ``stored``."""
    # json.dumps directly: this is the hot path, and jsonify's provider
    # costs as much again for four fields.
    body = {
        "id": stored.id,
        "session_id": stored.session_id,
        "workflow_phase": stored.workflow_phase,
        "duplicate": stored.duplicate,
    }
    return (200 if stored.duplicate else 201), json.dumps(body).encode()


def conflict(exc: IdempotencyConflict) -> Response:
    """The 422 for a reused idempotency key."""
    return error_response(422, "idempotency_key_reused", str(exc))


@bp.post("/api/v1/stage-results")
@token_required
def post_stage_result() -> Response:
    """Store one stage result; 201, or 200 for a repeated idempotency key."""
    body = read_json("the stage result")
    if isinstance(body, Response):
        return body
    services = db.services()
    try:
        prepared = prepare(services, body, request.headers.get("Idempotency-Key"))
    except FieldError as exc:
        return bad(exc.field, str(exc))
    try:
        stored = store(services, prepared)
    except IdempotencyConflict as exc:
        return conflict(exc)
    status, content = answer(stored)
    return Response(content, status=status, mimetype="application/json")


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
