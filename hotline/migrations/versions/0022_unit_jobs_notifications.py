"""indexes for the pages that read a few rows of many: a unit's open jobs by deadline (the
unit portal's first page and its count read only the unit's open jobs, not every job it
ever had), and the newest notifications of a platform or a unit (the inbox's page)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 11:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

UNIT_JOB = "state IN ('dispatched', 'in_progress', 'rework')"  # models.UNIT_JOB


def upgrade() -> None:
    job = sa.text(UNIT_JOB)
    op.create_index(
        "ix_cases_unit_jobs",
        "cases",
        ["unit_code", "due_at", "id"],
        sqlite_where=job,
        postgresql_where=job,
    )
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.drop_index("ix_notifications_scope_code")
        batch_op.drop_index("ix_notifications_unit_code")
        batch_op.create_index("ix_notifications_scope_id", ["scope_code", "id"])
        batch_op.create_index("ix_notifications_unit_id", ["unit_code", "id"])


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.drop_index("ix_notifications_unit_id")
        batch_op.drop_index("ix_notifications_scope_id")
        batch_op.create_index("ix_notifications_unit_code", ["unit_code"])
        batch_op.create_index("ix_notifications_scope_code", ["scope_code"])
    op.drop_index("ix_cases_unit_jobs", table_name="cases")
