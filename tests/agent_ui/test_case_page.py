"""The case page (/cases/{number}): what each role sees and does not, every action from its
forms by the role that takes it, refusals beside the form with the input kept, the stale
version, the recordings and photos behind their authorised routes, the callback's button."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from agi.ami import AmiError
from hotline.cases.calendar import load_calendar
from hotline.cases.callback import request_callback
from hotline.cases.media import attach_photo
from hotline.cases.service import Actor, NewCase, create_case, request_extension, transition
from hotline.db import transaction
from hotline.models import Call, Case, CaseAssist, CaseHistory, utcnow

PASSWORDS = {
    "dc_agent": "agent-demo-123",
    "xc_agent": "agent-demo-123",
    "dc_dispatcher": "dispatch-demo-123",
    "dc_super": "super-demo-123",
    "city_dispatcher": "dispatch-demo-123",
    "unit_dc_sanitation": "unit-demo-123",
}
AGENT = Actor("dc_agent", "agent", "110101")
DISPATCHER = Actor("dc_dispatcher", "dispatcher", "110101")
CITY = Actor("city_dispatcher", "dispatcher", "110000")
UNIT = Actor("unit_dc_sanitation", "unit", "110101", "dongcheng.sanitation")
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PHONE = "13812345678"


def sign_in(client: Any, user: str) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    done = client.post(
        "/login",
        data={"username": user, "password": PASSWORDS[user], "csrf_token": csrf.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303


def form_of(page: str, action: str) -> dict[str, str]:
    """The CSRF token and version of one action's form on the page."""
    found = re.search(rf'<form[^>]*id="act-{action}".*?</form>', page, re.S)
    assert found is not None, f"no {action} form"
    fields = dict(re.findall(r'name="(csrf_token|version)" value="([^"]*)"', found.group(0)))
    return fields


def act(client: Any, number: str, action: str, **fields: Any) -> Any:
    page = client.get(f"/cases/{number}").text
    return client.post(
        f"/cases/{number}/actions/{action}",
        data={**form_of(page, action), **fields},
        follow_redirects=False,
    )


def visible_words(page: str) -> set[str]:
    """Latin words a reader sees (scripts, styles, tags and attributes left out)."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return set(re.findall(r"[A-Za-z]{3,}", text))


def new_case(engine: Engine, key: str, actor: Actor = AGENT, **values: Any) -> str:
    fields = {
        "source": "phone",
        "kind": "event",
        "class_code": "0102",
        "district_code": "110101",
        "grid_code": "110101001001001",
        "address": "王府井大街1号",
        "description": "路边堆放垃圾",
        "citizen_name": "张三丰",
        "citizen_phone": PHONE,
        "callback_consent": True,
    } | values
    with transaction(engine) as session:
        case, _ = create_case(session, actor, NewCase(**fields), key)
        return case.number


def step(engine: Engine, number: str, actor: Actor, action: str, **data: Any) -> None:
    with transaction(engine) as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        transition(
            session,
            actor,
            number,
            action,
            case.version,
            data,
            calendar=load_calendar(session),
        )


def handled(engine: Engine, key: str, **values: Any) -> str:
    """A case dispatched to Dongcheng sanitation, accepted and reported handled."""
    number = new_case(engine, key, **values)
    step(engine, number, DISPATCHER, "dispatch", unit_code="dongcheng.sanitation")
    step(engine, number, UNIT, "accept")
    step(engine, number, UNIT, "report_handled", note="已清运完毕")
    return number


def case_row(engine: Engine, number: str) -> Case:
    with transaction(engine) as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        session.expunge(case)
        return case


def history(engine: Engine, number: str) -> list[tuple[str, str]]:
    with transaction(engine) as session:
        rows = session.execute(
            select(CaseHistory.action, CaseHistory.note)
            .join(Case, Case.id == CaseHistory.case_id)
            .where(Case.number == number)
            .order_by(CaseHistory.id)
        ).all()
        return [(a, n) for a, n in rows]


def with_media(api: Any, loaded_engine: Engine, number: str, recordings: Path) -> int:
    """A report photo, a feedback photo and the intake call with its recording."""
    settings = api.client.app.state.settings
    api.client.app.state.settings = settings.model_copy(update={"recordings_dir": recordings})
    recordings.mkdir(exist_ok=True)
    with transaction(loaded_engine) as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        for purpose, data in (("report", PNG), ("feedback", PNG + b"after")):
            attach_photo(session, settings.media_dir, case, data, purpose, "x", 10**6, utcnow())
        call = Call(uniqueid="1700000000.1", linkedid="1700000000.1", caller_number=PHONE)
        session.add(call)
        session.flush()
        case.call_id = call.id
        (recordings / f"call-{call.id}.wav").write_bytes(b"RIFF" + bytes(range(256)) * 4)
        return call.id


def test_the_district_dispatcher_sees_everything_in_words(
    api: Any, loaded_engine: Engine, tmp_path: Path
) -> None:
    number = handled(loaded_engine, "seen")
    call_id = with_media(api, loaded_engine, number, tmp_path / "rec")
    sign_in(api.client, "dc_dispatcher")
    page = api.client.get(f"/cases/{number}")
    assert page.status_code == 200
    text = page.text
    for shown in (
        "暴露垃圾",  # the class by name, its code beside
        "0102",
        "东城区",
        "东华门街道",  # the street of the grid cell
        "110101001001001",
        "王府井大街1号",
        "路边堆放垃圾",
        "热线电话",  # the source in words
        "东城区环境卫生服务中心",  # the unit by name
        "张三丰",
        PHONE,
        "已清运完毕",  # the unit's feedback note
        "东城派遣员 孙丽",  # who dispatched, by name
        "东城环卫中心",
        'class="deadline" data-due=',  # the live countdown
        f"/cases/{number}/photos/",
        f"/cases/{number}/calls/{call_id}/recording",
        "处置前（上报）",
        "处置后（反馈）",
        'id="act-verify"',  # a handled case: verify or send back
        'id="act-rework"',
    ):
        assert shown in text, shown
    assert "dongcheng.sanitation" not in text  # names, never the unit's slug
    assert visible_words(text) <= {"English", "Asia", "Shanghai"}, visible_words(text)
    assert 'id="act-urge"' not in text and 'id="act-close"' not in text  # not in this state
    english = api.client.get(f"/cases/{number}?lang=en").text
    assert "Timeline" in english and "Send back for rework" in english


def test_what_each_role_may_see(api: Any, loaded_engine: Engine, tmp_path: Path) -> None:
    number = handled(loaded_engine, "masked")
    call_id = with_media(api, loaded_engine, number, tmp_path / "rec")
    recording = f"/cases/{number}/calls/{call_id}/recording"
    sign_in(api.client, "dc_agent")  # registered it: sees the citizen, hears the call
    own = api.client.get(f"/cases/{number}").text
    assert "张三丰" in own and PHONE in own and recording in own
    assert 'id="act-' not in own  # an agent does not work registered cases
    assert api.client.get(recording).status_code == 200
    sign_in(api.client, "unit_dc_sanitation")
    unit = api.client.get(f"/cases/{number}")
    assert unit.status_code == 200
    assert "张**" in unit.text and "张三丰" not in unit.text
    assert PHONE not in unit.text and "138****5678" not in unit.text  # never, not masked
    assert "（不向您的角色显示）" in unit.text
    assert recording not in unit.text and api.client.get(recording).status_code == 404
    assert f"/unit/cases/{number}" in unit.text  # its actions live on the unit portal
    other = new_case(loaded_engine, "other", Actor("dc_super", "supervisor", "110101"))
    sign_in(api.client, "dc_agent")
    assert api.client.get(f"/cases/{other}").status_code == 404  # another's registration
    sign_in(api.client, "xc_agent")
    refused = api.client.get(f"/cases/{number}", headers={"Accept": "text/html"})
    missing = api.client.get("/cases/2001019999", headers={"Accept": "text/html"})
    assert refused.status_code == missing.status_code == 404  # no hint it exists:
    assert refused.text.replace(number, "N") == missing.text.replace("2001019999", "N")
    assert api.client.get(recording).status_code == 404
    assert api.client.get("/cases/not-a-number").status_code == 404


def test_a_case_from_received_to_closed_on_the_page(api: Any, loaded_engine: Engine) -> None:
    number = new_case(loaded_engine, "life", kind=None, class_code=None)
    sign_in(api.client, "dc_agent")
    done = act(api.client, number, "register", klass="event:0102", note="市民来电")
    assert done.status_code == 303 and done.headers["location"] == f"/cases/{number}?done=register"
    assert "已完成：立案" in api.client.get(done.headers["location"]).text
    sign_in(api.client, "dc_dispatcher")
    page = api.client.get(f"/cases/{number}").text
    chosen = re.search(r'<option value="([^"]+)" selected>', page.split('id="act-dispatch"')[1])
    assert chosen is not None and chosen.group(1) == "dongcheng.sanitation"  # the rules' unit
    assert "按派遣规则建议：东城区环境卫生服务中心" in page
    other = "dongcheng.enforcement"
    assert f'<option value="{other}"' in page  # another of the district's units
    assert 'value="bj.water_supply"' not in page  # a city unit: not the district's to send
    assert act(api.client, number, "dispatch", unit_code=other).status_code == 303
    assert case_row(loaded_engine, number).unit_code == other
    step(loaded_engine, number, Actor("u", "unit", "110101", other), "accept")
    step(loaded_engine, number, Actor("u", "unit", "110101", other), "report_handled", note="好")
    sent = act(api.client, number, "rework", note="现场仍有垃圾，请返工")
    assert sent.status_code == 303 and case_row(loaded_engine, number).state == "rework"
    step(loaded_engine, number, Actor("u", "unit", "110101", other), "accept")
    step(loaded_engine, number, Actor("u", "unit", "110101", other), "report_handled", note="好")
    verified = act(api.client, number, "verify", solved="yes", satisfaction="4", note="回访满意")
    assert verified.status_code == 303
    case = case_row(loaded_engine, number)
    assert (case.state, case.solved, case.satisfaction) == ("verified", True, 4)
    assert act(api.client, number, "close", note="").status_code == 303
    assert case_row(loaded_engine, number).state == "closed"
    actions = [a for a, _ in history(loaded_engine, number)]
    assert actions == [
        "create",
        "register",
        "dispatch",
        "accept",
        "report_handled",
        "rework",
        "accept",
        "report_handled",
        "verify",
        "close",
    ]
    final = api.client.get(f"/cases/{number}").text
    assert "现场仍有垃圾，请返工" in final  # the rework's reason on the timeline
    # A closed case is worked no more; only what the public reads of it may still change.
    assert "问题是否解决：是" in final
    assert re.findall(r'id="act-([a-z_]+)"', final) == ["publish"]


def test_the_other_actions_by_the_roles_that_take_them(api: Any, loaded_engine: Engine) -> None:
    job = new_case(loaded_engine, "job")
    step(loaded_engine, job, DISPATCHER, "dispatch", unit_code="dongcheng.sanitation")
    sign_in(api.client, "dc_dispatcher")
    assert act(api.client, job, "urge", note="请今日内处置").status_code == 303
    assert case_row(loaded_engine, job).urge_count == 1
    with transaction(loaded_engine) as session:
        request_extension(session, UNIT, job, case_row(loaded_engine, job).version, 8, "需吊车")
    page = api.client.get(f"/cases/{job}").text
    assert "待审批：延期 8 个工作小时" in page and "需吊车" in page
    assert act(api.client, job, "extension", decision="approve").status_code == 303
    assert case_row(loaded_engine, job).pending_extension_hours is None
    assert act(api.client, job, "to_ledger", note="需市政改造").status_code == 303
    assert case_row(loaded_engine, job).state == "ledger"
    assert act(api.client, job, "resume", note="改造完成").status_code == 303
    assert act(api.client, job, "escalate", note="涉及市级管线").status_code == 303
    assert case_row(loaded_engine, job).state == "escalated"
    first = new_case(loaded_engine, "first")
    again = new_case(loaded_engine, "again")
    assert act(api.client, again, "mark_duplicate", duplicate_of=first).status_code == 303
    assert case_row(loaded_engine, again).state == "duplicate"
    assert f'href="/cases/{first}"' in api.client.get(f"/cases/{again}").text
    junk = new_case(loaded_engine, "junk")
    assert act(api.client, junk, "mark_invalid", note="非城市管理问题").status_code == 303
    assert case_row(loaded_engine, junk).state == "invalid"

    sign_in(api.client, "city_dispatcher")  # the city: dispatch, joint job, hand down
    page = api.client.get(f"/cases/{job}").text
    assert 'value="bj.water_supply"' in page  # city units are the city's to send to
    assert act(api.client, job, "dispatch", unit_code="bj.water_supply").status_code == 303
    joint = act(
        api.client, job, "joint_job", units=["dongcheng.sanitation", "bj.drainage"], note="协同"
    )
    assert joint.status_code == 303
    with transaction(loaded_engine) as session:
        parts = session.scalars(select(CaseAssist.unit_code).order_by(CaseAssist.unit_code))
        assert list(parts) == ["bj.drainage", "dongcheng.sanitation"]
    assert "北京城市排水集团" in api.client.get(f"/cases/{job}").text
    loose = new_case(
        loaded_engine, "loose", CITY, district_code=None, grid_code=None, citizen_phone=""
    )
    page = api.client.get(f"/cases/{loose}").text
    assert "此案件尚无所属区" in page  # said before dispatching
    down = act(api.client, loose, "hand_down", district_code="110102", note="请西城区处置")
    assert down.status_code == 303
    assert case_row(loaded_engine, loose).district_code == "110102"


def test_a_refusal_is_shown_beside_its_field_with_the_input_kept(
    api: Any, loaded_engine: Engine
) -> None:
    number = new_case(loaded_engine, "refused")
    sign_in(api.client, "dc_dispatcher")
    wrong = act(api.client, number, "dispatch", unit_code="xicheng.sanitation", note="尽快处理")
    assert wrong.status_code == 422
    dispatch_form = wrong.text.split('id="act-dispatch"')[1].split("</form>")[0]
    assert 'id="e-dispatch-unit_code"' in dispatch_form
    assert "该责任单位不存在，或不属于本区。" in dispatch_form
    assert ">尽快处理</textarea>" in dispatch_form  # what was typed, kept
    assert case_row(loaded_engine, number).state == "registered"
    step(loaded_engine, number, DISPATCHER, "dispatch", unit_code="dongcheng.sanitation")
    step(loaded_engine, number, UNIT, "accept")
    step(loaded_engine, number, UNIT, "report_handled", note="好")
    empty = act(api.client, number, "rework", note="")
    assert empty.status_code == 409
    assert 'id="e-rework-note"' in empty.text and "请填写此操作所需的内容" in empty.text
    half = act(api.client, number, "verify", solved="yes", satisfaction="", note="电话未接通")
    assert half.status_code == 422
    verify_form = half.text.split('id="act-verify"')[1].split("</form>")[0]
    assert 'id="e-verify-satisfaction"' in verify_form
    assert 'value="yes" checked' in verify_form and ">电话未接通</textarea>" in verify_form
    over = act(api.client, number, "verify", solved="yes", satisfaction="9")
    assert over.status_code == 422 and 'id="e-verify-satisfaction"' in over.text  # the domain's
    tokens = form_of(api.client.get(f"/cases/{number}").text, "verify")
    late = api.client.post(  # a form the page does not offer: the domain says why
        f"/cases/{number}/actions/close", data={**tokens, "note": "结案"}
    )
    assert late.status_code == 409 and "案件当前状态不允许此操作。" in late.text
    assert ">结案</p>" in late.text  # what was typed, still shown
    fresh = new_case(loaded_engine, "dup")
    nothing = act(api.client, fresh, "mark_duplicate", duplicate_of="2601019999")
    assert nothing.status_code == 422 and 'id="e-mark_duplicate-duplicate_of"' in nothing.text
    assert 'value="2601019999"' in nothing.text
    forged = api.client.post(
        f"/cases/{number}/actions/close", data={"csrf_token": "forged", "version": "1"}
    )
    assert forged.status_code == 403
    assert case_row(loaded_engine, number).state == "handled"


def test_a_stale_page_gets_the_fresh_case_and_keeps_what_was_typed(
    api: Any, loaded_engine: Engine
) -> None:
    number = handled(loaded_engine, "stale")
    sign_in(api.client, "dc_dispatcher")
    page = api.client.get(f"/cases/{number}").text
    old = form_of(page, "rework")
    step(loaded_engine, number, Actor("dc_super", "supervisor", "110101"), "rework", note="先返工")
    stale = api.client.post(
        f"/cases/{number}/actions/rework", data={**old, "note": "我写的返工原因"}
    )
    assert stale.status_code == 409
    assert "该案件已被他人修改，页面已显示最新状态" in stale.text
    assert "先返工" in stale.text  # the fresh state: someone else's rework
    assert "我写的返工原因" in stale.text  # nothing typed is lost (the form is gone)
    assert 'id="act-rework"' not in stale.text
    step(loaded_engine, number, UNIT, "accept")
    page = api.client.get(f"/cases/{number}").text
    old = form_of(page, "urge")
    step(loaded_engine, number, DISPATCHER, "urge", note="别人的督办")
    again = api.client.post(f"/cases/{number}/actions/urge", data={**old, "note": "我的督办"})
    assert again.status_code == 409
    urge_form = again.text.split('id="act-urge"')[1].split("</form>")[0]
    assert ">我的督办</textarea>" in urge_form  # kept in the form, now on the fresh version
    assert f'name="version" value="{case_row(loaded_engine, number).version}"' in urge_form


def test_recordings_and_photos_behind_the_case(
    api: Any, loaded_engine: Engine, tmp_path: Path
) -> None:
    number = handled(loaded_engine, "rec")
    call_id = with_media(api, loaded_engine, number, tmp_path / "rec")
    other = new_case(loaded_engine, "rec2", citizen_phone="13900000000")
    with transaction(loaded_engine) as session:
        stray = Call(uniqueid="../../etc/passwd", linkedid="x", caller_number="139")
        session.add(stray)
        session.flush()
        stray_id = stray.id
    (tmp_path / "rec" / f"call-{stray_id}.wav").write_bytes(b"RIFF")
    sign_in(api.client, "dc_dispatcher")
    url = f"/cases/{number}/calls/{call_id}/recording"
    whole = api.client.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
    assert whole.headers["accept-ranges"] == "bytes"
    part = api.client.get(url, headers={"Range": "bytes=4-13"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 4-13/{4 + 1024}"
    assert part.content == bytes(range(10))
    assert api.client.get(url, headers={"Range": "bytes=99999-"}).status_code == 416
    assert api.client.get(f"/cases/{other}/calls/{call_id}/recording").status_code == 404
    assert api.client.get(f"/cases/{number}/calls/{stray_id}/recording").status_code == 404
    for bad in ("..%2F..%2Fetc%2Fpasswd", "%2E%2E", "1%2F..%2F..%2Fhotline.db"):
        assert api.client.get(f"/cases/{number}/calls/{bad}/recording").status_code in (404, 422)
    photos = re.findall(rf"/cases/{number}/photos/(\d+)", api.client.get(f"/cases/{number}").text)
    shown = api.client.get(f"/cases/{number}/photos/{photos[0]}")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
    assert api.client.get(f"/cases/{other}/photos/{photos[0]}").status_code == 404
    sign_in(api.client, "xc_agent")
    assert api.client.get(url).status_code == 404  # a case out of scope
    assert api.client.get(f"/cases/{number}/photos/{photos[0]}").status_code == 404


class FakeAmi:
    def __init__(self, refuse: bool = False) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.refuse = refuse

    async def action(self, name: str, **fields: Any) -> None:
        self.sent.append((name, fields))
        if self.refuse and name == "Originate":
            raise AmiError("Originate failed")


def test_the_callback_button(api: Any, loaded_engine: Engine) -> None:
    number = handled(loaded_engine, "cb")
    silent = handled(loaded_engine, "cb-no", callback_consent=False)
    sign_in(api.client, "dc_dispatcher")
    page = api.client.get(f"/cases/{number}").text
    assert "拨打回访电话" in page and page.index("拨打回访电话") < page.index('id="act-verify"')
    token = form_of(page, "verify")["csrf_token"]
    down = api.client.post(f"/cases/{number}/callback", data={"csrf_token": token})
    assert down.status_code == 503 and "电话交换机未连接" in down.text
    ami = FakeAmi()
    api.client.app.state.ami = ami
    placed = api.client.post(
        f"/cases/{number}/callback", data={"csrf_token": token}, follow_redirects=False
    )
    assert placed.status_code == 303, placed.text
    (ring, said), (name, fields) = ami.sent
    # No queue on any node rings the staff member while their phone rings for the callback.
    assert (ring, said["UserEvent"], said["State"]) == ("UserEvent", "HotlineAgentBusy", "RINGING")
    assert said["Agent"] == "dc_dispatcher" and said["Channel"] == fields["ChannelId"]
    assert name == "Originate" and fields["Channel"] == "PJSIP/agent1004"  # their phone first
    assert (fields["Context"], fields["Exten"]) == ("hotline-callback", PHONE)
    with transaction(loaded_engine) as session:
        call = session.scalar(select(Call).where(Call.uniqueid == fields["ChannelId"]))
        assert call is not None and call.caller_number == PHONE and call.agent == "dc_dispatcher"
        assert f"HOTLINE_CALL_ID={call.id}" in fields["Variable"]
        assert "HOTLINE_AGENT=dc_dispatcher" in fields["Variable"]  # busy while it lasts
        call_id = call.id
    assert ("callback", "") in history(loaded_engine, number)
    shown = api.client.get(placed.headers["location"]).text
    assert "正在呼叫您的话机" in shown and f'id="call-{call_id}"' in shown and "回访" in shown
    assert "拨打回访电话" not in api.client.get(f"/cases/{silent}").text  # no consent
    refused = api.client.post(f"/cases/{silent}/callback", data={"csrf_token": token})
    assert refused.status_code == 409 and "市民未同意回访" in refused.text
    refusing = FakeAmi(refuse=True)
    api.client.app.state.ami = refusing
    failed = api.client.post(f"/cases/{number}/callback", data={"csrf_token": token})
    assert failed.status_code == 502 and "电话交换机拒绝了回访呼叫" in failed.text
    assert [f.get("State") for _, f in refusing.sent] == ["RINGING", None, "NOT_INUSE"]  # freed
    with transaction(loaded_engine) as session:
        outcomes = session.scalars(select(Call.outcome).where(Call.route_target == "callback"))
        assert sorted(o or "" for o in outcomes) == ["", "callback_failed"]
    api.client.app.state.ami = None


def test_times_are_the_citys(api: Any, loaded_engine: Engine) -> None:
    number = new_case(loaded_engine, "tz")
    with transaction(loaded_engine) as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        case.created_at = dt.datetime(2026, 12, 1, 1, 30, tzinfo=dt.UTC)
    sign_in(api.client, "dc_dispatcher")
    page = api.client.get(f"/cases/{number}").text
    assert "2026-12-01 09:30" in page and "Asia/Shanghai" in page


def test_what_the_system_wrote_reads_in_words(api: Any, loaded_engine: Engine) -> None:
    with transaction(loaded_engine) as session:
        asked = request_callback(
            session,
            call_id=None,
            caller=PHONE,
            queue="hotline-city",
            uniqueid="1700000000.9",
            zone=ZoneInfo("Asia/Shanghai"),
        )
        number = asked.number
    sign_in(api.client, "city_dispatcher")
    page = api.client.get(f"/cases/{number}").text
    assert "回电请求" in page and "来电人排队时请求回电" in page and "语音导航" in page
    assert 'id="act-register"' in page and 'id="act-mark_invalid"' in page
    assert visible_words(page) <= {"English", "Asia", "Shanghai"}, visible_words(page)
