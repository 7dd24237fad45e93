"""Stage-result bodies and a small HTTP client for the receiver tests."""

from __future__ import annotations

import copy
import http.client
import json
from typing import Any

STAGE_PATH = "/api/v1/stage-results"

CONTEXT: dict[str, Any] = {
    "pipeline_name": "CI",
    "build_number": "42",
    "git_commit": "abc1234def5678",
    "git_branch": "main",
    "environment": "staging",
    "triggered_by": "push",
}


def stage_body(**overrides: Any) -> dict[str, Any]:
    """The contract's example body, with ``overrides`` (``context`` entries
    are merged into the example context; ``None`` removes a field)."""
    body: dict[str, Any] = {
        "context": copy.deepcopy(CONTEXT),
        "stage": "test",
        "skill": "pytest-run",
        "success": True,
        "duration_seconds": 45.2,
    }
    if "context" in overrides:
        context = overrides.pop("context")
        if isinstance(context, dict):
            body["context"].update(context)
            body["context"] = {k: v for k, v in body["context"].items() if v is not None}
        else:
            body["context"] = context
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def post_json(
    url: str, body: Any, *, token: str, key: str | None = None, timeout: float = 10.0
) -> tuple[int, dict[str, Any]]:
    """POST ``body`` to ``url`` + the stage-result path on a new
    connection; (status, JSON answer). Network errors propagate."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    try:
        conn.request("POST", STAGE_PATH, body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {"raw": raw.decode(errors="replace")}
    return response.status, data
