"""User accounts: argon2 password hashes, a role and a scope (a district or the city)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.models import Area, CallPlatform, QueueMembership, Unit, User
from hotline.roles import ROLES

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8
NO_SIGN_IN = "!"  # the password hash of an account nobody signs in to (no hash matches it)


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
    password: str | None,
    role: str,
    scope_code: str,
    *,
    display_name: str = "",
    unit_code: str | None = None,
    sip_endpoint: str | None = None,
) -> User:
    """Create a user, or raise :class:`UserError` naming the field that is wrong. With no
    password nobody can sign in as the user (the demo history's made-up staff)."""
    if not username or not username.replace("_", "").replace(".", "").isalnum():
        raise UserError("username: letters, digits, '.' and '_' only")
    if role not in ROLES:
        raise UserError(f"role: one of {', '.join(ROLES)}")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
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
        password_hash=NO_SIGN_IN if password is None else hash_password(password),
        display_name=display_name or username,
        role=role,
        scope_code=scope_code,
        unit_code=unit_code,
        sip_endpoint=sip_endpoint,
    )
    session.add(user)
    session.flush()
    return user


def agent_queues(session: Session, user: User) -> list[tuple[str, int]]:
    """The queues ``user`` joins when ready, with penalties, first choice first: always
    their own platform's queue (penalty 0 unless a membership says otherwise), plus every
    queue they are a member of. Adding a skill never takes an agent off their home queue."""
    joined = dict(
        session.execute(
            select(QueueMembership.queue, QueueMembership.penalty).where(
                QueueMembership.user_id == user.id
            )
        ).all()
    )
    home = session.scalar(
        select(CallPlatform.queue).where(
            CallPlatform.area_code == user.scope_code, CallPlatform.active.is_(True)
        )
    )
    if home:
        joined.setdefault(home, 0)
    return sorted(joined.items(), key=lambda item: (item[1], item[0]))


def set_membership(session: Session, username: str, queue: str, penalty: int) -> None:
    """Add or change an agent's membership of a platform queue."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or user.role != "agent":
        raise UserError(f"agent: {username!r} is not an agent")
    queues = set(session.scalars(select(CallPlatform.queue).where(CallPlatform.active.is_(True))))
    if queue not in queues:
        raise UserError(f"queue: {queue!r} is not a platform's queue")
    if not 0 <= penalty <= 10:
        raise UserError("penalty: 0 (first choice) to 10")
    row = session.scalar(
        select(QueueMembership).where(
            QueueMembership.user_id == user.id, QueueMembership.queue == queue
        )
    )
    if row is None:
        session.add(QueueMembership(user_id=user.id, queue=queue, penalty=penalty))
    else:
        row.penalty = penalty


def remove_membership(session: Session, username: str, queue: str) -> bool:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        return False
    row = session.scalar(
        select(QueueMembership).where(
            QueueMembership.user_id == user.id, QueueMembership.queue == queue
        )
    )
    if row is not None:
        session.delete(row)
    return row is not None
