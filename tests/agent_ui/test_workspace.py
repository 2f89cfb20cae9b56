"""The workspace page (工作台): tabs with counts, names not codes, filters and their errors,
scope by role, keyset pages, the exports, and the REST API on the same service."""

from __future__ import annotations

import csv
import io
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import openpyxl
from sqlalchemy import Engine, select

from hotline.cases.calendar import load_calendar
from hotline.cases.service import Actor, NewCase, create_case, transition
from hotline.db import transaction
from hotline.models import Case
from hotline.tokens import make_token

PASSWORDS = {
    "dc_agent": "agent-demo-123",
    "xc_agent": "agent-demo-123",
    "dc_dispatcher": "dispatch-demo-123",
    "city_dispatcher": "dispatch-demo-123",
    "unit_dc_sanitation": "unit-demo-123",
    "dc_inspector": "inspect-demo-123",
    "admin": "admin-demo-123",
}
DC_AGENT = Actor("dc_agent", "agent", "110101")
DC_DISPATCHER = Actor("dc_dispatcher", "dispatcher", "110101")
XC_AGENT = Actor("xc_agent", "agent", "110102")
LAMP = NewCase(
    source="phone",
    kind="event",
    class_code="0102",
    district_code="110101",
    grid_code="110101001001001",
    address="王府井大街",
    description="路灯下堆着垃圾",
    citizen_phone="13911112222",
)


def sign_in(client: Any, username: str) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    done = client.post(
        "/login",
        data={"username": username, "password": PASSWORDS[username], "csrf_token": token[1]},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[:200]


def world(engine: Engine) -> dict[str, str]:
    """Three Dongcheng cases (one dispatched, with a deadline), one Xicheng case."""
    with transaction(engine) as session:
        calendar = load_calendar(session)

        def make(actor: Actor, new: NewCase, key: str) -> str:
            return create_case(session, actor, new, key, calendar=calendar)[0].number

        return {
            "lamp": make(DC_AGENT, LAMP, "lamp"),
            "dispatched": make(
                DC_DISPATCHER,
                NewCase(
                    source="walk_in",
                    kind="event",
                    class_code="0102",
                    district_code="110101",
                    address="东四北大街",
                    description='=HYPERLINK("http://x")',
                    dispatch_to="auto",
                ),
                "dispatched",
            ),
            "urgent": make(
                DC_AGENT,
                NewCase(
                    source="web",
                    kind="component",
                    class_code="0118",
                    district_code="110101",
                    urgency="urgent",
                    address="景山前街",
                ),
                "urgent",
            ),
            "xicheng": make(
                XC_AGENT,
                NewCase(source="phone", kind="event", class_code="0102", district_code="110102"),
                "xicheng",
            ),
        }


def numbers_in(page: str) -> set[str]:
    return set(re.findall(r'href="/cases/(\d{10})"', page))


def test_the_dispatchers_workspace(api: Any, loaded_engine: Engine) -> None:
    cases = world(loaded_engine)
    sign_in(api.client, "dc_dispatcher")
    page = api.client.get("/cases")
    assert page.status_code == 200
    html = page.text
    assert "工作台" in html and 'lang="zh-CN"' in html
    assert numbers_in(html) == {cases["lamp"], cases["dispatched"], cases["urgent"]}
    tabs = tabs_of(html)
    assert tabs["all"] == "3" and tabs["to_dispatch"] == "2" and tabs["mine"] == "1"
    assert set(tabs) == {
        "to_dispatch",
        "returned",
        "to_verify",
        "due_soon",
        "overdue",
        "extension",
        "ledger",
        "joint",
        "mine",
        "all",
    }
    # Names, not codes; the deadline counts down in the page; times in the city's zone.
    assert "暴露垃圾" in html and "路灯" in html and "东城区环境卫生服务中心" in html
    assert "dongcheng.sanitation" not in html.split("<tbody>")[1]
    assert 'class="deadline" data-due="' in html
    assert "Asia/Shanghai" in html
    assert '<option value="110101001" data-district="110101">东城区 · 东华门街道' in html
    assert "0118 路灯" in html  # the class's code beside its name, where staff use it
    english = api.client.get("/cases?lang=en").text
    assert "Workspace" in english and "To dispatch" in english


def tabs_of(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-view="(\w+)">[^<]*<span class="count">([^<]+)<', page))


def test_the_counts_are_kept_per_scope_until_a_case_changes(
    api: Any, loaded_engine: Engine
) -> None:
    """The tabs' counts are kept (agent_ui.pages.workspace._counts): a new case shows in
    them on the next load, and a count kept for one platform is never another's."""
    world(loaded_engine)
    sign_in(api.client, "dc_dispatcher")
    before = tabs_of(api.client.get("/cases").text)
    assert before["all"] == "3" and before["to_dispatch"] == "2" and before["mine"] == "1"
    assert tabs_of(api.client.get("/cases").text) == before  # kept: the same answer
    with transaction(loaded_engine) as session:
        create_case(session, DC_AGENT, LAMP, "another", calendar=load_calendar(session))
    after = tabs_of(api.client.get("/cases?view=all").text)
    assert after["all"] == "4" and after["to_dispatch"] == "3" and after["mine"] == "1"
    sign_in(api.client, "city_dispatcher")
    city = tabs_of(api.client.get("/cases").text)
    assert city["all"] == "5" and city["mine"] == "0"  # the city's own count, its own mine
    sign_in(api.client, "dc_agent")
    assert tabs_of(api.client.get("/cases").text) == {"mine": "3"}


def test_a_row_follows_its_case(api: Any, loaded_engine: Engine) -> None:
    """The list's rows are kept once rendered (agent_ui.web.templating.cached_case): a case
    that changes shows its new state on the next load, in each language."""
    cases = world(loaded_engine)
    sign_in(api.client, "dc_dispatcher")

    def row(lang: str) -> str:
        page = api.client.get(f"/cases?view=all&lang={lang}").text
        found = re.search(rf'<tr[^>]*>\s*<td><a href="/cases/{cases["lamp"]}">.*?</tr>', page, re.S)
        assert found is not None
        return found[0]

    assert "已立案" in row("zh") and "Registered" in row("en")
    with transaction(loaded_engine) as session:
        case = session.scalar(select(Case).where(Case.number == cases["lamp"]))
        assert case is not None
        transition(session, DC_DISPATCHER, case.number, "mark_invalid", case.version,
                   {"note": "重复来电"})  # fmt: skip
    assert "不予受理" in row("zh") and "Invalid" in row("en")


def test_views_filters_and_search(api: Any, loaded_engine: Engine) -> None:
    cases = world(loaded_engine)
    sign_in(api.client, "dc_dispatcher")

    def shown(query: str) -> set[str]:
        page = api.client.get(f"/cases?{query}")
        assert page.status_code == 200, page.text[:300]
        return numbers_in(page.text)

    assert shown("view=to_dispatch") == {cases["lamp"], cases["urgent"]}
    assert shown("view=mine") == {cases["dispatched"]}
    assert shown("urgency=urgent") == {cases["urgent"]}
    assert shown("class=component:01") == {cases["urgent"]}
    assert shown("source=walk_in&unit=dongcheng.sanitation") == {cases["dispatched"]}
    assert shown("street=110101001") == {cases["lamp"]}
    assert shown("district=110102") == set()  # another district: nothing, never Xicheng's
    assert shown("q=路灯") == {cases["lamp"]}
    assert shown("q=13911112222") == {cases["lamp"]}  # the caller's number: staff
    assert shown(f"q={cases['xicheng']}") == set()
    kept = api.client.get("/cases?q=路灯&urgency=normal").text
    assert 'value="路灯"' in kept and '<option value="normal" selected>' in kept
    # the options are rendered once per scope and language (agent_ui.web.templating
    # FragmentCache): each load still shows its own choice selected, in its language
    for unit in ("dongcheng.sanitation", "dongcheng.greening", ""):
        page = api.client.get(f"/cases?unit={unit}").text
        selected = re.findall(r'<option value="([^"]*)" selected>', page)
        assert selected == ([unit] if unit else []), selected
    narrow = api.client.get("/cases?view=returned&q=路灯").text
    assert "在全部案件中搜索" in narrow and "/cases?view=all&amp;q=" in narrow
    english = api.client.get("/cases?lang=en").text
    assert "东城区环境卫生服务中心" in page and "Dongcheng Sanitation" in english


BAD = [
    ("from=30-11-2026", "登记日期（起）"),
    ("from=2026-11-30&to=2026-11-01", "登记日期（止）"),
    ("q=灯", "搜索"),
    ("district=11", "区"),
    ("state=lost", "状态"),
    ("after=garbage", "翻页"),
    ("sort=sideways", "排序"),
]


def test_bad_filters_are_a_page_naming_the_field(api: Any, loaded_engine: Engine) -> None:
    sign_in(api.client, "city_dispatcher")
    for query, label in BAD:
        page = api.client.get(f"/cases?{query}", headers={"Accept": "text/html"})
        assert page.status_code == 422, query
        assert f"<strong>{label}</strong>" in page.text
        if query.startswith(("q=", "from=")):  # the form as it was sent
            assert f'value="{query.split("&")[0].split("=", 1)[1]}"' in page.text
        if query.startswith(("q=", "from=", "district=", "state=")):
            assert 'aria-invalid="true"' in page.text  # the field itself is marked
        if "after" not in query:  # an export is the whole list: it has no pages
            exported = api.client.get(f"/cases.xlsx?{query}")
            assert exported.status_code == 422 and f"<strong>{label}</strong>" in exported.text


def test_an_agent_sees_only_their_own(api: Any, loaded_engine: Engine) -> None:
    cases = world(loaded_engine)
    sign_in(api.client, "dc_agent")
    page = api.client.get("/cases").text
    assert numbers_in(page) == {cases["lamp"], cases["urgent"]}
    assert re.findall(r'data-view="(\w+)"', page) == ["mine"]
    assert "来电号码" not in page  # no search by the caller's number for agents
    assert numbers_in(api.client.get("/cases?q=13911112222").text) == set()
    refused = api.client.get("/cases?view=all", headers={"Accept": "text/html"})
    assert refused.status_code == 403 and "无权" in refused.text
    sign_in(api.client, "xc_agent")
    assert numbers_in(api.client.get("/cases").text) == {cases["xicheng"]}


def test_others_have_no_case_list(api: Any, loaded_engine: Engine) -> None:
    for path in ("/cases", "/cases.xlsx"):
        answer = api.client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    for user in ("unit_dc_sanitation", "dc_inspector", "admin"):
        sign_in(api.client, user)
        for path in ("/cases", "/cases.csv", "/cases.xlsx"):
            refused = api.client.get(path, headers={"Accept": "text/html"})
            assert refused.status_code == 403 and "出错了" in refused.text, (user, path)


def test_pages_follow_the_cursor(api: Any, loaded_engine: Engine) -> None:
    cases = world(loaded_engine)
    sign_in(api.client, "city_dispatcher")
    seen: list[str] = []
    url = "/cases?limit=1&sort=due"
    while url:
        page = api.client.get(url).text
        seen += sorted(numbers_in(page))
        following = re.search(r'<a href="([^"]+)" rel="next"', page)
        url = following[1].replace("&amp;", "&") if following else ""
        if url:
            assert "limit=1" in url and "sort=due" in url and "after=" in url
            assert "回到第一页" in api.client.get(url).text
    assert seen[0] == cases["dispatched"]  # the only deadline comes first
    assert len(seen) == len(set(seen)) == len(cases)


def test_exports(api: Any, loaded_engine: Engine) -> None:
    cases = world(loaded_engine)
    sign_in(api.client, "dc_dispatcher")
    answer = api.client.get("/cases.xlsx?sort=oldest")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in answer.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:5] == ("案件编号", "状态", "类型", "类别编码", "类别")
    body = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(body) == {cases["lamp"], cases["dispatched"], cases["urgent"]}
    lamp = body[cases["lamp"]]
    assert (lamp["状态"], lamp["类别"], lamp["区"], lamp["街道"]) == (
        "已立案",
        "暴露垃圾",
        "东城区",
        "东华门街道",
    )
    assert lamp["登记人"] == "东城坐席 王芳"
    dispatched = body[cases["dispatched"]]
    assert dispatched["责任单位"] == "东城区环境卫生服务中心"
    assert dispatched["问题描述"] == '=HYPERLINK("http://x")'  # a text cell, never a formula
    # A number cell, not text (a whole number of hours reads back as an int: 20.0 → 20).
    assert isinstance(dispatched["剩余小时（负数为已超期）"], int | float)
    with transaction(loaded_engine) as session:
        from hotline.cases.service import get_case

        due = get_case(session, DC_DISPATCHER, cases["dispatched"]).due_at
        assert due is not None
    shown = dispatched["处置期限"]
    assert shown is not None and shown.strftime("%H:%M") == _beijing(due)

    text = api.client.get("/cases.csv?view=to_dispatch")
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/csv")
    assert text.content.startswith("\ufeff".encode())  # Excel reads UTF-8 with a BOM
    lines = list(csv.reader(io.StringIO(text.content.decode("utf-8-sig"))))
    assert lines[0][0] == "案件编号" and {line[0] for line in lines[1:]} == {
        cases["lamp"],
        cases["urgent"],
    }
    everything = api.client.get("/cases.csv?view=all").content.decode("utf-8-sig")
    assert "'=HYPERLINK" in everything  # CSV: a formula's first character is escaped
    assert "13911112222" not in everything  # the citizen's data stays out of exports


def test_export_is_bounded(api: Any, loaded_engine: Engine, monkeypatch: Any) -> None:
    from agent_ui.pages import workspace

    world(loaded_engine)
    monkeypatch.setattr(workspace, "EXPORT_MAX_ROWS", 2)
    sign_in(api.client, "dc_dispatcher")
    lines = api.client.get("/cases.csv").content.decode("utf-8-sig").splitlines()
    assert len(lines) == 1 + 2 + 1 and "仅导出了前 2 条" in lines[-1]


def test_the_api_lists_with_the_same_service(api: Any, loaded_engine: Engine) -> None:
    cases = world(loaded_engine)
    with transaction(loaded_engine) as session:
        agent = make_token(session, "dc-agent-system", "agent", scope_code="110101")
    seen: list[str] = []
    url = "/api/v1/cases?view=to_dispatch&limit=1&sort=oldest"
    while url:
        answer = api.client.get(url, headers=api.system)
        assert answer.status_code == 200, answer.text
        seen += [c["number"] for c in answer.json()]
        link = answer.headers.get("link", "")
        url = link[1 : link.index(">")] if link else ""
        if url:
            assert dict(parse_qsl(urlsplit(url).query))["view"] == "to_dispatch"
    assert seen == [cases["lamp"], cases["urgent"], cases["xicheng"]]
    bad = api.client.get("/api/v1/cases?from=yesterday", headers=api.system)
    assert bad.status_code == 422 and bad.json()["error_id"] == "case-bad-filter"
    assert "from" in bad.json()["detail"]
    own = {"Authorization": f"Bearer {agent}"}
    assert api.client.get("/api/v1/cases", headers=own).json() == []  # it registered none
    refused = api.client.get("/api/v1/cases?view=all", headers=own)
    assert refused.status_code == 403
    district = api.client.get("/api/v1/cases?q=13911112222", headers=api.xicheng).json()
    assert district == []  # Xicheng's system never finds Dongcheng's caller
    city = api.client.get("/api/v1/cases?q=13911112222", headers=api.system).json()
    assert [c["number"] for c in city] == [cases["lamp"]]


def _beijing(moment: Any) -> str:
    import datetime as dt
    from zoneinfo import ZoneInfo

    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return str(aware.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%H:%M"))
