"""indicator snapshots: a period's evaluation figures computed once and kept (a past
period's for good, a running period's for a few minutes), so that the evaluation, the
monthly report and their trends do not fold a million cases on every page load; an index
of the open cases for the city's overview

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 08:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "indicator_snapshots",
        sa.Column("key", sa.String(160), primary_key=True),
        sa.Column("cut", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
    )
    open_case = sa.text("state NOT IN ('closed', 'invalid', 'duplicate')")
    op.create_index(
        "ix_cases_open",
        "cases",
        ["district_code", "state"],
        sqlite_where=open_case,
        postgresql_where=open_case,
    )


def downgrade() -> None:
    op.drop_index("ix_cases_open", table_name="cases")
    op.drop_table("indicator_snapshots")
