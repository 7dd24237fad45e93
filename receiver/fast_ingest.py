"""The happy path of ``POST /api/v1/stage-results``, in front of Flask.

Every workflow step wrapped by the Action posts one stage result, so this
one request decides how many results a receiver takes a second. Flask's
request machinery (the request and app contexts, URL matching, signals,
the response object) costs ~90 µs of CPU a request on these machines, as
much as validating the body and nearly half of what storing it costs.
:class:`StageResultFastPath` is WSGI middleware that answers a *well-formed,
authorised* stage result itself, with the same functions the Flask view
calls (:func:`~receiver.stage_results.prepare`,
:func:`~receiver.stage_results.store`,
:func:`~receiver.stage_results.answer`), so the answer and what is stored
are the same byte for byte.

Anything else goes to Flask untouched, with the body it has read put back:
another path or method, a missing or wrong token, another content type, no
``Content-Length`` (a chunked body), a body over the limit, broken JSON, a
bad field. Flask then gives the 400/401/403/413/415 it always gave. An
error while storing (a reused key, a full disk, a database that is down) is
answered by the app's own error handlers, in a request context made for it.

Measured with ``bench/ingest.py`` (2 gevent workers, wrk, 16 keep-alive
connections): see the README's "Ingest throughput".
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response
from werkzeug.http import parse_options_header

from tracker.errors import IdempotencyConflict
from tracker.storage.rawwrite import WriterBusy

from . import db, webhooks
from .auth import check_token
from .stage_results import answer, conflict, prepare, store

PATH = "/api/v1/stage-results"
log = logging.getLogger(__name__)
#: Flask's reason phrases, so a client sees the same status line either way.
_STATUS = {200: "200 OK", 201: "201 CREATED"}

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class StageResultFastPath:
    """WSGI middleware: answers a well-formed, authorised stage result
    without Flask's request machinery; hands everything else to ``wsgi_app``.

    >>> app.wsgi_app = StageResultFastPath(app, app.wsgi_app)  # doctest: +SKIP
    """

    def __init__(self, app: Flask, wsgi_app: WSGIApp) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        settings = app.config["SETTINGS"]
        self.tokens: tuple[str, ...] = settings.api_tokens
        self.limit: int = settings.max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        raw = self._body(environ)
        if raw is None:
            return self.wsgi_app(environ, start_response)
        # Read once; Flask reads the same bytes again if it is to answer.
        environ["wsgi.input"] = io.BytesIO(raw)
        services = db.services(self.app)
        try:
            prepared = prepare(services, json.loads(raw), environ.get("HTTP_IDEMPOTENCY_KEY"))
        except Exception:  # FieldError, broken JSON, or a surprise: Flask's to answer
            return self.wsgi_app(environ, start_response)
        # A Flask request would have started it (webhooks' before_request).
        webhooks.start_background(self.app)
        try:
            stored = store(services, prepared)
        except Exception as exc:  # answered as the view would
            return self._error(environ, start_response, exc)
        status, content = answer(stored)
        start_response(
            _STATUS[status], [("Content-Type", "application/json"), ("Content-Length", str(len(content)))]
        )
        return [content]

    def _body(self, environ: dict[str, Any]) -> bytes | None:
        """The body of a request this path may answer, else ``None`` with
        nothing read."""
        if check_token(environ.get("HTTP_AUTHORIZATION"), self.tokens) is not None:
            return None
        if not _is_json(environ.get("CONTENT_TYPE", "")) or "HTTP_TRANSFER_ENCODING" in environ:
            return None
        length = environ.get("CONTENT_LENGTH", "")
        # Plain ASCII digits only ("²".isdigit() is true), and short enough
        # for int(); anything else is Flask's to judge.
        if not (length.isascii() and length.isdigit() and len(length) <= 19):
            return None
        size = int(length)
        if not 0 < size <= self.limit:
            return None
        stream = environ["wsgi.input"]
        chunks, got = [], 0
        while got < size:  # a WSGI server's read(n) may return less
            chunk: bytes = stream.read(size - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        raw = b"".join(chunks)
        if got != size:  # cut short: Flask answers what it would have
            environ["wsgi.input"] = io.BytesIO(raw)
            return None
        return raw

    def _error(
        self, environ: dict[str, Any], start_response: Callable[..., Any], exc: Exception
    ) -> Iterable[bytes]:
        """Answer an error raised while storing as the Flask view does."""
        with self.app.request_context(environ):
            response: Response
            if isinstance(exc, IdempotencyConflict):
                response = conflict(exc)
            else:
                try:
                    response = self.app.make_response(self.app.handle_user_exception(exc))
                except Exception as unhandled:  # no handler: Flask's 500
                    response = self.app.make_response(self.app.handle_exception(unhandled))
            return response(environ, start_response)


#: What :func:`warm_up` stores and rolls back: a result as the Action sends it.
SAMPLE = {
    "context": {
        "pipeline_name": "warm-up",
        "build_number": "1",
        "git_commit": "0000000",
        "git_branch": "main",
        "environment": "ci",
        "triggered_by": "push",
    },
    "stage": "test",
    "skill": "warm-up",
    "success": True,
    "duration_seconds": 0.0,
}


def _is_json(content_type: str) -> bool:
    """Whether Flask's ``request.is_json`` holds for ``content_type``
    (parsed the way werkzeug parses it)."""
    mimetype = parse_options_header(content_type)[0].lower()
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def warm_up(app: object) -> bool:
    """Run a stage result through this process's write path once, rolled
    back (see :meth:`~tracker.storage.StageResultStore.warm_up`). Called in
    each gunicorn worker before it serves (``gunicorn_config.py``);
    ``False`` for an app that is not the receiver, or a database that cannot
    be written now (its requests then get their 503 as usual).
    """
    if not isinstance(app, Flask) or not isinstance(app.wsgi_app, StageResultFastPath):
        return False
    services = db.services(app)
    try:
        services.storage.warm_up(prepare(services, SAMPLE, None).record)
    except WriterBusy:  # another worker warming up, say: its first result compiles
        log.info("stage-result write path not warmed up: another writer held the database")
        return False
    except Exception as exc:  # the receiver still starts; requests report the error
        log.warning("could not warm up the stage-result write path: %s", exc)
        return False
    return True


def install(app: Flask) -> None:
    """Put the fast path in front of ``app`` (unless its config says
    ``FAST_INGEST=False``, which tests use to compare both paths)."""
    if app.config.get("FAST_INGEST", True):
        app.wsgi_app = StageResultFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
