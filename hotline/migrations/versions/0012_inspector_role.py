"""inspector role: field inspectors (城管监督员) who file cases from the street

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 19:45:00
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BEFORE = ("agent", "supervisor", "unit", "admin")
AFTER = (*BEFORE, "inspector")


def _role_check(roles: tuple[str, ...]) -> str:
    return "role IN (" + ", ".join(f"'{r}'" for r in roles) + ")"


def upgrade() -> None:
    # SQLite rebuilds the table (batch mode); env.py turns its foreign keys off meanwhile.
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint(op.f("ck_users_role"), type_="check")
        batch_op.create_check_constraint("role", _role_check(AFTER))


def downgrade() -> None:
    inspectors = (
        op.get_bind()
        .exec_driver_sql("SELECT count(*) FROM users WHERE role = 'inspector'")
        .scalar()
    )
    if inspectors:
        raise RuntimeError(
            f"{inspectors} inspector account(s) exist: change their role or delete them first"
        )
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint(op.f("ck_users_role"), type_="check")
        batch_op.create_check_constraint("role", _role_check(BEFORE))
