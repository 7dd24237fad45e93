"""The receiver: a Flask application served by gunicorn.

>>> app = create_app(Settings(database_url="sqlite:///ci.db"))   # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from tracker.settings import Settings

from . import db, errors, fast_ingest, webhooks
from .crackerjack_api import bp as crackerjack_bp
from .dashboard import bp as dashboard_bp
from .health import bp as health_bp
from .ide import bp as ide_bp
from .openapi import bp as openapi_bp
from .pipelines import bp as pipelines_bp
from .skills_api import bp as skills_bp
from .stage_results import bp as stage_results_bp


def create_app(settings: Settings | None = None, **config: Any) -> Flask:
    """Build the application. ``settings`` default to the environment's;
    ``config`` entries go into ``app.config`` (tests pass ``TESTING=True``)."""
    settings = settings or Settings.from_env()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic announces its context on every start; keep the log for events.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    app = Flask(__name__)
    app.config.from_mapping(
        SETTINGS=settings,
        # Each endpoint sets its own, lower limit on the request.
        MAX_CONTENT_LENGTH=max(settings.max_body_bytes, settings.webhook_max_bytes),
        JSON_SORT_KEYS=False,
    )
    app.config.update(config)
    db.init_app(app)
    errors.init_app(app)
    webhooks.init_app(app)
    for blueprint in (
        health_bp,
        openapi_bp,
        pipelines_bp,
        stage_results_bp,
        dashboard_bp,
        webhooks.bp,
        ide_bp,
        skills_bp,
        crackerjack_bp,
    ):
        app.register_blueprint(blueprint)
    fast_ingest.install(app)
    return app


__all__ = ["create_app"]
