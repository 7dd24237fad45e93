"""The dashboard: HTML pages over the same analytics as the API."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template, request

from tracker.report import percent, seconds

from . import db
from .charts import daily_runs_chart, horizontal_bars
from .pipelines import bad_name, days_arg

bp = Blueprint("dashboard", __name__)

DAY_CHOICES = (1, 7, 30, 90)


@bp.app_template_filter("seconds")
def _seconds(value: float | None) -> str:
    return seconds(value)


@bp.app_template_filter("percent")
def _percent(value: float) -> str:
    return percent(value)


@bp.get("/")
def index() -> str:
    """Every pipeline with data."""
    pipelines = db.get_storage().pipelines()
    return render_template("index.html", pipelines=pipelines)


@bp.get("/pipelines/<path:name>")
def pipeline(name: str) -> str | tuple[str, int]:
    """One pipeline: stage table, charts, bottlenecks, recommendations."""
    days = days_arg(7)
    if not isinstance(days, int):
        return render_template("error.html", message="days must be a whole number from 1 to 3650"), 400
    if bad_name(name) is not None:
        return render_template("error.html", message="a pipeline name has no control characters"), 400
    services = db.services()
    analytics = services.cicd.get_pipeline_analytics(name, days)
    last = analytics.window_end.date()
    first = last - timedelta(days=days - 1)
    daily = services.storage.daily_totals(analytics.pipeline_name, first, last)  # the stored name
    stages = list(analytics.stages)
    success_chart = horizontal_bars(
        [(s.stage_name, s.success_rate * 100, percent(s.success_rate)) for s in stages if s.total_runs],
        css="ok",
        scale_max=100.0,
    )
    duration_chart = horizontal_bars(
        [(s.stage_name, s.p95_duration or 0.0, seconds(s.p95_duration)) for s in stages if s.total_runs],
        css="slow",
    )
    return render_template(
        "pipeline.html",
        name=name,
        a=analytics,
        days=days,
        day_choices=DAY_CHOICES,
        runs_chart=daily_runs_chart(daily, first, last),
        success_chart=success_chart,
        duration_chart=duration_chart,
        query=request.args,
    )
