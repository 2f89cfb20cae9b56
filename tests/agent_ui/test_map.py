"""The map's layers: outlines and cells from the grid, the point lookup, the vendored library."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, update

from hotline.cases.service import Actor, NewCase, create_case
from hotline.db import transaction
from hotline.models import Case
from tests.agent_ui.test_access_matrix import sign_in


def test_layers_from_the_grid(api: Any, loaded_engine: Engine) -> None:
    sign_in(api.client, "dc_agent")
    streets = api.client.get("/map/areas.geojson?level=street").json()
    names = {f["properties"]["code"]: f["properties"]["name"] for f in streets["features"]}
    assert len(names) == 17 + 15 and names["110101006"] == "东四街道"  # Dongcheng, Xicheng
    assert names["110102012"] == "什刹海街道"
    districts = api.client.get("/map/areas.geojson?level=district").json()
    assert [f["properties"]["name"] for f in districts["features"]] == ["东城区", "西城区"]
    cells = api.client.get("/map/cells.geojson?bbox=116.405,39.917,116.407,39.918").json()
    assert "110101001001001" in [f["properties"]["code"] for f in cells["features"]]
    everything = api.client.get("/map/cells.geojson?bbox=116.3,39.8,116.5,40.0").json()
    assert everything == {"type": "FeatureCollection", "features": [], "too_many": True}


def test_locate_names_the_cell_or_offers_the_nearest(api: Any, loaded_engine: Engine) -> None:
    sign_in(api.client, "dc_inspector")
    inside = api.client.get("/map/locate?lon=116.4172&lat=39.9300").json()
    assert inside["cell"].startswith("110101006") and inside["street_name"] == "东四街道"
    assert inside["geometry"]["type"] in ("Polygon", "MultiPolygon")
    xicheng = api.client.get("/map/locate?lon=116.3740&lat=39.9110").json()  # 西单
    assert xicheng["cell"].startswith("110102001") and xicheng["street_name"] == "西长安街街道"
    # East of Dongcheng, in Chaoyang: off the demo grid; the nearest cell is offered.
    outside = api.client.get("/map/locate?lon=116.4580&lat=39.9300").json()
    assert outside["cell"] is None and 1000 < outside["nearest"]["distance_m"] < 1500
    near = outside["nearest"]
    again = api.client.get(f"/map/locate?lon={near['lon']}&lat={near['lat']}").json()
    assert again["cell"] == near["cell"]  # the offered point lies in the offered cell


@pytest.mark.parametrize(
    "query",
    [
        "/map/locate?lon=inf&lat=39.9",
        "/map/locate?lon=116.4&lat=30.0",  # outside the city
        "/map/locate?lon=x&lat=39.9",
        "/map/cells.geojson?bbox=1,2,3",
        "/map/cells.geojson?bbox=116.5,39.9,116.4,40.0",
        "/map/cells.geojson?bbox=nan,39.9,116.4,40.0",
        "/map/areas.geojson?level=city",
    ],
)
def test_bad_queries_are_4xx(api: Any, loaded_engine: Engine, query: str) -> None:
    sign_in(api.client, "dc_agent")
    assert api.client.get(query).status_code == 422


def test_library_is_served_by_the_app(api: Any) -> None:
    js = api.client.get("/static/vendor/leaflet/leaflet.js")
    assert js.status_code == 200 and "Leaflet 1.9.4" in js.text
    assert "sourceMappingURL" not in js.text
    assert api.client.get("/static/vendor/leaflet/images/marker-icon.png").status_code == 200
    assert api.client.get("/static/map.js").status_code == 200


def test_nearby_open_cases_of_the_class(api: Any, loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        for key, district, lon, lat, klass in (
            ("near", "110101", 116.4112, 39.9128, "0102"),  # 30 m away: offered
            ("far", "110101", 116.4200, 39.9128, "0102"),  # 800 m away
            ("other-class", "110101", 116.4110, 39.9127, "0103"),
        ):
            create_case(
                session,
                Actor("dc_agent", "agent", district),
                NewCase(
                    source="phone",
                    kind="event",
                    class_code=klass,
                    district_code=district,
                    lon=lon,
                    lat=lat,
                    citizen_name="张三",
                ),
                key,
            )
    sign_in(api.client, "dc_agent")
    found = api.client.get("/map/nearby?lon=116.4109&lat=39.9127&kind=event&class_code=0102").json()
    assert [c["distance_m"] < 50 for c in found] == [True]
    assert "张三" not in str(found) and found[0]["state"] == "已立案"
    sign_in(api.client, "xc_agent")  # another district's desk sees none of Dongcheng's
    assert (
        api.client.get("/map/nearby?lon=116.4109&lat=39.9127&kind=event&class_code=0102").json()
        == []
    )


def _cases(engine: Engine) -> list[str]:
    numbers = []
    with transaction(engine) as session:
        for key, lon, lat in (("a", 116.4112, 39.9128), ("b", 116.4172, 39.9300)):
            case, _ = create_case(
                session,
                Actor("dc_agent", "agent", "110101"),
                NewCase(
                    source="phone",
                    kind="event",
                    class_code="0102",
                    district_code="110101",
                    grid_code=None,
                    lon=lon,
                    lat=lat,
                ),
                key,
            )
            numbers.append(case.number)
        late = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        session.execute(
            update(Case)
            .where(Case.number == numbers[0])
            .values(state="dispatched", due_at=late, grid_code="110101001004007")
        )
    return numbers


def test_case_map_follows_the_list(api: Any, loaded_engine: Engine) -> None:
    late, other = _cases(loaded_engine)
    sign_in(api.client, "dc_super")
    points = api.client.get("/cases/map.geojson?view=all").json()["features"]
    shown = {f["properties"]["number"]: f["properties"] for f in points}
    assert shown[late]["overdue"] is True and shown[late]["state_name"] == "已派遣"
    assert shown[other]["overdue"] is False
    overdue = api.client.get("/cases/map.geojson?view=overdue").json()["features"]
    assert [f["properties"]["number"] for f in overdue] == [late]  # the filter, not all
    cells = api.client.get("/cases/map.geojson?view=all&by=cell").json()
    assert cells["by"] == "cell"
    assert [(f["properties"]["code"], f["properties"]["count"]) for f in cells["features"]] == [
        ("110101001004007", 1)
    ]
    streets = api.client.get("/cases/map.geojson?view=all&by=street").json()
    assert [(f["properties"]["name"], f["properties"]["count"]) for f in streets["features"]] == [
        ("东华门街道", 1)
    ]
    box = "116.41,39.91,116.42,39.92"  # the late case's cell only
    inside = api.client.get(f"/cases/map.geojson?view=all&bbox={box}").json()["features"]
    assert [f["properties"]["number"] for f in inside] == [late]
    assert api.client.get("/cases/map.geojson?by=city").status_code == 422
    assert api.client.get("/cases/map.geojson?bbox=1,2").status_code == 422
    assert api.client.get("/cases/map.geojson?view=nope").status_code == 422
    assert api.client.get("/cases/map.geojson?from=2026-13-01").status_code == 422
    sign_in(api.client, "xc_agent")  # an agent's map: what they registered, none here
    assert api.client.get("/cases/map.geojson").json()["features"] == []


def test_a_map_answer_is_shared_only_by_the_same_scope(api: Any, loaded_engine: Engine) -> None:
    """Answers are kept 15 s (``case_map.MAP_TTL``) for whoever asks the same of the same
    cases: another role or scope asking the same URL gets its own answer."""
    late, _ = _cases(loaded_engine)
    url = "/cases/map.geojson?view=all&by=street"
    sign_in(api.client, "dc_super")
    first = api.client.get(url).json()
    with transaction(loaded_engine) as session:  # a change inside the 15 s
        session.execute(update(Case).where(Case.number == late).values(grid_code=None))
    assert api.client.get(url).json() == first  # the kept answer
    assert first["features"]
    api.client.cookies.clear()
    sign_in(api.client, "xc_agent")  # another district's agent: their own cases, none
    assert api.client.get(url.replace("view=all&", "")).json()["features"] == []
    api.client.cookies.clear()
    sign_in(api.client, "city_super")  # the city: its own answer, read now
    assert api.client.get(url).json()["features"] == []  # the case has no cell any more


def test_case_page_shows_point_and_cell(api: Any, loaded_engine: Engine) -> None:
    late, _ = _cases(loaded_engine)
    sign_in(api.client, "dc_super")
    page = api.client.get(f"/cases/{late}")
    assert page.status_code == 200 and 'id="case-map"' in page.text
    assert "/static/vendor/leaflet/leaflet.js" in page.text and "116.4112" in page.text


def test_supervisor_density_and_hot_spots(api: Any, loaded_engine: Engine) -> None:
    _cases(loaded_engine)
    sign_in(api.client, "dc_super")
    page = api.client.get("/supervisor/map?class=event:01")
    assert page.status_code == 200 and 'id="density-map"' in page.text
    assert "东华门街道 · 智德社区 · 单元网格 110101001004007：1 件" in page.text
    assert "state=dispatched" in page.text and "state=closed" not in page.text
    none = api.client.get("/supervisor/map?class=component:01")
    assert "所选范围内没有未办结案件" in none.text
    assert api.client.get("/supervisor/map?from=2026-02-30").status_code == 422
    sign_in(api.client, "dc_dispatcher")
    assert api.client.get("/supervisor/map").status_code == 403


def test_public_map_has_districts_only(api: Any, loaded_engine: Engine) -> None:
    late, _ = _cases(loaded_engine)
    outlines = api.client.get("/public/districts.geojson").json()  # no sign-in
    assert [f["properties"] for f in outlines["features"]] == [
        {"code": "110101", "name": "东城区"},
        {"code": "110102", "name": "西城区"},
    ]
    page = api.client.get("/public/evaluation")
    assert page.status_code == 200 and 'id="district-map"' in page.text
    assert late not in page.text and "116.4112" not in page.text


def test_components_layer(api: Any, loaded_engine: Engine) -> None:
    sign_in(api.client, "dc_inspector")
    box = "116.4221,39.9665,116.4222,39.9667"  # around 1101010103000001, a storm drain cover
    found = api.client.get(f"/map/components.geojson?bbox={box}").json()["features"]
    assert {
        "id": "1101010103000001",
        "class_code": "0103",
        "class_name": "雨水井盖",
        "major_name": "公用设施",
        "owner": "北京城市排水集团",
        "status": "完好",
    } in [f["properties"] for f in found]
    city = api.client.get("/map/components.geojson?bbox=116.3,39.8,116.5,40.0").json()
    assert city == {"type": "FeatureCollection", "features": [], "too_many": True}
    assert api.client.get("/map/components.geojson?bbox=x").status_code == 422


def test_case_page_names_the_component_and_its_cases(api: Any, loaded_engine: Engine) -> None:
    numbers = []
    with transaction(loaded_engine) as session:
        for key in ("p-1", "p-2"):
            case, _ = create_case(
                session,
                Actor("dc_dispatcher", "dispatcher", "110101"),
                NewCase(
                    source="phone",
                    kind="component",
                    class_code="0103",
                    district_code="110101",
                    component_id="1101010103000010",
                ),
                key,
            )
            numbers.append(case.number)
    sign_in(api.client, "dc_super")
    page = api.client.get(f"/cases/{numbers[1]}").text
    assert "1101010103000010 · 雨水井盖 · 权属单位：东城区城市管理委员会（市政市容）" in page
    assert f'<a href="/cases/{numbers[0]}">{numbers[0]}</a>' in page
    sign_in(api.client, "xc_agent")  # another district's agent: not even the page
    assert api.client.get(f"/cases/{numbers[1]}").status_code in (403, 404)


def test_warm_up_builds_index_and_outlines(api: Any) -> None:
    from agent_ui.pages.map_layers import warm

    state = api.client.app.state
    warm(state)
    assert len(state.grid_index) == 11701
    assert set(state.map_outlines[1]) == {"street", "community", "district"}
