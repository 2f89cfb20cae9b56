"""Open311 GeoReport v2: the specification's field names, JSON and XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

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
    assert again.json()[0]["service_request_id"] == number  # same device report: one case

    (request,) = api.client.get(f"/open311/v2/requests/{number}.json").json()
    assert set(request) == REQUEST_FIELDS
    assert request["status"] == "open" and request["service_code"] == "E0102"
    assert request["address_id"] == "110101001001001"  # the grid cell of the point
    assert "13800000000" not in str(request)  # no personal data in public reads
    xml = ET.fromstring(api.client.get(f"/open311/v2/requests/{number}.xml").content)
    assert xml.tag == "service_requests"
    assert xml.findtext("request/service_request_id") == number
    listed = api.client.get("/open311/v2/requests.json", params={"status": "open"}).json()
    assert [r["service_request_id"] for r in listed] == [number]


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
