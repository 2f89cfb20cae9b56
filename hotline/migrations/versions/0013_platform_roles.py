"""platform roles: dispatchers, tokens with a person's role, urging, one extension at a time,
more case sources

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 17:00:00

* users: the dispatcher role (派遣员), who works cases after registration;
* api_tokens: a platform token carries the role of the people it stands for (agent,
  dispatcher, supervisor); the old "system" tokens acted as agents that could dispatch, so
  they become dispatchers;
* cases: ``urge_count`` (督办), ``pending_extension_hours`` (the request waiting for a
  decision, filled from the history), and the sources walk_in, web and other.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

USER_ROLES_BEFORE = ("agent", "supervisor", "unit", "admin", "inspector")
USER_ROLES_AFTER = ("agent", "dispatcher", "supervisor", "unit", "admin", "inspector")
TOKEN_ROLES_BEFORE = ("unit", "system")
TOKEN_ROLES_AFTER = ("unit", "agent", "dispatcher", "supervisor")
SOURCES_BEFORE = ("phone", "callback_request", "field", "api", "open311")
SOURCES_AFTER = ("phone", "walk_in", "web", "field", "callback_request", "api", "open311", "other")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint(op.f("ck_users_role"), type_="check")
        batch_op.create_check_constraint("role", _one_of("role", USER_ROLES_AFTER))
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_constraint(op.f("ck_api_tokens_role"), type_="check")
    op.execute("UPDATE api_tokens SET role = 'dispatcher' WHERE role = 'system'")
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.create_check_constraint("role", _one_of("role", TOKEN_ROLES_AFTER))
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(
            sa.Column("urge_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("pending_extension_hours", sa.Integer(), nullable=True))
        batch_op.drop_constraint(op.f("ck_cases_source"), type_="check")
        batch_op.create_check_constraint("source", _one_of("source", SOURCES_AFTER))
    _fill_pending_extensions()


def _fill_pending_extensions() -> None:
    """A request is waiting when it is the case's last extension row and the job is open."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT h.case_id, h.action, h.data FROM case_history h "
            "JOIN cases c ON c.id = h.case_id "
            "WHERE c.state IN ('dispatched', 'in_progress', 'rework') AND h.action IN "
            "('request_extension', 'approve_extension', 'refuse_extension') ORDER BY h.id"
        )
    ).all()
    last: dict[int, tuple[str, object]] = {}
    for case_id, action, data in rows:
        last[case_id] = (action, data)
    for case_id, (action, data) in last.items():
        if action != "request_extension":
            continue
        detail = json.loads(data) if isinstance(data, str) else data  # SQLite: JSON as text
        hours = detail.get("hours") if isinstance(detail, dict) else None
        if isinstance(hours, int) and hours > 0:
            bind.execute(
                sa.text("UPDATE cases SET pending_extension_hours = :h WHERE id = :id"),
                {"h": hours, "id": case_id},
            )


def downgrade() -> None:
    bind = op.get_bind()
    for table, column, values, what in (
        ("users", "role", ("dispatcher",), "dispatcher account(s)"),
        ("api_tokens", "role", ("agent", "supervisor"), "agent or supervisor token(s)"),
        ("cases", "source", ("walk_in", "web", "other"), "case(s) from the new sources"),
    ):
        found = bind.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE {_one_of(column, values)}")
        ).scalar()
        if found:
            raise RuntimeError(f"{found} {what} exist: change or remove them first")
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_constraint(op.f("ck_cases_source"), type_="check")
        batch_op.create_check_constraint("source", _one_of("source", SOURCES_BEFORE))
        batch_op.drop_column("pending_extension_hours")
        batch_op.drop_column("urge_count")
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_constraint(op.f("ck_api_tokens_role"), type_="check")
    op.execute("UPDATE api_tokens SET role = 'system' WHERE role = 'dispatcher'")
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.create_check_constraint("role", _one_of("role", TOKEN_ROLES_BEFORE))
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint(op.f("ck_users_role"), type_="check")
        batch_op.create_check_constraint("role", _one_of("role", USER_ROLES_BEFORE))
