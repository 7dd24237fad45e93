"""A partial index of the jobs whose steps are not stored yet, for finding
completed jobs whose workflow run is unknown (looked up through the API).

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
    waiting = sa.text("materialised_at IS NULL")
    op.create_index(
        "ix_github_job_waiting",
        "github_job",
        ["status_rank", "recorded_at"],
        sqlite_where=waiting,
        postgresql_where=waiting,
    )


def downgrade() -> None:
    op.drop_index("ix_github_job_waiting", table_name="github_job")
