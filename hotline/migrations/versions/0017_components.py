"""components (部件) as reference data, and the component a case is about

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 00:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "components",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("class_code", sa.String(length=8), nullable=False),
        sa.Column("district_code", sa.String(length=12), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("owner_unit", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_code"], ["areas.code"], name=op.f("fk_components_district_code_areas")
        ),
        sa.ForeignKeyConstraint(
            ["owner_unit"], ["units.code"], name=op.f("fk_components_owner_unit_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_components")),
    )
    op.create_index(op.f("ix_components_grid_code"), "components", ["grid_code"])
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("component_id", sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_component_id"), ["component_id"])


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_component_id"))
        batch_op.drop_column("component_id")
    op.drop_index(op.f("ix_components_grid_code"), table_name="components")
    op.drop_table("components")
