"""an index on calls.queue_joined_at: the calls reports, the wallboard and the city overview
read the calls that joined a queue in a period (today, a day, a month), which was a scan of
every call (0.4 s for a day at 3,000,000 calls)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 08:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_queue_joined_at", "calls", ["queue_joined_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_queue_joined_at", table_name="calls")
