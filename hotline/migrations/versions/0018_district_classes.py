"""a district's own component and event types beside the city's catalogue

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("catalogue_classes") as batch_op:
        batch_op.add_column(sa.Column("district_code", sa.String(length=6), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalogue_classes") as batch_op:
        batch_op.drop_column("district_code")
