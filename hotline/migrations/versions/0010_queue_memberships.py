"""queue memberships with penalties

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("penalty", sa.Integer(), nullable=False),
        sa.CheckConstraint("penalty BETWEEN 0 AND 10", name=op.f("ck_queue_memberships_penalty")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_queue_memberships_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_memberships")),
        sa.UniqueConstraint("user_id", "queue", name=op.f("uq_queue_memberships_user_id")),
    )
    op.create_index(
        op.f("ix_queue_memberships_user_id"), "queue_memberships", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_queue_memberships_user_id"), table_name="queue_memberships")
    op.drop_table("queue_memberships")
