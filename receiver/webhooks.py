"""``POST /webhooks/github``: GitHub webhook deliveries.

Order of work, each step before the next: read the raw body (413 over
``SESSION_BUDDY_CI_WEBHOOK_MAX_BYTES``), verify ``X-Hub-Signature-256`` (401),
parse headers and JSON (400/415), check the payload has what we need (422),
store it under its ``X-GitHub-Delivery`` id, answer. Applying it (runs,
jobs, stages, the PR comment) happens after the answer, in
:mod:`receiver.webhook_worker`, from the stored delivery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from tracker.errors import TrackerError
from tracker.github.errors import PayloadError, SignatureError, WebhookError
from tracker.github.events import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, header, parse_event
from tracker.github.ingest import INGESTED_EVENTS
from tracker.github.rules import PhaseRules
from tracker.github.signature import verify_signature
from tracker.github.workflows import parse_workflow_job, parse_workflow_run
from tracker.settings import PREFIX, Settings
from tracker.storage.webhooks import DeliveryStatus

from . import db
from .errors import error_response
from .github_client import GitHubClients
from .openapi import describe, error, json_body
from .pr_comments import PRCommenter
from .stage_input import find_bad_text
from .webhook_worker import WebhookWorker

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)
_KEY = "session_buddy_ci.webhooks"


class WebhookConfigError(TrackerError):
    """Webhooks are on but cannot be verified: the receiver refuses to start."""


@dataclass
class WebhookRuntime:
    enabled: bool
    secrets: tuple[str, ...]
    worker: WebhookWorker
    background: bool


def webhooks_enabled(settings: Settings) -> bool:
    """``true``; or ``auto`` with a secret (or the insecure development flag)."""
    if settings.webhooks_enabled == "true":
        return True
    if settings.webhooks_enabled == "auto":
        return bool(settings.webhook_secrets) or settings.webhook_insecure_dev
    return False


def check_settings(settings: Settings) -> None:
    """:raises WebhookConfigError: webhooks on, no secret, no insecure flag."""
    if webhooks_enabled(settings) and not settings.webhook_secrets and not settings.webhook_insecure_dev:
        raise WebhookConfigError(
            f"webhooks are enabled ({PREFIX}WEBHOOKS_ENABLED=true) but no secret is set: set "
            f"{PREFIX}WEBHOOK_SECRETS (the secret of the GitHub webhook), or for local development "
            f"only {PREFIX}WEBHOOK_INSECURE_DEV=true"
        )


def init_app(app: Flask) -> None:
    """Check the settings (raising :class:`WebhookConfigError`), build the
    worker. ``app.config`` may carry ``GITHUB_CLIENTS`` (a
    :class:`GitHubClients`), ``GITHUB_COMMENTER`` (a :class:`PRCommenter`)
    and ``WEBHOOK_WORKER`` (run the background thread; default: not when
    testing)."""
    settings: Settings = app.config["SETTINGS"]
    check_settings(settings)
    enabled = webhooks_enabled(settings)
    if enabled and not settings.webhook_secrets:
        log.warning("webhook signatures are NOT verified (%sWEBHOOK_INSECURE_DEV): development only", PREFIX)
    commenter = app.config.get("GITHUB_COMMENTER")
    if commenter is None:
        clients = app.config.get("GITHUB_CLIENTS") or GitHubClients(settings)
        clients.check()  # a broken App key or API URL stops the start, in a line
        commenter = PRCommenter(clients)
    worker = WebhookWorker(db.services(app).storage, PhaseRules.from_settings(settings), commenter=commenter)
    background = bool(app.config.get("WEBHOOK_WORKER", not app.testing)) and enabled
    app.extensions[_KEY] = WebhookRuntime(enabled, settings.webhook_secrets, worker, background)
    if enabled and worker.commenter is None:
        log.info("no GitHub credentials: webhooks are ingested, PR comments are off")

    @app.before_request
    def _start_worker() -> None:
        start_background(app)


def start_background(app: Flask) -> None:
    """Start the webhook worker of this process if it is to run and is not
    running yet. Called from each request, not at import: with gunicorn
    ``--preload`` the app is built in the master, and threads do not
    survive the fork."""
    found = runtime(app)
    if found.background:
        found.worker.ensure_started()


def runtime(app: Flask | None = None) -> WebhookRuntime:
    """The webhook runtime of ``app`` (default: the current one)."""
    found = (app or current_app).extensions[_KEY]
    assert isinstance(found, WebhookRuntime)
    return found


def webhook_worker(app: Flask) -> WebhookWorker:
    """The worker of ``app`` (tests call its ``process_pending``)."""
    return runtime(app).worker


def _refuse(status: int, code: str, message: str, delivery: str | None) -> Response:
    log.warning("webhook delivery %.100s refused (%s): %s", delivery or "-", status, message)
    return error_response(status, code, message)


def _validate(event: str, payload: dict[str, object]) -> None:
    # A "\ud800" escape parses, but no database stores it: refused here, not
    # acknowledged and then failing in the worker for ever.
    bad = find_bad_text(payload, "payload")
    if bad:
        raise PayloadError(f"{bad} is text that is not valid Unicode (a lone surrogate)")
    if event == "workflow_run":
        parse_workflow_run(payload)
    elif event == "workflow_job":
        parse_workflow_job(payload)


@bp.post("/webhooks/github")
def github_webhook() -> Response | tuple[Response, int]:
    """Verify, store and acknowledge one delivery."""
    rt = runtime()
    headers = dict(request.headers)
    delivery = header(headers, DELIVERY_HEADER)
    if not rt.enabled:
        return error_response(
            404, "webhooks_disabled", f"webhooks are off on this receiver: set {PREFIX}WEBHOOK_SECRETS"
        )
    limit = db.settings().webhook_max_bytes
    if request.content_length is not None and request.content_length > limit:
        return _refuse(413, "payload_too_large", f"the body is larger than {limit} bytes", delivery)
    # A chunked body has no length: read at most one byte past the limit
    # (werkzeug stops at the cap without complaint) and refuse what reached it.
    request.max_content_length = limit + 1
    body = request.get_data(cache=False)
    if len(body) > limit:
        return _refuse(413, "payload_too_large", f"the body is larger than {limit} bytes", delivery)
    if rt.secrets:
        try:
            verify_signature(body, signature=header(headers, SIGNATURE_HEADER), secrets=rt.secrets)
        except SignatureError as exc:
            return _refuse(401, exc.code, str(exc), delivery)
    try:
        event = parse_event(headers, body)
        if event.name in INGESTED_EVENTS:
            _validate(event.name, event.payload)
    except WebhookError as exc:
        return _refuse(exc.status, exc.code, str(exc), delivery)
    if event.name in INGESTED_EVENTS:
        status = DeliveryStatus.PENDING
    elif event.name == "ping":
        status = DeliveryStatus.PROCESSED
    else:
        status = DeliveryStatus.IGNORED
    receipt = db.get_storage().store_delivery(
        delivery_id=event.delivery_id,
        event=event.name,
        action=event.action,
        hook_id=event.hook_id,
        body=body,
        content_type=(header(headers, "Content-Type") or "")[:100] or None,
        status=status,
    )
    answer = {"delivery_id": event.delivery_id, "event": event.name, "action": event.action}
    if not receipt.new:
        if receipt.requeued:
            if rt.background:
                rt.worker.notify()
            log.info("webhook delivery %s (%s) failed before: queued again", event.delivery_id, event.name)
            return jsonify({**answer, "status": "requeued"}), 202
        log.info("webhook delivery %s (%s) is a redelivery: nothing to do", event.delivery_id, event.name)
        return jsonify({**answer, "status": "duplicate", "delivery_status": receipt.status.value}), 200
    log.info("webhook delivery %s: %s %s stored (%s)", event.delivery_id, event.name, event.action, status)
    if status is DeliveryStatus.PENDING:
        if rt.background:
            rt.worker.notify()
        return jsonify({**answer, "status": "queued"}), 202
    if status is DeliveryStatus.PROCESSED:
        return jsonify({**answer, "status": "pong", "hook_id": event.hook_id}), 200
    return jsonify({**answer, "status": "ignored"}), 202


_HEADER_PARAMS = [
    {
        "name": EVENT_HEADER,
        "in": "header",
        "required": True,
        "description": "The event: `workflow_run` and `workflow_job` are ingested, `ping` answered, "
        "others stored as ignored.",
        "schema": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,99}$"},
    },
    {
        "name": DELIVERY_HEADER,
        "in": "header",
        "required": True,
        "description": "The delivery's GUID: a redelivery (same id) is answered and changes nothing.",
        "schema": {"type": "string", "pattern": "^[!-~]{1,100}$"},
    },
    {
        "name": SIGNATURE_HEADER,
        "in": "header",
        "required": True,
        "description": "`sha256=` and the hex HMAC-SHA256 of the raw body under a configured secret.",
        "schema": {"type": "string", "pattern": "^sha256=[0-9a-fA-F]{64}$"},
    },
]
_ACK = {
    "type": "object",
    "required": ["delivery_id", "event", "status"],
    "properties": {
        "delivery_id": {"type": "string"},
        "event": {"type": "string"},
        "action": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": ["queued", "pong", "ignored", "duplicate", "requeued"]},
        "delivery_status": {"type": "string"},
        "hook_id": {"type": ["string", "null"]},
    },
}

describe(
    {
        "/webhooks/github": {
            "post": {
                "summary": "Receive a GitHub webhook delivery (HMAC-signed)",
                "operationId": "githubWebhook",
                "parameters": _HEADER_PARAMS,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["payload"],
                                "properties": {"payload": {"type": "string"}},
                            }
                        },
                    },
                },
                "responses": {
                    "200": json_body({"$ref": "#/components/schemas/WebhookAck"}, "`ping`, or a redelivery"),
                    "202": json_body(
                        {"$ref": "#/components/schemas/WebhookAck"},
                        "Stored: queued for processing, or an event that is not ingested",
                    ),
                    "400": error("A missing header, or a body that is not a JSON object"),
                    "401": error("Missing or wrong X-Hub-Signature-256"),
                    "404": error("Webhooks are off on this receiver"),
                    "413": error("Body larger than SESSION_BUDDY_CI_WEBHOOK_MAX_BYTES"),
                    "415": error("Content-Type is neither JSON nor form-encoded"),
                    "422": error(
                        "A workflow_run or workflow_job payload without a field we need, "
                        "or with text that is not valid Unicode"
                    ),
                    "503": error("Database unavailable; redeliver later"),
                },
            }
        }
    },
    schemas={"WebhookAck": _ACK},
)
