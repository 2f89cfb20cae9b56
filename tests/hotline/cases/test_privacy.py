"""Who sees the citizen behind a case: the masking is a pure function of role and case."""

from __future__ import annotations

import pytest

from hotline.cases.privacy import Citizen, citizen_view, mask_name, mask_phone


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "861******5678"),
        ("65123456", "****3456"),
        ("12319", "***19"),
        ("110", "**0"),
        ("", ""),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("name", "masked"), [("王芳", "王*"), ("欧阳娜娜", "欧***"), ("李", "李*"), (" ", "")]
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


NAME, PHONE = "张三丰", "13812345678"


@pytest.mark.parametrize(
    ("role", "username", "seen"),
    [
        ("dispatcher", "dc_dispatcher", Citizen(NAME, PHONE, True)),
        ("supervisor", "city_super", Citizen(NAME, PHONE, True)),
        ("agent", "dc_agent", Citizen(NAME, PHONE, True)),  # registered it
        ("agent", "xc_agent", Citizen("张**", "138****5678", False)),
        ("inspector", "dc_agent", Citizen(NAME, PHONE, True)),
        ("inspector", "dc_inspector", Citizen("张**", "138****5678", False)),
        ("unit", "unit_dc_sanitation", Citizen("张**", "", False)),  # never the phone
        ("unit", "dc_agent", Citizen("张**", "", False)),
        ("admin", "admin", Citizen("张**", "138****5678", False)),
    ],
)
def test_citizen_view(role: str, username: str, seen: Citizen) -> None:
    assert citizen_view(role, username, "dc_agent", NAME, PHONE) == seen
