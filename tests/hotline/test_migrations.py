"""The same migrations on SQLite and PostgreSQL: up, matching the models, down, up again."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from hotline import migrate
from hotline.db import make_engine
from hotline.models import Base


# The case list's text-search index is PostgreSQL's only (hotline.models.postgresql_only), on
# an expression SQLite could not hold: there Alembic skips comparing it, and says so.
@pytest.mark.filterwarnings(
    "ignore:autogenerate skipping metadata-specified expression-based index 'ix_cases_search'; "
    "dialect 'sqlite'"
)
def test_upgrade_matches_models_and_downgrade_empties(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
            assert diff == [], diff
            assert context.get_current_revision() is not None
        assert set(inspect(engine).get_table_names()) >= {
            "areas",
            "grid_cells",
            "catalogue_classes",
            "units",
            "assignment_rules",
            "deadline_rules",
            "calendar_days",
            "working_hours",
            "gazetteer",
            "users",
            "calls",
            "call_events",
            "cases",
            "case_history",
        }
        migrate.downgrade(empty_db_url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(empty_db_url)
        assert "cases" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_role_change_keeps_users_and_what_points_at_them(empty_db_url: str) -> None:
    """0012 rebuilds `users` on SQLite while sessions point at its rows: nothing is lost,
    the keys still hold, and the downgrade refuses while inspectors exist."""
    migrate.upgrade(empty_db_url, "0011")
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO areas (code, level, parent_code, name_zh, name_en, aliases, active) "
                "VALUES ('110000', 'city', NULL, '北京市', 'Beijing', '', true)"
            )
            connection.exec_driver_sql(
                "INSERT INTO users (id, username, password_hash, display_name, role, scope_code,"
                " active, created_at) VALUES (7, 'old_agent', 'x', '', 'agent', '110000', true,"
                " '2026-11-28 00:00:00')"
            )
            connection.exec_driver_sql(
                "INSERT INTO web_sessions (token_hash, user_id, csrf_token, created_at,"
                " expires_at) VALUES ('t', 7, 'c', '2026-11-28 00:00:00',"
                " '2026-11-29 00:00:00')"
            )
        migrate.upgrade(empty_db_url)
        with engine.begin() as connection:
            assert connection.exec_driver_sql("SELECT username FROM users").scalar() == "old_agent"
            assert connection.exec_driver_sql("SELECT user_id FROM web_sessions").scalar() == 7
            connection.exec_driver_sql(
                "INSERT INTO users (username, password_hash, display_name, role, scope_code,"
                " active, created_at) VALUES ('insp', 'x', '', 'inspector', '110000', true,"
                " '2026-11-28 00:00:00')"
            )
        with pytest.raises(RuntimeError, match="inspector"):
            migrate.downgrade(empty_db_url, "0011")
        with engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM users WHERE role = 'inspector'")
        migrate.downgrade(empty_db_url, "0011")
        with engine.begin() as connection, pytest.raises(IntegrityError):
            connection.exec_driver_sql(
                "INSERT INTO users (username, password_hash, display_name, role, scope_code,"
                " active, created_at) VALUES ('insp', 'x', '', 'inspector', '110000', true,"
                " '2026-11-28 00:00:00')"
            )
    finally:
        engine.dispose()
