"""indicator indexes: a period's history events and the jobs due in a period

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 00:00:00

The evaluation figures (``hotline.cases.indicators``) are SQL aggregates over the history
rows of one action in a period and over the cases due in a period; these two indexes let
them read only those rows instead of the whole history.
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_case_history_action_at", "case_history", ["action", "at"])
    op.create_index("ix_cases_due", "cases", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_due", table_name="cases")
    op.drop_index("ix_case_history_action_at", table_name="case_history")
