"""Run attempts that completed jobs wait for, read from the GitHub API when
no ``workflow_run`` delivery tells of them.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "github_run_awaited",
        sa.Column("run_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("run_attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("installation_id", sa.BigInteger(), nullable=True),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("next_lookup", sa.DateTime(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "run_attempt"),
    )
    op.create_index("ix_github_run_awaited_next", "github_run_awaited", ["next_lookup"])


def downgrade() -> None:
    op.drop_index("ix_github_run_awaited_next", table_name="github_run_awaited")
    op.drop_table("github_run_awaited")
