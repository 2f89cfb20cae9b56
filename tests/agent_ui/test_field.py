"""Field reports: photo + GPS point → a registered case in the point's grid cell."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import Engine, select

from hotline.db import transaction
from hotline.models import Attachment, Case

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200
FORM = {
    "lat": "39.9175",
    "lon": "116.406",
    "kind": "event",
    "class_code": "0501",
    "description": "无照游商占道",
}


def report(api: Any, photo: bytes = JPEG, key: str = "f-1", **change: str) -> Any:
    return api.client.post(
        "/api/v1/field-reports",
        data=FORM | change,
        files={"photo": ("p.jpg", photo, "image/jpeg")},
        headers={**api.system, "Idempotency-Key": key},
    )


def test_field_report(api: Any, loaded_engine: Engine) -> None:
    made = report(api)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["grid_code"], body["district_code"], body["state"], body["source"]) == (
        "110101001001001",
        "110101",
        "registered",
        "field",
    )
    assert report(api).json()["number"] == body["number"]  # the same report again: one case
    with transaction(loaded_engine) as session:
        case = session.scalar(select(Case).where(Case.number == body["number"]))
        assert case is not None
        photos = session.scalars(select(Attachment).where(Attachment.case_id == case.id)).all()
        assert [(p.purpose, p.content_type, p.size) for p in photos] == [
            ("report", "image/jpeg", len(JPEG))
        ]


def test_bad_field_reports(api: Any) -> None:
    outside = report(api, key="f-2", lat="40.5", lon="116.0")  # in Beijing, not on the grid
    assert outside.status_code == 422 and outside.json()["error_id"] == "case-outside-grid"
    for key, lat, lon in (
        ("f-6", "30.0", "100.0"),
        ("f-7", "inf", "116.4"),
        ("f-8", "39.9", "nan"),
    ):
        elsewhere = report(api, key=key, lat=lat, lon=lon)
        assert elsewhere.status_code == 422, (lat, lon, elsewhere.text)
    not_photo = report(api, photo=b"%PDF-1.4 ...", key="f-3")
    assert not_photo.status_code == 415
    big = report(api, photo=JPEG + b"\x00" * (11 * 1024 * 1024), key="f-4")
    assert big.status_code == 413
    no_class = report(api, key="f-5", class_code="0598")
    assert no_class.status_code == 422


def test_unit_adds_feedback_photo(api: Any) -> None:
    number = report(api, key="f-6", class_code="0102").json()["number"]
    api.client.post(
        f"/api/v1/cases/{number}/actions/dispatch",
        headers=api.system,
        json={"version": 1, "data": {"unit_code": "auto"}},
    )
    added = api.client.post(
        f"/api/v1/cases/{number}/photos",
        headers=api.unit,
        data={"purpose": "feedback"},
        files={"photo": ("done.jpg", JPEG, "image/jpeg")},
    )
    assert added.status_code == 201, added.text
    stranger = api.client.post(
        f"/api/v1/cases/{number}/photos",
        headers=api.water,
        files={"photo": ("x.jpg", JPEG, "image/jpeg")},
    )
    assert stranger.status_code == 404


@pytest.mark.parametrize(
    ("username", "password"),
    [("dc_inspector", "inspect-demo-123"), ("dc_agent", "agent-demo-123")],
)
def test_the_mobile_form(api: Any, loaded_engine: Engine, username: str, password: str) -> None:
    from hotline.demo import load_demo_users

    load_demo_users(loaded_engine)
    page = api.client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    signed_in = api.client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    # An inspector's home is the form; platform staff reach it from the desktop.
    assert signed_in.headers["location"] == ("/field" if username == "dc_inspector" else "/")
    form = api.client.get("/field")
    assert form.status_code == 200 and 'capture="environment"' in form.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    key = re.search(r'name="key" value="([0-9a-f]{32})"', form.text)
    assert csrf is not None and key is not None
    fields = {
        "csrf_token": csrf.group(1),
        "key": key.group(1),
        "lat": "39.9175",
        "lon": "116.406",
        "kind_code": "event:0501",
        "description": "无照游商占道",
    }
    photo = {"photo": ("p.jpg", JPEG, "image/jpeg")}
    first = api.client.post("/field", data=fields, files=photo)
    assert first.status_code == 200, first.text[:300]
    number = re.search(r'class="num"[^>]*>(\d+)<', first.text)
    assert number is not None
    again = api.client.post("/field", data=fields, files=photo)  # a double tap: one case
    assert re.search(r'class="num"[^>]*>(\d+)<', again.text).group(1) == number.group(1)  # type: ignore[union-attr]
    with transaction(loaded_engine) as session:
        case = session.scalar(select(Case).where(Case.number == number.group(1)))
        assert case is not None and (case.source, case.grid_code, case.created_by) == (
            "field",
            "110101001001001",
            username,
        )
    outside = api.client.post("/field", data=fields | {"key": "0" * 32, "lat": "40.5"}, files=photo)
    assert outside.status_code == 422 and "不在任何单元网格内" in outside.text
    assert "40.5" in outside.text  # what was typed is kept
    assert "最近的单元网格" in outside.text and 'id="use-nearest"' in outside.text  # offered
    dongsi = api.client.post(
        "/field", data=fields | {"key": "2" * 32, "lat": "39.9300", "lon": "116.4172"}, files=photo
    )
    assert dongsi.status_code == 200 and 'class="num"' in dongsi.text  # 东四: on the grid now
    for lat in ("30.0", "inf", "nan"):
        refused = api.client.post(
            "/field", data=fields | {"key": "1" * 32, "lat": lat}, files=photo
        )
        assert refused.status_code == 422 and "form" in refused.text, lat  # the page, kept
    forged = api.client.post("/field", data=fields | {"csrf_token": "x"}, files=photo)
    assert forged.status_code == 403


def test_field_report_about_a_component(api: Any, loaded_engine: Engine) -> None:
    """The component's owner, not the class rule, is the case's unit when it is dispatched."""
    about = report(
        api,
        key="f-c",
        lat="39.8676275",
        lon="116.4301914",
        kind="component",
        class_code="0103",
        component_id="1101010103000010",
    )
    assert about.status_code == 201, about.text
    with transaction(loaded_engine) as session:
        case = session.scalar(select(Case).where(Case.number == about.json()["number"]))
        assert case is not None and case.component_id == "1101010103000010"
    unknown = report(api, key="f-u", component_id="1101010103999999")
    assert unknown.status_code == 422 and unknown.json()["error_id"] == "case-bad-component"
    assert report(api, key="f-b", component_id="12").status_code == 422
