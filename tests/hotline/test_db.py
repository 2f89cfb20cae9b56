"""Pooled PostgreSQL connections: tested only after a rest, and replaced when dead."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from hotline import db
from hotline.db import make_engine


def test_a_dead_connection_is_replaced_after_a_rest(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(pg_url, pool_size=1, max_overflow=0)
    with engine.connect() as connection:
        first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    # The server drops the pooled connection (a restart, an idle timeout, a failover).
    admin = make_engine(pg_url)
    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        connection.commit()
    admin.dispose()
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)  # the connection has rested "long enough"
    with engine.connect() as connection:
        second = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    engine.dispose()
    assert second != first


def test_a_busy_connection_skips_the_ping(pg_url: str) -> None:
    engine = make_engine(pg_url, pool_size=1, max_overflow=0)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    with engine.connect() as connection:  # back from the pool at once: no ping
        raw = connection.connection.dbapi_connection
        assert raw is not None
        before = raw.pgconn.transaction_status
        connection.execute(text("SELECT 2"))
    engine.dispose()
    assert before == 0  # IDLE: nothing was sent on checkout (a ping opens a transaction)
