"""schemathesis fuzzes every operation of the OpenAPI document against the
app (in-process WSGI, real SQLite file): no 5xx, and every answer is one
the document describes (status, media type, headers, body schema).

Bounded: at most ``MAX_EXAMPLES`` examples per operation.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from requests.structures import CaseInsensitiveDict
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from receiver import create_app
from tracker.settings import Settings

from ..conftest import API_TOKEN, WEBHOOK_SECRET
from ..support.stage import STAGE_PATH, stage_body

MAX_EXAMPLES = 50

_DIR = Path(tempfile.mkdtemp(prefix="schemathesis-"))
atexit.register(shutil.rmtree, _DIR, True)
APP = create_app(
    Settings(
        database_url=f"sqlite:///{_DIR / 'fuzz.db'}",
        api_tokens=(API_TOKEN,),
        webhook_secrets=(WEBHOOK_SECRET,),
        embedder="fallback",
        log_level="WARNING",
    ),
    TESTING=True,
)
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
_seed = APP.test_client()
for _stage in ("build", "test", "lint"):
    assert _seed.post(STAGE_PATH, json=stage_body(stage=_stage), headers=AUTH).status_code == 201

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_keeps_to_its_document(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(headers=AUTH, checks=CHECKS)


@given(case=schema["/api/v1/stage-results"]["POST"].as_strategy())
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_stage_results_accept_every_body_the_document_allows(case: schemathesis.Case[Any]) -> None:
    """The schema is not looser than the validation: a schema-valid body is
    stored (201), never refused with a 400."""
    # A fresh key: a generated key reused with another body is a 422 on purpose.
    case.headers = CaseInsensitiveDict({**case.headers, "Idempotency-Key": str(uuid.uuid4())})
    response = case.call_and_validate(headers=AUTH, checks=[*CHECKS, positive_data_acceptance])
    assert response.status_code == 201, response.text
