"""Skills intelligence: catalogue state, user queries, IDE shortcuts and feedback (issue 6).

The vec0 index of the catalogue is not here: it needs the sqlite-vec
extension, which not every driver can load, so storage creates it at run
time from the embeddings in ``skill_catalogue`` (see
``tracker/storage/catalogue.py``).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "skills_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("catalogue_version", sa.Integer(), nullable=False),
        sa.Column("vector_embedder", sa.String(length=100), nullable=True),
        sa.Column("vector_version", sa.Integer(), nullable=True),
        sa.Column("baselines_refreshed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "skill_query",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("query_hash", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedder", sa.String(length=100), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("query_hash"),
    )
    op.create_table(
        "ide_shortcut",
        sa.Column("skill_name", sa.String(length=200), nullable=False),
        sa.Column("shortcut", sa.String(length=60), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("skill_name"),
        sa.UniqueConstraint("shortcut"),
    )
    op.create_table(
        "ide_feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("skill_name", sa.String(length=200), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=50), nullable=True),
        sa.Column("project_name", sa.String(length=255), nullable=True),
        sa.Column("file_path", sa.Text(), nullable=True),
        sa.Column("workflow_phase", sa.String(length=20), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ide_feedback", schema=None) as batch_op:
        batch_op.create_index("ix_ide_feedback_skill", ["skill_name", "created_at"], unique=False)
    op.create_table(
        "ide_feedback_stats",
        sa.Column("skill_name", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=50), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("skill_name", "language"),
    )
    with op.batch_alter_table("skill_invocation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_invocation_source_path_stage", ["source", "workflow_path", "stage"], unique=False
        )
        batch_op.create_index(
            "ix_invocation_path_skill_time", ["workflow_path", "skill_name", "invoked_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("skill_invocation", schema=None) as batch_op:
        batch_op.drop_index("ix_invocation_path_skill_time")
        batch_op.drop_index("ix_invocation_source_path_stage")
    op.drop_table("ide_feedback_stats")
    with op.batch_alter_table("ide_feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_ide_feedback_skill")
    op.drop_table("ide_feedback")
    op.drop_table("ide_shortcut")
    op.drop_table("skill_query")
    op.drop_table("skills_state")
