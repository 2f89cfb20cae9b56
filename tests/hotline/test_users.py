from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from hotline.db import transaction
from hotline.demo import load_demo_users
from hotline.models import User
from hotline.users import UserError, add_user, verify_password


def test_password_is_hashed(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        user = add_user(session, "agent7", "s3cret-pass", "agent", "110101")
        assert user.password_hash.startswith("$argon2")
        assert "s3cret-pass" not in user.password_hash
        assert verify_password(user.password_hash, "s3cret-pass")
        assert not verify_password(user.password_hash, "wrong-pass")
        assert not verify_password("not-a-hash", "s3cret-pass")
        # An account made without a password (the demo history's staff): no one signs in.
        nobody = add_user(session, "made_up", None, "dispatcher", "110101")
        assert not any(verify_password(nobody.password_hash, p) for p in ("", "!", "x" * 12))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"role": "king"}, "role"),
        ({"scope_code": "110101001"}, "scope"),  # a street is not a scope
        ({"scope_code": "999999"}, "scope"),
        ({"password": "short"}, "password"),
        ({"username": "a b"}, "username"),
        ({"role": "unit"}, "unit"),  # a unit account needs a unit
        ({"role": "unit", "unit_code": "xicheng.sanitation"}, "scope"),  # not its district
        ({"unit_code": "bj.gas"}, "unit"),  # agents belong to no unit
    ],
)
def test_rejects(loaded_engine: Engine, kwargs: dict[str, str], field: str) -> None:
    values = {
        "username": "u1",
        "password": "long-enough",
        "role": "agent",
        "scope_code": "110101",
    } | kwargs
    with transaction(loaded_engine) as session, pytest.raises(UserError, match=f"^{field}:"):
        add_user(
            session,
            values.pop("username"),
            values.pop("password"),
            values.pop("role"),
            values.pop("scope_code"),
            **values,
        )


def test_duplicate_username(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        add_user(session, "u1", "long-enough", "agent", "110101")
        with pytest.raises(UserError, match="exists"):
            add_user(session, "u1", "long-enough", "agent", "110102")


def test_demo_users_load_once(loaded_engine: Engine) -> None:
    logins = load_demo_users(loaded_engine)
    load_demo_users(loaded_engine)
    with transaction(loaded_engine) as session:
        users = session.scalars(select(User)).all()
    assert len(users) == len(logins)
    roles = {(u.username, u.role, u.scope_code) for u in users}
    assert ("dc_agent", "agent", "110101") in roles
    assert ("dc_super", "supervisor", "110101") in roles
    assert ("city_agent", "agent", "110000") in roles
    assert ("admin", "admin", "110000") in roles
    assert any(u.role == "unit" and u.unit_code for u in users)
