"""A district's own types (district_catalogue.csv) are offered only in that district: its
desk's class search, its inspectors' field form, its case list's filter and Open311 for its
jurisdiction; a case elsewhere cannot be registered with one."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from hotline.cases.service import Actor, CaseError, NewCase, create_case
from hotline.db import transaction
from hotline.demo import load_demo_users
from tests.agent_ui.test_access_matrix import sign_in

HUTONG_PARKING = "0550"  # Dongcheng's own event type: 胡同违规停车


def _sign_in(client: Any, username: str) -> None:
    client.cookies.clear()
    sign_in(client, username)


def _desk_codes(client: Any, q: str) -> list[str]:
    return [h["code"] for h in client.get("/desk/catalogue", params={"q": q}).json()]


def test_offered_only_in_the_district(api: Any, loaded_engine: Engine) -> None:
    load_demo_users(loaded_engine)
    client = api.client
    _sign_in(client, "dc_agent")
    assert _desk_codes(client, "胡同违规停车") == [HUTONG_PARKING]
    assert _desk_codes(client, "tcs") == []  # 黑三轮 is Xicheng's
    _sign_in(client, "xc_agent")
    assert _desk_codes(client, "胡同违规停车") == []
    assert _desk_codes(client, "黑三轮") == ["0551"]
    _sign_in(client, "city_agent")  # the city desk: the city's classes
    assert _desk_codes(client, "胡同") == []
    assert "0102" in _desk_codes(client, "bllj")

    _sign_in(client, "dc_inspector")
    form = client.get("/field").text
    assert "胡同违规停车" in form and "黑三轮" not in form
    _sign_in(client, "dc_super")
    listing = client.get("/cases").text
    assert "胡同违规停车" in listing and "黑三轮" not in listing
    _sign_in(client, "xc_agent")
    listing = client.get("/cases").text
    assert "胡同违规停车" not in listing and "黑三轮" in listing
    _sign_in(client, "city_super")  # the city's lists hold every district's cases
    listing = client.get("/cases").text
    assert "胡同违规停车" in listing and "黑三轮" in listing

    city = client.get("/open311/v2/services.json").json()
    dongcheng = client.get("/open311/v2/services.json?jurisdiction_id=110101").json()
    assert "E0550" not in {s["service_code"] for s in city}
    assert {s["service_code"] for s in dongcheng} - {s["service_code"] for s in city} == {
        "C0350",
        "C0650",
        "E0150",
        "E0550",
    }
    unknown = client.get("/open311/v2/services.json?jurisdiction_id=110199")
    assert unknown.status_code == 404


def test_a_case_elsewhere_is_refused_the_type(loaded_engine: Engine) -> None:
    city = Actor("city_dispatcher", "dispatcher", "110000")
    new = NewCase(source="phone", kind="event", class_code=HUTONG_PARKING, district_code="110102")
    with transaction(loaded_engine) as session, pytest.raises(CaseError) as caught:
        create_case(session, city, new, None)
    assert caught.value.error_id == "case-bad-class"
    new.district_code = "110101"
    with transaction(loaded_engine) as session:
        case, _ = create_case(session, city, new, None)
        assert (case.state, case.class_code) == ("registered", HUTONG_PARKING)
