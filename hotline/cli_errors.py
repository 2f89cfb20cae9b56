"""What the ``hotline`` command says when something goes wrong: one line a person can act
on (``error: the database at sqlite:///… is not set up: run `hotline db upgrade```), never
a hundred lines of traceback. ``HOTLINE_DEBUG=1`` prints the traceback as well."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from hotline import migrate


def explain(exc: BaseException, database_url: str | None) -> str:
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'config'}: {error['msg']}"
            for error in exc.errors()
        )
        return f"the configuration is not valid: {problems}"
    if isinstance(exc, SQLAlchemyError) and database_url:
        return _database_problem(exc, database_url)
    text = _first_line(str(exc))
    if isinstance(exc, OSError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _database_problem(exc: SQLAlchemyError, database_url: str) -> str:
    """Asks the database how far it is migrated: most errors of a command on a database
    that was never migrated are a missing table, but the fix is the same for all."""
    try:
        where = make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return f"the database URL cannot be read: {_first_line(str(exc))}"
    try:
        current, head = migrate.revisions(database_url)
    except Exception as unreachable:
        cause = getattr(unreachable, "orig", None) or unreachable
        return f"cannot reach the database at {where}: {_first_line(str(cause))}"
    if current is None:
        return f"the database at {where} is not set up: run `hotline db upgrade`"
    if current != head:
        return f"the database at {where} is not up to date: run `hotline db upgrade`"
    cause = getattr(exc, "orig", None) or exc
    return f"database error ({where}): {_first_line(str(cause))}"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
