"""API tokens: made once, stored as a SHA-256 hash, looked up per request."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.cases.service import Actor
from hotline.models import ApiToken, Area, Unit
from hotline.roles import TOKEN_ROLES


class TokenError(ValueError):
    pass


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def make_token(
    session: Session,
    name: str,
    role: str,
    *,
    unit_code: str | None = None,
    scope_code: str | None = None,
) -> str:
    """Create a token; the plain token is returned once and never stored."""
    if role == "unit":
        unit = session.get(Unit, unit_code) if unit_code else None
        if unit is None:
            raise TokenError("unit: a unit token needs a known unit code")
        scope_code = unit.district_code or "110000"
    elif role in TOKEN_ROLES:
        area = session.get(Area, scope_code) if scope_code else None
        if area is None or area.level not in ("city", "district"):
            raise TokenError("scope: the code of the city or of a district")
    else:
        raise TokenError(f"role: one of {', '.join(TOKEN_ROLES)}")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise TokenError(f"name: {name} exists")
    token = "htl_" + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            name=name,
            token_hash=_digest(token),
            role=role,
            scope_code=scope_code,
            unit_code=unit_code,
        )
    )
    session.flush()
    return token


def actor_for_token(session: Session, token: str) -> Actor | None:
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.active.is_(True))
    )
    if row is None:
        return None
    if row.role == "unit":
        return Actor(f"api:{row.name}", "unit", row.scope_code, row.unit_code)
    # Another system acts with the role and scope it was given, as a person would.
    return Actor(f"api:{row.name}", row.role, row.scope_code)
