"""joint jobs: units assisting the lead unit

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_assists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("assigned_by", sa.String(length=64), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_assists_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["units.code"], name=op.f("fk_case_assists_unit_code_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_assists")),
        sa.UniqueConstraint("case_id", "unit_code", name=op.f("uq_case_assists_case_id")),
    )
    op.create_index(op.f("ix_case_assists_case_id"), "case_assists", ["case_id"], unique=False)
    op.create_index(op.f("ix_case_assists_unit_code"), "case_assists", ["unit_code"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_case_assists_unit_code"), table_name="case_assists")
    op.drop_index(op.f("ix_case_assists_case_id"), table_name="case_assists")
    op.drop_table("case_assists")
