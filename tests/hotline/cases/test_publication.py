"""What the public sees of a case (pure)."""

from __future__ import annotations

import pytest

from hotline.cases.publication import mask_personal, public_coordinate, public_text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("王先生 13812345678 3号楼2单元501", "王先生 138****5678 3号楼2单元501"),
        ("身份证110101199003071234", "身份证110101********1234"),
        ("身份证11010119900307123X", "身份证110101********123X"),
        ("案件 2612020001 网格 110101001001001", "案件 2612020001 网格 110101001001001"),
        ("电话+8613912345678", "电话+86139****5678"),
    ],
)
def test_masks_mobiles_and_id_cards_only(text: str, masked: str) -> None:
    assert mask_personal(text) == masked


def test_public_text_by_source_and_decision() -> None:
    said = "路边垃圾，联系 13812345678"
    assert public_text("phone", said) == ""  # an agent's words are not for the public
    assert public_text("open311", said) == "路边垃圾，联系 138****5678"
    assert public_text("phone", said, published="垃圾已清运") == "垃圾已清运"


def test_area_level_point() -> None:
    assert public_coordinate(39.917543) == 39.918 and public_coordinate(None) is None
