"""what the public sees of a case: the text staff chose to publish, an Open311 media_url

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("public_text", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("media_url", sa.String(length=512), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("media_url")
        batch_op.drop_column("public_text")
