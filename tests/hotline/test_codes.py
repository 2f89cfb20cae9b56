from __future__ import annotations

import pytest

from hotline.codes import CodeError, parse_class_code, parse_component_id, parse_grid_code


@pytest.mark.parametrize(
    ("code", "community", "cell"),
    [
        ("110101001001001", "110101001001", "001"),  # Beijing practice: 15 digits
        ("11010100100101", "110101001001", "01"),  # CJ/T 213-2005: 14 digits
    ],
)
def test_grid_code_both_lengths(code: str, community: str, cell: str) -> None:
    parsed = parse_grid_code(code)
    assert (parsed.district, parsed.street, parsed.community, parsed.cell) == (
        "110101",
        "110101001",
        community,
        cell,
    )


@pytest.mark.parametrize("code", ["", "1101010010010", "1101010010010011", "11010100100100a"])
def test_grid_code_rejects(code: str) -> None:
    with pytest.raises(CodeError):
        parse_grid_code(code)


def test_component_id_cjt214() -> None:
    parsed = parse_component_id("3205080101000001")
    assert (parsed.admin, parsed.major, parsed.minor, parsed.serial) == (
        "320508",
        "01",
        "01",
        "000001",
    )
    assert parsed.class_code == "0101"


def test_component_id_three_digit_minor() -> None:
    parsed = parse_component_id("11010101001000007", minor_width=3)
    assert (parsed.minor, parsed.serial) == ("001", "000007")


@pytest.mark.parametrize("value", ["320508010100001", "32050801010000011", "32050801010000x1"])
def test_component_id_rejects(value: str) -> None:
    with pytest.raises(CodeError):
        parse_component_id(value)


def test_class_codes() -> None:
    assert parse_class_code("0102").code == "0102"
    assert parse_class_code("01").minor == ""
    assert parse_class_code("06010", minor_width=3).minor == "010"
    with pytest.raises(CodeError):
        parse_class_code("010")
