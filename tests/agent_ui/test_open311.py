"""Open311 GeoReport v2: the specification's field names, JSON and XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from hotline.db import transaction
from hotline.models import Case

REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


def test_services(api: Any) -> None:
    services = api.client.get("/open311/v2/services.json").json()
    rubbish = next(s for s in services if s["service_code"] == "E0102")
    assert rubbish["service_name"] == "暴露垃圾" and rubbish["group"] == "市容环境"
    assert set(rubbish) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    xml = ET.fromstring(api.client.get("/open311/v2/services.xml").content)
    assert xml.tag == "services" and xml.find("service/service_code") is not None


def test_post_then_read(api: Any) -> None:
    posted = api.client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": api.system_key,
            "service_code": "E0102",
            "lat": "39.9175",
            "long": "116.406",
            "description": "路边垃圾",
            "phone": "13800000000",
            "device_id": "phone-1",
        },
    )
    assert posted.status_code == 201, posted.text
    (created,) = posted.json()
    number = created["service_request_id"]
    again = api.client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": api.system_key,
            "service_code": "E0102",
            "lat": "39.9175",
            "long": "116.406",
            "device_id": "phone-1",
        },
    )
    # device_id names the phone, not the report: a second report from it is a second case.
    assert again.status_code == 201 and again.json()[0]["service_request_id"] != number

    (request,) = api.client.get(f"/open311/v2/requests/{number}.json").json()
    assert set(request) == REQUEST_FIELDS
    assert request["status"] == "open" and request["service_code"] == "E0102"
    assert request["address_id"] == "110101001001001"  # the grid cell of the point
    assert "13800000000" not in str(request)  # no personal data in public reads
    xml = ET.fromstring(api.client.get(f"/open311/v2/requests/{number}.xml").content)
    assert xml.tag == "service_requests"
    assert xml.findtext("request/service_request_id") == number
    listed = api.client.get("/open311/v2/requests.json", params={"status": "open"}).json()
    assert number in [r["service_request_id"] for r in listed]
    # newest first, page_size of them; page on with end_date
    (newest,) = api.client.get("/open311/v2/requests.json", params={"page_size": 1}).json()
    assert newest["service_request_id"] == again.json()[0]["service_request_id"]
    for wrong in ("0", "1001", "many"):
        refused = api.client.get("/open311/v2/requests.json", params={"page_size": wrong})
        assert refused.status_code == 400 and "page_size" in refused.json()[0]["description"]


def test_post_errors(api: Any) -> None:
    no_key = api.client.post("/open311/v2/requests.json", data={"service_code": "E0102"})
    assert no_key.status_code == 403 and no_key.json()[0]["code"] == 403
    bad = api.client.post(
        "/open311/v2/requests.json",
        data={"api_key": api.system_key, "service_code": "X99", "lat": "39.9", "long": "116.4"},
    )
    assert bad.status_code == 400
    nowhere = api.client.post(
        "/open311/v2/requests.xml", data={"api_key": api.system_key, "service_code": "E0102"}
    )
    assert nowhere.status_code == 400 and ET.fromstring(nowhere.content).tag == "errors"
    assert api.client.get("/open311/v2/requests/999.json").status_code == 404


POINT = {"service_code": "E0102", "lat": "39.9175", "long": "116.406"}


def _post(api: Any, fields: dict[str, str], fmt: str = "json", **headers: str) -> Any:
    return api.client.post(
        f"/open311/v2/requests.{fmt}", data={"api_key": api.system_key, **fields}, headers=headers
    )


def test_an_idempotency_key_the_client_means(api: Any) -> None:
    first = _post(api, POINT | {"description": "一"}, **{"Idempotency-Key": "r-1"})
    again = _post(api, POINT | {"description": "一"}, **{"Idempotency-Key": "r-1"})
    assert first.status_code == 201 and again.status_code == 201
    assert first.json()[0]["service_request_id"] == again.json()[0]["service_request_id"]


@pytest.mark.parametrize(
    ("lat", "long"),
    [("inf", "-inf"), ("nan", "116.4"), ("39.9", "nan"), ("31.23", "121.47"), ("1e308", "1")],
)
def test_a_point_must_be_a_place_in_the_city(api: Any, lat: str, long: str) -> None:
    """One POST with lat=inf was stored and made every later read of the feed a 500."""
    refused = _post(api, {"service_code": "E0102", "lat": lat, "long": long})
    assert refused.status_code == 400, refused.text
    assert refused.json()[0]["code"] == 400
    assert api.client.get("/open311/v2/requests.json").status_code == 200
    xml = _post(api, {"service_code": "E0102", "lat": lat, "long": long}, fmt="xml")
    assert xml.status_code == 400 and ET.fromstring(xml.content).tag == "errors"


def test_reads_survive_a_point_stored_before_the_check(api: Any, loaded_engine: Engine) -> None:
    number = _post(api, POINT).json()[0]["service_request_id"]
    with transaction(loaded_engine) as session:
        session.execute(
            update(Case).where(Case.number == number).values(lat=float("inf"), lon=float("nan"))
        )
    listed = api.client.get("/open311/v2/requests.json")
    assert listed.status_code == 200
    (one,) = api.client.get(f"/open311/v2/requests/{number}.json").json()
    assert one["lat"] is None and one["long"] is None


def test_control_characters_never_reach_the_xml(api: Any, loaded_engine: Engine) -> None:
    number = _post(api, POINT | {"description": "垃\x0b圾\x01\x00堆"}).json()[0][
        "service_request_id"
    ]
    xml = api.client.get(f"/open311/v2/requests/{number}.xml")
    assert ET.fromstring(xml.content).findtext("request/description") == "垃圾堆"
    with transaction(loaded_engine) as session:  # a row stored before text was cleaned
        session.execute(update(Case).where(Case.number == number).values(description="a\x0bb"))
    listed = api.client.get("/open311/v2/requests.xml")
    assert ET.fromstring(listed.content).tag == "service_requests"


def test_a_request_about_a_component(api: Any, loaded_engine: Engine) -> None:
    definition = api.client.get("/open311/v2/services/C0103.json").json()
    assert [a["code"] for a in definition["attributes"]] == ["component_id"]
    xml = ET.fromstring(api.client.get("/open311/v2/services/C0103.xml").content)
    assert xml.findtext("service_definition/attributes/attribute/code") == "component_id"
    fields = {
        "api_key": api.system_key,
        "service_code": "C0103",
        "lat": "39.8676275",
        "long": "116.4301914",
        "attribute[component_id]": "1101010103000010",
    }
    posted = api.client.post("/open311/v2/requests.json", data=fields)
    assert posted.status_code == 201, posted.text
    number = posted.json()[0]["service_request_id"]
    with transaction(loaded_engine) as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None and case.component_id == "1101010103000010"
    for bad in (
        {"attribute[component_id]": "1101010103999999"},  # no such component
        {"attribute[component_id]": "12"},
        {"service_code": "E0102"},  # an event has no component
    ):
        refused = api.client.post("/open311/v2/requests.json", data=fields | bad)
        assert refused.status_code == 400, (bad, refused.text)
