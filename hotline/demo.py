"""Demo accounts for the embedded demo; never for a real deployment."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from hotline.db import transaction
from hotline.models import User
from hotline.refdata.files import DataError, DataErrors, read_csv
from hotline.settings import PROJECT_ROOT
from hotline.users import UserError, add_user

DEMO_USERS = PROJECT_ROOT / "data" / "demo" / "users.csv"
COLUMNS = ("username", "password", "display_name", "role", "scope", "unit", "sip_endpoint")


def load_demo_users(engine: Engine, path: Path = DEMO_USERS) -> list[dict[str, str]]:
    """Create the demo users that do not exist yet; return every demo login."""
    errors: list[DataError] = []
    rows = read_csv(path, COLUMNS, errors)
    if errors:
        raise DataErrors(errors)
    with transaction(engine) as session:
        for row in rows:
            values = row.values
            if session.scalar(select(User).where(User.username == values["username"])):
                continue
            try:
                add_user(
                    session,
                    values["username"],
                    values["password"],
                    values["role"],
                    values["scope"],
                    display_name=values["display_name"],
                    unit_code=values["unit"] or None,
                    sip_endpoint=values["sip_endpoint"] or None,
                )
            except UserError as exc:
                field, _, message = str(exc).partition(": ")
                raise DataErrors([DataError(row.file, row.line, field, message)]) from exc
    return [r.values for r in rows]
