"""an index on cases.duplicate_of: a case's page lists its duplicates (重复上报), which was a
scan of every case (0.6 s at a million cases)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 06:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_duplicate_of", "cases", ["duplicate_of"])


def downgrade() -> None:
    op.drop_index("ix_cases_duplicate_of", table_name="cases")
