"""Alembic environment: online migrations only; batch mode so SQLite can alter tables."""

from __future__ import annotations

from alembic import context

from hotline.db import make_engine
from hotline.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
if url is None:
    raise RuntimeError("sqlalchemy.url is not set")

connectable = config.attributes.get("connection")
if connectable is None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
else:
    context.configure(connection=connectable, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
