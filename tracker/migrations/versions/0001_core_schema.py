"""core schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 16:41:14.274046
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "skill_catalogue",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("workflow_phase", sa.String(length=20), nullable=True),
        sa.Column("languages", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedder", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "skill_community_baselines",
        sa.Column("skill_name", sa.String(length=200), nullable=False),
        sa.Column("total_users", sa.Integer(), nullable=False),
        sa.Column("total_invocations", sa.Integer(), nullable=False),
        sa.Column("global_completion_rate", sa.Float(), nullable=False),
        sa.Column("global_mean_duration", sa.Float(), nullable=False),
        sa.Column("most_common_workflow_phase", sa.String(length=20), nullable=True),
        sa.Column("effectiveness_percentile", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("skill_name"),
    )
    op.create_table(
        "skill_invocation",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("skill_name", sa.String(length=200), nullable=False),
        sa.Column("invoked_at", sa.DateTime(), nullable=False),
        sa.Column("session_id", sa.String(length=300), nullable=False),
        sa.Column("workflow_path", sa.String(length=300), nullable=True),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("user_query", sa.Text(), nullable=True),
        sa.Column("alternatives_considered", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("selection_rank", sa.Integer(), nullable=True),
        sa.Column("follow_up_actions", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("error_type", sa.String(length=200), nullable=True),
        sa.Column("workflow_phase", sa.String(length=20), nullable=False),
        sa.Column("workflow_step_id", sa.String(length=300), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("stage", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_key", sa.String(length=200), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("duration_bucket", sa.Integer(), nullable=False),
        sa.Column("queue_seconds", sa.Float(), nullable=True),
        sa.Column("artifacts", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("pipeline_name", sa.String(length=255), nullable=True),
        sa.Column("build_number", sa.String(length=64), nullable=True),
        sa.Column("git_commit", sa.String(length=40), nullable=True),
        sa.Column("git_branch", sa.String(length=255), nullable=True),
        sa.Column("environment", sa.String(length=255), nullable=True),
        sa.Column("triggered_by", sa.String(length=255), nullable=True),
        sa.Column("repository", sa.String(length=255), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("run_attempt", sa.Integer(), nullable=True),
        sa.Column("job", sa.String(length=255), nullable=True),
        sa.Column("external_id", sa.String(length=300), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_id"),
    )
    with op.batch_alter_table("skill_invocation", schema=None) as batch_op:
        batch_op.create_index("ix_invocation_build", ["pipeline_name", "build_number"], unique=False)
        batch_op.create_index(
            "ix_invocation_pipeline_time",
            [
                "pipeline_name",
                "invoked_at",
                "stage",
                "duration_seconds",
                "outcome",
                "duration_bucket",
            ],
            unique=False,
        )
        batch_op.create_index("ix_invocation_session", ["session_id"], unique=False)
        batch_op.create_index("ix_invocation_skill_time", ["skill_name", "invoked_at"], unique=False)

    op.create_table(
        "skill_metric_counts",
        sa.Column("skill_name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("skill_name", "kind", "key"),
    )
    op.create_table(
        "skill_metrics",
        sa.Column("skill_name", sa.String(length=200), nullable=False),
        sa.Column("workflow_phase", sa.String(length=20), nullable=False),
        sa.Column("total_invocations", sa.Integer(), nullable=False),
        sa.Column("completed_invocations", sa.Integer(), nullable=False),
        sa.Column("abandoned_invocations", sa.Integer(), nullable=False),
        sa.Column("total_duration_seconds", sa.Float(), nullable=False),
        sa.Column("first_invoked_at", sa.DateTime(), nullable=False),
        sa.Column("last_invoked_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("skill_name", "workflow_phase"),
    )
    op.create_table(
        "skill_session_day",
        sa.Column("skill_name", sa.String(length=200), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("session_id", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("skill_name", "period_start", "session_id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "skill_time_series",
        sa.Column("skill_name", sa.String(length=200), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("invocation_count", sa.Integer(), nullable=False),
        sa.Column("completed_count", sa.Integer(), nullable=False),
        sa.Column("total_duration_seconds", sa.Float(), nullable=False),
        sa.Column("unique_sessions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("skill_name", "period_start"),
    )
    op.create_table(
        "stage_daily",
        sa.Column("pipeline_name", sa.String(length=255), nullable=False),
        sa.Column("stage", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("cancelled", sa.Integer(), nullable=False),
        sa.Column("total_duration_seconds", sa.Float(), nullable=False),
        sa.Column("queued_runs", sa.Integer(), nullable=False),
        sa.Column("total_queue_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("pipeline_name", "stage", "day"),
    )
    op.create_table(
        "stage_daily_histogram",
        sa.Column("pipeline_name", sa.String(length=255), nullable=False),
        sa.Column("stage", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("pipeline_name", "day", "stage", "bucket"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "stage_failure_daily",
        sa.Column("pipeline_name", sa.String(length=255), nullable=False),
        sa.Column("stage", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("error_key", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("pipeline_name", "stage", "day", "error_key"),
    )
    op.create_table(
        "stage_result_request",
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("invocation_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    op.create_table(
        "stage_skill",
        sa.Column("pipeline_name", sa.String(length=255), nullable=False),
        sa.Column("stage", sa.String(length=200), nullable=False),
        sa.Column("skill_name", sa.String(length=200), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pipeline_name", "stage", "skill_name"),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("delivery_id", sa.String(length=100), nullable=False),
        sa.Column("event", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=True),
        sa.Column("hook_id", sa.String(length=100), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("processed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("delivery_id"),
    )
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_delivery_status", ["status", "received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_delivery_status")

    op.drop_table("webhook_delivery")
    op.drop_table("stage_skill")
    op.drop_table("stage_result_request")
    op.drop_table("stage_failure_daily")
    op.drop_table("stage_daily_histogram")
    op.drop_table("stage_daily")
    op.drop_table("skill_time_series")
    op.drop_table("skill_session_day")
    op.drop_table("skill_metrics")
    op.drop_table("skill_metric_counts")
    with op.batch_alter_table("skill_invocation", schema=None) as batch_op:
        batch_op.drop_index("ix_invocation_skill_time")
        batch_op.drop_index("ix_invocation_session")
        batch_op.drop_index("ix_invocation_pipeline_time")
        batch_op.drop_index("ix_invocation_build")

    op.drop_table("skill_invocation")
    op.drop_table("skill_community_baselines")
    op.drop_table("skill_catalogue")
