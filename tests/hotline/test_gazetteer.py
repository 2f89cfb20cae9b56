from __future__ import annotations

import pytest
from sqlalchemy import Engine

from hotline.db import transaction
from hotline.gazetteer import pinyin_of, search


def test_pinyin() -> None:
    assert pinyin_of("东华门") == ("donghuamen", "dhm")


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("东华门", "东华门街道"),  # Chinese name (substring)
        ("王府井", "王府井大街"),  # alias of a road, exact alias ranks first
        ("dhm", "东华门街道"),  # pinyin initials
        ("jingshan", "景山街道"),  # full pinyin
        ("紫禁城", "故宫博物院"),  # alias of a landmark
        ("东城", "东城区"),
    ],
)
def test_search(loaded_engine: Engine, query: str, first: str) -> None:
    with transaction(loaded_engine) as session:
        places = search(session, query)
    assert places, query
    assert places[0].name_zh == first


def test_search_nothing(loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        assert search(session, "   ") == []
        assert search(session, "不存在的地方") == []
