"""Webhook ingestion state (issue 5): run and job state, PR links, the PR
comment work queue, and the lease columns of ``webhook_delivery``.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "github_comment_job",
        sa.Column("job_key", sa.String(length=400), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("pr_number", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("run_attempt", sa.Integer(), nullable=True),
        sa.Column("installation_id", sa.BigInteger(), nullable=True),
        sa.Column("requested", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivery_id", sa.String(length=100), nullable=True),
        sa.Column("comment_id", sa.BigInteger(), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job_key"),
    )
    with op.batch_alter_table("github_comment_job", schema=None) as batch_op:
        batch_op.create_index("ix_github_comment_job_status", ["status", "updated_at"], unique=False)

    op.create_table(
        "github_job",
        sa.Column("job_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("run_attempt", sa.Integer(), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_rank", sa.Integer(), nullable=False),
        sa.Column("conclusion", sa.String(length=30), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("state_at", sa.DateTime(), nullable=False),
        sa.Column("queue_seconds", sa.Float(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("installation_id", sa.BigInteger(), nullable=True),
        sa.Column("materialised_at", sa.DateTime(), nullable=True),
        sa.Column("covered_by_action", sa.Boolean(), nullable=True),
        sa.Column("pipeline_name", sa.String(length=255), nullable=True),
        sa.Column("build_number", sa.String(length=64), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
    )
    with op.batch_alter_table("github_job", schema=None) as batch_op:
        batch_op.create_index("ix_github_job_build", ["pipeline_name", "build_number"], unique=False)
        batch_op.create_index("ix_github_job_run", ["run_id", "run_attempt"], unique=False)

    op.create_table(
        "github_pr_run",
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("pr_number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("run_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("run_attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("repository", "pr_number", "run_id", "run_attempt"),
    )
    with op.batch_alter_table("github_pr_run", schema=None) as batch_op:
        batch_op.create_index("ix_github_pr_run_run", ["run_id", "run_attempt"], unique=False)

    op.create_table(
        "github_run",
        sa.Column("run_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("run_attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("pipeline_name", sa.String(length=255), nullable=False),
        sa.Column("workflow_path", sa.String(length=300), nullable=True),
        sa.Column("run_number", sa.Integer(), nullable=False),
        sa.Column("build_number", sa.String(length=64), nullable=False),
        sa.Column("head_sha", sa.String(length=40), nullable=False),
        sa.Column("head_branch", sa.String(length=255), nullable=True),
        sa.Column("head_repository", sa.String(length=255), nullable=True),
        sa.Column("head_owner", sa.String(length=255), nullable=True),
        sa.Column("event", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_rank", sa.Integer(), nullable=False),
        sa.Column("conclusion", sa.String(length=30), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("run_started_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("state_at", sa.DateTime(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("pull_requests", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("html_url", sa.String(length=500), nullable=True),
        sa.Column("installation_id", sa.BigInteger(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "run_attempt"),
    )
    with op.batch_alter_table("github_run", schema=None) as batch_op:
        batch_op.create_index("ix_github_run_build", ["pipeline_name", "build_number"], unique=False)

    op.create_table(
        "worker_lease",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )

    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_type", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_table("worker_lease")
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("content_type")
    for table, indexes in (
        ("github_run", ("ix_github_run_build",)),
        ("github_pr_run", ("ix_github_pr_run_run",)),
        ("github_job", ("ix_github_job_run", "ix_github_job_build")),
        ("github_comment_job", ("ix_github_comment_job_status",)),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for index in indexes:
                batch_op.drop_index(index)
        op.drop_table(table)
