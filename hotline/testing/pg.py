"""PostgreSQL for tests: is it reachable, and throw-away databases cloned from a template."""

from __future__ import annotations

import sys
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def reachable(url: str = DEFAULT_URL) -> bool:
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def create_database(admin_url: str, template: str | None = None, prefix: str = "hotline_t") -> URL:
    """Create a new database (optionally a copy of ``template``); return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        clause = f' TEMPLATE "{template}"' if template else ""
        connection.execute(text(f'CREATE DATABASE "{name}"{clause}'))
    engine.dispose()
    return make_url(admin_url).set(database=name)


def drop_database(admin_url: str, name: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


if __name__ == "__main__":
    sys.exit(0 if reachable(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL) else 1)
