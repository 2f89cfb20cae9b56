"""The outside review's Open311 GeoReport v2 list, as conformance tests, and what the
public may read of a case."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from sqlalchemy import Engine

from hotline.cases.service import Actor, CaseError, NewCase, create_case
from hotline.db import transaction

POINT = {"service_code": "E0102", "lat": "39.9175", "long": "116.406"}


def post(api: Any, fields: dict[str, str], fmt: str = "json") -> Any:
    return api.client.post(
        f"/open311/v2/requests.{fmt}", data={"api_key": api.system_key, **fields}
    )


def spec_error(response: Any, code: int) -> None:
    """The specification's error shape, in the format asked for."""
    assert response.status_code == code, response.text
    if response.headers["content-type"].startswith("text/xml"):
        root = ET.fromstring(response.content)
        assert root.tag == "errors" and root.findtext("error/code") == str(code)
        assert root.findtext("error/description")
    else:
        body = response.json()
        assert isinstance(body, list) and body[0]["code"] == code and body[0]["description"]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/open311/v2/services/E0198.json", 404),
        ("/open311/v2/services/E0198.xml", 404),
        ("/open311/v2/services/X1.json", 400),
        ("/open311/v2/requests/0000000000.json", 404),
        ("/open311/v2/requests/0000000000.xml", 404),
        ("/open311/v2/requests.json?status=pending", 400),
        ("/open311/v2/requests.xml?service_code=Q1", 400),
        ("/open311/v2/requests.json?start_date=0001-01-01T00:00:00Z", 400),
        ("/open311/v2/requests.json?start_date=yesterday", 400),
        ("/open311/v2/requests.yaml", 400),
    ],
)
def test_errors_have_the_specifications_shape(api: Any, path: str, code: int) -> None:
    spec_error(api.client.get(path), code)


def test_a_service_definition(api: Any) -> None:
    found = api.client.get("/open311/v2/services/E0102.json")
    assert found.status_code == 200 and found.json() == {
        "service_code": "E0102",
        "attributes": [],
    }
    xml = ET.fromstring(api.client.get("/open311/v2/services/E0102.xml").content)
    assert xml.findtext("service_definition/service_code") == "E0102"


@pytest.mark.parametrize(
    "fields",
    [
        POINT | {"lat": "abc"},  # FastAPI's own 422 body before
        {"service_code": "E0102", "lat": "39.9"},  # half a point, nothing else
        {"service_code": "E0102", "address_id": "123"},
    ],
)
def test_bad_posts_are_400s_in_shape(api: Any, fields: dict[str, str]) -> None:
    spec_error(post(api, fields), 400)
    spec_error(post(api, fields, "xml"), 400)


def test_service_request_id_overrides_the_other_filters(api: Any) -> None:
    number = post(api, POINT).json()[0]["service_request_id"]
    found = api.client.get(
        "/open311/v2/requests.json",
        params={"service_request_id": number, "status": "closed", "service_code": "C0101"},
    ).json()
    assert [r["service_request_id"] for r in found] == [number]


def test_comma_separated_lists(api: Any) -> None:
    rubbish = post(api, POINT).json()[0]["service_request_id"]
    other = post(api, POINT | {"service_code": "E0101"}).json()[0]["service_request_id"]
    both = api.client.get(
        "/open311/v2/requests.json", params={"service_code": "E0102,E0101", "status": "open,closed"}
    ).json()
    assert {rubbish, other} <= {r["service_request_id"] for r in both}
    one = api.client.get("/open311/v2/requests.json", params={"service_code": "E0101"}).json()
    assert [r["service_request_id"] for r in one] == [other]


def test_a_request_located_by_address_id_alone(api: Any) -> None:
    made = post(api, {"service_code": "E0102", "address_id": "110101001001001"})
    assert made.status_code == 201, made.text
    (read,) = api.client.get(
        f"/open311/v2/requests/{made.json()[0]['service_request_id']}.json"
    ).json()
    assert read["address_id"] == "110101001001001" and read["address"].startswith("东城区")


def test_the_public_view_of_a_phone_case(api: Any, loaded_engine: Engine) -> None:
    """An agent typed the caller's name, mobile and flat: none of it is published."""
    with transaction(loaded_engine) as session:
        case, _ = create_case(
            session,
            Actor("dc_agent", "agent", "110101"),
            NewCase(
                source="phone",
                kind="event",
                class_code="0102",
                district_code="110101",
                grid_code="110101001001001",
                address="王府井大街27号院3号楼501",
                lon=116.406123,
                lat=39.917543,
                description="王女士 13812345678 反映楼下垃圾堆积",
                citizen_name="王女士",
                citizen_phone="13812345678",
            ),
            "private",
        )
        number = case.number
    (read,) = api.client.get(f"/open311/v2/requests/{number}.json").json()
    # The times are the clock's (their digits could hold "501"); every other field is read.
    shown = str({k: v for k, v in read.items() if not k.endswith("_datetime")})
    for private in ("13812345678", "王女士", "501", "3号楼"):
        assert private not in shown, private
    assert read["description"] == ""
    assert (read["lat"], read["long"]) == (39.918, 116.406)
    assert read["address"].startswith("东城区")


def test_a_citizens_own_report_is_public_but_masked(api: Any) -> None:
    number = post(api, POINT | {"description": "垃圾堆满了，请联系13912345678"}).json()[0][
        "service_request_id"
    ]
    (read,) = api.client.get(f"/open311/v2/requests/{number}.json").json()
    assert read["description"] == "垃圾堆满了，请联系139****5678"


def test_a_posted_media_url_comes_back(api: Any) -> None:
    picture = "https://example.org/photos/42.jpg"
    number = post(api, POINT | {"media_url": picture}).json()[0]["service_request_id"]
    (read,) = api.client.get(f"/open311/v2/requests/{number}.json").json()
    assert read["media_url"] == picture
    spec_error(post(api, POINT | {"media_url": "javascript:alert(1)"}), 400)


def test_staff_decide_what_the_public_reads(api: Any, loaded_engine: Engine) -> None:
    """A dispatcher publishes a text of their own for a phone case (masked on the way out),
    then withholds a citizen's own report: the public feed follows the decision."""
    from hotline.cases.publication import publish

    phone_case = post(api, POINT).json()[0]["service_request_id"]
    own_report = post(api, POINT | {"description": "我家门口 13712345678"}).json()[0][
        "service_request_id"
    ]
    staff = Actor("city_dispatcher", "dispatcher", "110000")
    with transaction(loaded_engine) as session:
        publish(session, staff, phone_case, 1, "环卫工人已清运，联系人 13612345678")
        publish(session, staff, own_report, 1, "")
    (first,) = api.client.get(f"/open311/v2/requests/{phone_case}.json").json()
    (second,) = api.client.get(f"/open311/v2/requests/{own_report}.json").json()
    assert first["description"] == "环卫工人已清运，联系人 136****5678"
    assert second["description"] == ""
    with transaction(loaded_engine) as session, pytest.raises(CaseError) as refused:
        publish(session, Actor("dc_agent", "agent", "110101"), phone_case, 2, "x")
    assert refused.value.status in (403, 404)
