"""The receiver: a Flask application served by gunicorn.

>>> app = create_app(Settings(database_url="sqlite:///ci.db"))   # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from tracker.settings import Settings

from . import db, errors
from .health import bp as health_bp
from .openapi import bp as openapi_bp
from .pipelines import bp as pipelines_bp


def create_app(settings: Settings | None = None, **config: Any) -> Flask:
    """Build the application. ``settings`` default to the environment's;
    ``config`` entries go into ``app.config`` (tests pass ``TESTING=True``)."""
    settings = settings or Settings.from_env()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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
    for blueprint in (health_bp, openapi_bp, pipelines_bp):
        app.register_blueprint(blueprint)
    return app


__all__ = ["create_app"]
