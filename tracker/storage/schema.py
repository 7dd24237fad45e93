"""Table definitions (SQLAlchemy Core).

The Alembic migrations in ``tracker/migrations`` create these tables; a test
checks that a migrated database and this metadata agree, so a change here
without a migration fails the suite.

Timestamps are naive UTC ``DateTime`` columns: they read well in ad-hoc SQL
(``invoked_at >= '2026-11-01'``) and compare correctly as text in SQLite.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

#: One row per skill run, whatever recorded it.
skill_invocation = Table(
    "skill_invocation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Columns that the brief's users already query.
    Column("skill_name", String(200), nullable=False),
    Column("invoked_at", DateTime, nullable=False),
    Column("session_id", String(300), nullable=False),
    Column("workflow_path", String(300)),
    Column("completed", Boolean, nullable=False),
    Column("duration_seconds", Float, nullable=False),
    Column("user_query", Text),
    Column("alternatives_considered", JSON(none_as_null=True)),
    Column("selection_rank", Integer),
    Column("follow_up_actions", JSON(none_as_null=True)),
    Column("error_type", String(200)),
    Column("workflow_phase", String(20), nullable=False),
    Column("workflow_step_id", String(300)),
    # What the product adds beside them.
    Column("source", String(20), nullable=False),
    Column("stage", String(200)),
    Column("outcome", String(20), nullable=False),
    Column("error_message", Text),
    # What a failure is counted under: error_type, else the message's first line.
    Column("error_key", String(200)),
    Column("exit_code", Integer),
    Column("duration_bucket", Integer, nullable=False),
    Column("queue_seconds", Float),
    Column("artifacts", JSON(none_as_null=True)),
    Column("pipeline_name", String(255)),
    Column("build_number", String(64)),
    Column("git_commit", String(40)),
    Column("git_branch", String(255)),
    Column("environment", String(255)),
    Column("triggered_by", String(255)),
    Column("repository", String(255)),
    Column("run_id", String(64)),
    Column("run_attempt", Integer),
    Column("job", String(255)),
    # Stable identity of a result that can arrive more than once (a webhook
    # step, a backfilled job): "gh:job:<id>:step:<n>".
    Column("external_id", String(300), unique=True),
    Column("recorded_at", DateTime, nullable=False),
)
# Covering index of the analytics window queries: the edge-day scans read
# only the index, never the table.
Index(
    "ix_invocation_pipeline_time",
    skill_invocation.c.pipeline_name,
    skill_invocation.c.invoked_at,
    skill_invocation.c.stage,
    skill_invocation.c.duration_seconds,
    skill_invocation.c.outcome,
    skill_invocation.c.duration_bucket,
)
Index(
    "ix_invocation_pipeline_stage_time",
    skill_invocation.c.pipeline_name,
    skill_invocation.c.stage,
    skill_invocation.c.invoked_at,
)
Index(
    "ix_invocation_skill_time",
    skill_invocation.c.skill_name,
    skill_invocation.c.invoked_at,
)
Index("ix_invocation_session", skill_invocation.c.session_id)
Index(
    "ix_invocation_build",
    skill_invocation.c.pipeline_name,
    skill_invocation.c.build_number,
)
Index(
    "ix_invocation_phase_time",
    skill_invocation.c.workflow_phase,
    skill_invocation.c.invoked_at,
)

#: Running aggregates per skill; ``workflow_phase = 'all'`` is the skill's total.
skill_metrics = Table(
    "skill_metrics",
    metadata,
    Column("skill_name", String(200), primary_key=True),
    Column("workflow_phase", String(20), primary_key=True),
    Column("total_invocations", Integer, nullable=False, default=0),
    Column("completed_invocations", Integer, nullable=False, default=0),
    Column("abandoned_invocations", Integer, nullable=False, default=0),
    Column("total_duration_seconds", Float, nullable=False, default=0.0),
    Column("first_invoked_at", DateTime, nullable=False),
    Column("last_invoked_at", DateTime, nullable=False),
)

#: Counters behind ``skill_metrics``' per-path counts and common errors.
skill_metric_counts = Table(
    "skill_metric_counts",
    metadata,
    Column("skill_name", String(200), primary_key=True),
    Column("kind", String(20), primary_key=True),  # 'workflow_path' | 'error_type'
    Column("key", String(300), primary_key=True),
    Column("count", Integer, nullable=False),
)

#: Per skill and day.
skill_time_series = Table(
    "skill_time_series",
    metadata,
    Column("skill_name", String(200), primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("invocation_count", Integer, nullable=False),
    Column("completed_count", Integer, nullable=False),
    Column("total_duration_seconds", Float, nullable=False),
    Column("unique_sessions", Integer, nullable=False),
)

#: Which sessions used a skill on a day (feeds ``unique_sessions``).
skill_session_day = Table(
    "skill_session_day",
    metadata,
    Column("skill_name", String(200), primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("session_id", String(300), primary_key=True),
)

skill_community_baselines = Table(
    "skill_community_baselines",
    metadata,
    Column("skill_name", String(200), primary_key=True),
    Column("total_users", Integer, nullable=False),
    Column("total_invocations", Integer, nullable=False),
    Column("global_completion_rate", Float, nullable=False),
    Column("global_mean_duration", Float, nullable=False),
    Column("most_common_workflow_phase", String(20)),
    Column("effectiveness_percentile", Float, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

#: Per pipeline, stage and day: the rollup the analytics read for whole days.
stage_daily = Table(
    "stage_daily",
    metadata,
    Column("pipeline_name", String(255), primary_key=True),
    Column("stage", String(200), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("runs", Integer, nullable=False),
    Column("successes", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("cancelled", Integer, nullable=False),
    Column("total_duration_seconds", Float, nullable=False),
    Column("queued_runs", Integer, nullable=False),
    Column("total_queue_seconds", Float, nullable=False),
)

#: Per pipeline, stage, day and duration bucket: counts for percentiles.
stage_daily_histogram = Table(
    "stage_daily_histogram",
    metadata,
    Column("pipeline_name", String(255), primary_key=True),
    Column("stage", String(200), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("bucket", Integer, primary_key=True),
    Column("count", Integer, nullable=False),
)

#: Per pipeline, stage, day and failure label (error type or first line).
stage_failure_daily = Table(
    "stage_failure_daily",
    metadata,
    Column("pipeline_name", String(255), primary_key=True),
    Column("stage", String(200), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("error_key", String(200), primary_key=True),
    Column("count", Integer, nullable=False),
)

#: Which skills a stage has used, and when last: "skills used" in a window
#: is ``last_seen >= start`` (no scan of the invocations).
stage_skill = Table(
    "stage_skill",
    metadata,
    Column("pipeline_name", String(255), primary_key=True),
    Column("stage", String(200), primary_key=True),
    Column("skill_name", String(200), primary_key=True),
    Column("runs", Integer, nullable=False),
    Column("first_seen", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
)

#: The skill catalogue; embeddings are float32 bytes (the vec0 table, where
#: sqlite-vec loads, is an index rebuilt from these).
skill_catalogue = Table(
    "skill_catalogue",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("workflow_phase", String(20)),
    Column("languages", JSON(none_as_null=True)),
    Column("builtin", Boolean, nullable=False, default=False),
    Column("embedding", LargeBinary),
    Column("embedder", String(100)),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

#: Every webhook delivery, stored before it is answered.
webhook_delivery = Table(
    "webhook_delivery",
    metadata,
    Column("delivery_id", String(100), primary_key=True),
    Column("event", String(100), nullable=False),
    Column("action", String(100)),
    Column("hook_id", String(100)),
    Column("received_at", DateTime, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("status", String(20), nullable=False),  # pending|processed|failed|ignored
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("processed_at", DateTime),
)
Index(
    "ix_webhook_delivery_status",
    webhook_delivery.c.status,
    webhook_delivery.c.received_at,
)

#: Idempotency keys of the stage-result API, with the first answer.
stage_result_request = Table(
    "stage_result_request",
    metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("invocation_id", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
)
