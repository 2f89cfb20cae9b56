"""The same migrations on SQLite and PostgreSQL: up, matching the models, down, up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from hotline import migrate
from hotline.db import make_engine
from hotline.models import Base


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
