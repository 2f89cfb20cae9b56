"""User accounts: argon2 password hashes, a role and a scope (a district or the city)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.models import ROLES, Area, Unit, User

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8


class UserError(ValueError):
    """A user that cannot be created as asked; the message says why."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def add_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    scope_code: str,
    *,
    display_name: str = "",
    unit_code: str | None = None,
    sip_endpoint: str | None = None,
) -> User:
    """Create a user, or raise :class:`UserError` naming the field that is wrong."""
    if not username or not username.replace("_", "").replace(".", "").isalnum():
        raise UserError("username: letters, digits, '.' and '_' only")
    if role not in ROLES:
        raise UserError(f"role: one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    scope = session.get(Area, scope_code)
    if scope is None or scope.level not in ("city", "district"):
        raise UserError("scope: the code of the city or of a district")
    if role == "unit":
        unit = session.get(Unit, unit_code) if unit_code else None
        if unit is None:
            raise UserError("unit: a unit account needs a known unit code")
        if (unit.district_code or scope.code) != scope.code and scope.level != "city":
            raise UserError("scope: a unit account is scoped to its unit's district")
    elif unit_code:
        raise UserError("unit: only unit accounts belong to a unit")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise UserError(f"username: {username} exists")
    user = User(
        username=username,
        password_hash=hash_password(password),
        display_name=display_name or username,
        role=role,
        scope_code=scope_code,
        unit_code=unit_code,
        sip_endpoint=sip_endpoint,
    )
    session.add(user)
    session.flush()
    return user
