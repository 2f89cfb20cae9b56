"""A supervisor recomputes a past period's kept figures after a case was corrected: the
button beside the figures, CSRF, least privilege, and none for a running period. Both
databases, the real app."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction
from hotline.demo import load_demo_users
from hotline.models import Case, IndicatorSnapshot
from tests.agent_ui.test_access_matrix import sign_in as signed_in

CITY = Actor("city_dispatcher", "dispatcher", "110000")
# Two months back at least: never the month before, which the renewal job computes itself.
LONG_AGO = dt.timedelta(days=70)
BUTTON = "重新计算</button>"
FORBIDDEN = "figures-recompute-forbidden"


def a_city_case_long_ago(engine: Engine) -> tuple[str, str]:
    """A case the city platform registered, without a district, in a past month: its
    number and the month's label."""
    load_demo_users(engine)
    when = dt.datetime.now(dt.UTC) - LONG_AGO
    with transaction(engine) as session:
        case, _ = create_case(
            session,
            CITY,
            NewCase(source="phone", kind="event", class_code="0102"),
            "long-ago",
            now=when,
        )
        assert case.district_code is None and case.state == "registered"
        number = case.number
    return number, when.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


def handed_down(engine: Engine, number: str) -> None:
    """The correction, today: the case was Dongcheng's, and the city hands it down."""
    with transaction(engine) as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        transition(
            session,
            CITY,
            number,
            "hand_down",
            case.version,
            {"district_code": "110101", "note": "属东城区辖区"},
        )


def sign_in(client: Any, user: str) -> str:
    """Signed in as ``user`` (a demo account); the session's CSRF token (from the sign-out
    form every page has)."""
    client.cookies.clear()
    signed_in(client, user)
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert found is not None, user
    return found.group(1)


def registered(client: Any, month: str, code: str) -> int:
    data = client.get(
        "/supervisor/evaluation.json", params={"period": month, "scope": "district"}
    ).json()
    return sum(r["registered"] for r in data["rows"] if r["code"] == code)


def computed_at(engine: Engine) -> dict[str, dt.datetime]:
    with transaction(engine) as session:
        rows = session.execute(select(IndicatorSnapshot.key, IndicatorSnapshot.computed_at))
        return {key: at for key, at in rows}


def test_the_city_supervisor_recomputes_a_past_month(api: Any, loaded_engine: Engine) -> None:
    """The month is kept; a case corrected afterwards does not move it until the city's
    supervisor recomputes: then the page shows the case where it belongs, with a notice."""
    number, month = a_city_case_long_ago(loaded_engine)
    csrf = sign_in(api.client, "city_super")
    assert registered(api.client, month, "city") == 1
    handed_down(loaded_engine, number)
    assert registered(api.client, month, "city") == 1  # kept: the old figure
    assert registered(api.client, month, "110101") == 0
    page = api.client.get(
        "/supervisor/evaluation", params={"period": month, "scope": "district"}
    ).text
    assert "本期已结束，数据计算于" in page and BUTTON in page
    assert 'action="/supervisor/evaluation/recompute"' in page
    assert f'name="period" value="{month}"' in page and "已重新计算" not in page
    done = api.client.post(
        "/supervisor/evaluation/recompute",
        data={"csrf_token": csrf, "period": month, "scope": "district"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == (
        f"/supervisor/evaluation?period={month}&scope=district&done=recomputed"
    )
    after = api.client.get(done.headers["location"]).text
    assert "已重新计算本页数据。" in after and BUTTON in after
    assert registered(api.client, month, "110101") == 1
    assert registered(api.client, month, "city") == 0
    english = api.client.get(done.headers["location"] + "&lang=en").text
    assert "Recompute</button>" in english and "figures are recomputed." in english


def test_a_district_supervisor_recomputes_their_district(api: Any, loaded_engine: Engine) -> None:
    """A district's supervisor reads, and so recomputes, their district's figures only."""
    number, month = a_city_case_long_ago(loaded_engine)
    csrf = sign_in(api.client, "dc_super")
    assert registered(api.client, month, "110101") == 0
    handed_down(loaded_engine, number)
    assert registered(api.client, month, "110101") == 0
    done = api.client.post(
        "/supervisor/evaluation/recompute",
        data={"csrf_token": csrf, "period": month, "scope": "district"},
    )
    assert done.status_code == 200 and "已重新计算本页数据。" in done.text
    assert registered(api.client, month, "110101") == 1
    keys = computed_at(loaded_engine)
    assert all("110101" in key for key in keys if key.startswith("district|")), keys


def test_who_may_not_recompute(api: Any, loaded_engine: Engine) -> None:
    """Agents, dispatchers (even the city's) and the admin are refused with the reason; a
    missing or forged CSRF token is refused as on every form; the kept figures stay."""
    _, month = a_city_case_long_ago(loaded_engine)
    sign_in(api.client, "city_super")
    assert registered(api.client, month, "city") == 1
    before = computed_at(loaded_engine)
    form = {"period": month, "scope": "district"}
    for user in ("dc_agent", "dc_dispatcher", "city_dispatcher", "admin"):
        csrf = sign_in(api.client, user)
        refused = api.client.post(
            "/supervisor/evaluation/recompute", data={"csrf_token": csrf, **form}
        )
        assert refused.status_code == 403 and refused.json()["error_id"] == FORBIDDEN, user
    page = api.client.post(
        "/supervisor/evaluation/recompute",
        data={"csrf_token": csrf, **form},
        headers={"Accept": "text/html"},
    )
    assert page.status_code == 403 and "只有值班长可以重新计算统计数据" in page.text
    sign_in(api.client, "dc_dispatcher")
    shown = api.client.get("/supervisor/evaluation", params=form).text
    assert "本期已结束，数据计算于" in shown and BUTTON not in shown  # read, not recomputed
    sign_in(api.client, "city_super")
    for token in ({}, {"csrf_token": "forged"}):
        refused = api.client.post("/supervisor/evaluation/recompute", data={**token, **form})
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    after = computed_at(loaded_engine)
    assert {key: after[key] for key in before} == before  # the city's figures untouched


def test_no_button_for_a_running_period(api: Any, loaded_engine: Engine) -> None:
    """A running period's figures renew themselves: no button, and a POST is refused."""
    load_demo_users(loaded_engine)
    csrf = sign_in(api.client, "city_super")
    this_month = dt.datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    pages = {
        "/supervisor/evaluation": {"period": this_month},
        "/reports/cases": {"period": this_month},
        "/supervisor/ledger": {"month": this_month},
        "/supervisor/city/report": {"month": this_month},
    }
    for path, params in pages.items():
        page = api.client.get(path, params=params).text
        assert "数据截至" in page and BUTTON not in page and "数据计算于" not in page, path
        refused = api.client.post(f"{path}/recompute", data={"csrf_token": csrf, **params})
        assert refused.status_code == 409, path
        assert refused.json()["error_id"] == "figures-running"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/reports/cases", {"by": "district"}),
        ("/supervisor/ledger", {}),
        ("/supervisor/city/report", {}),
    ],
)
def test_the_other_pages_of_kept_figures(
    api: Any, loaded_engine: Engine, path: str, params: dict[str, str]
) -> None:
    """The case report, the ledger and the monthly report of a past month have the button
    too; each recomputes its own kept figures and says so."""
    _, month = a_city_case_long_ago(loaded_engine)
    chosen = {("month" if "by" not in params else "period"): month, **params}
    csrf = sign_in(api.client, "city_super")
    page = api.client.get(path, params=chosen).text
    assert BUTTON in page and f'action="{path}/recompute"' in page
    before = computed_at(loaded_engine)
    done = api.client.post(
        f"{path}/recompute", data={"csrf_token": csrf, **chosen}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"].startswith(f"{path}?")
    assert "已重新计算本页数据。" in api.client.get(done.headers["location"]).text
    after = computed_at(loaded_engine)
    changed = {key for key in before if after.get(key) != before[key]}
    assert changed and changed <= set(after), (before, after)
    sign_in(api.client, "dc_dispatcher")
    assert api.client.post(f"{path}/recompute", data=chosen).status_code == 403
