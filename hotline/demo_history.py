"""A plausible history for the demo: months of calls (``hotline.demo_calls``: as the IVR and
the call tracker write them) and of cases worked by the dispatch core's own services
(create, dispatch, accept, return, extension, urge, ledger, report, verify, rework, close,
escalate, the overdue sweep), each at its simulated moment, so every page that reports on
the past has something true to show. A phone case is registered from the call it came in on.
A caller who gave up waiting and pressed 1 leaves a callback request (``request_callback``,
as the IVR makes it); the desk calls back later that day (``start_callback``: a call record,
as from the case page), then registers the problem and it takes the usual roads, or closes
the request as not a case (a question the callback answered).

Nothing is written behind the services' back: each step is the call a page or the API
makes, with ``now`` set to the step's time; the overdue sweep runs every half hour of the
simulated clock as the scheduler would. The roads cases take come from a data file
(``data/demo/history.toml``); the same seed gives the same history. Demo only: the cases'
idempotency keys start with ``demo-history:`` (a callback request's key is the IVR's: it
names its call), the calls' ids with ``demo-``, and the citizens are ``演示市民``.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
import tomllib
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, or_, select
from sqlalchemy.orm import Session

from hotline.cases import kept_figures
from hotline.cases.calendar import load_calendar
from hotline.cases.callback import request_callback
from hotline.cases.case_calls import start_callback
from hotline.cases.overdue import sweep
from hotline.cases.reference import reference_data
from hotline.cases.rules import assign_unit
from hotline.cases.service import (
    BEIJING,
    Actor,
    CaseError,
    NewCase,
    create_case,
    decide_extension,
    dispatch_choices,
    get_case,
    request_extension,
    transition,
)
from hotline.db import transaction
from hotline.demo_calls import (
    CallbackRequest,
    CallMix,
    PhoneReport,
    PlacedCallback,
    generate_calls,
    track_callbacks,
)
from hotline.models import CASE_SOURCES, Area, Call, Case, GridCell, Unit, User
from hotline.refdata.files import DataError, DataErrors
from hotline.settings import PROJECT_ROOT
from hotline.users import add_user

HISTORY_MIX = PROJECT_ROOT / "data" / "demo" / "history.toml"
RATES = (
    "invalid",
    "duplicate",
    "escalate",
    "returned",
    "extension",
    "urge",
    "ledger",
    "late",
    "drags",
    "rework",
    "unsolved",
)
KEY_PREFIX = "demo-history:"
CALL_PREFIX = "demo-"  # the calls' uniqueids: demo-<seed>-<n>
SWEEP_EVERY = dt.timedelta(minutes=30)
GRACE = dt.timedelta(hours=4)
CITY = "110000"
BATCH = 400  # steps per transaction
ANOTHER_UNIT = "<another unit>"  # re-dispatch after a return: the driver picks one
IVR = Actor("ivr", "ivr", CITY)  # who makes a callback request (the IVR's own name)
# A callback request has the IVR's description and no name: the desk's decision on it says
# that it is demo data, as a generated case's citizen and description do.
DEMO_NOTE = "演示数据："


@dataclass(frozen=True)
class HistoryMix:
    """What the history looks like, from ``history.toml``."""

    per_day: int
    days: int
    sources: dict[str, float]
    districts: dict[str, float]
    classes: dict[tuple[str, str], float]
    rates: dict[str, float]
    satisfaction: dict[int, float]
    calls: CallMix


def load_mix(path: Path = HISTORY_MIX) -> HistoryMix:
    """The mix in ``path``, checked: every error names the file and the field."""
    errors: list[DataError] = []
    name = path.name

    def bad(where: str, message: str) -> None:
        errors.append(DataError(name, None, where, message))

    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DataErrors([DataError(name, None, None, str(exc))]) from exc

    def weights(section: str) -> dict[str, float]:
        table = data.get(section)
        if not isinstance(table, dict) or not table:
            bad(section, "a table of weights is required")
            return {}
        out = {}
        for key, value in table.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                bad(f"{section}.{key}", "a weight is a number of 0 or more")
            else:
                out[str(key)] = float(value)
        return out

    volume = data.get("volume", {})
    per_day, days = volume.get("cases_per_working_day"), volume.get("days")
    for key, value in (("cases_per_working_day", per_day), ("days", days)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 100_000:
            bad(f"volume.{key}", "a whole number from 1 to 100000")
    sources = weights("sources")
    for source in sources:
        if source not in CASE_SOURCES:
            bad(f"sources.{source}", f"not a case source ({', '.join(CASE_SOURCES)})")
    districts = weights("districts")
    for code in districts:
        if not (len(code) == 6 and code.isdigit()):
            bad(f"districts.{code}", "a district is a 6-digit area code")
    classes: dict[tuple[str, str], float] = {}
    for key, weight in weights("classes").items():
        kind, _, code = key.partition(":")
        if kind not in ("event", "component") or not (len(code) == 4 and code.isdigit()):
            bad(f"classes.{key}", "kind:code, e.g. event:0102")
        classes[(kind, code)] = weight
    rates = {}
    table = data.get("rates", {})
    for rate in RATES:
        value = table.get(rate)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            bad(f"rates.{rate}", "a share from 0 to 1")
        else:
            rates[rate] = float(value)
    for unknown in set(table) - set(RATES):
        bad(f"rates.{unknown}", f"not a known road ({', '.join(RATES)})")
    satisfaction = {}
    for key, weight in weights("satisfaction").items():
        if key not in {"1", "2", "3", "4", "5"}:
            bad(f"satisfaction.{key}", "satisfaction is 1 to 5")
        else:
            satisfaction[int(key)] = weight
    calls = data.get("calls", {})

    def number(key: str, low: float, high: float) -> float:
        value = calls.get(key)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not low <= value <= high
        ):
            bad(f"calls.{key}", f"a number from {low:g} to {high:g}")
            return low
        return float(value)

    talk = calls.get("talk_seconds")
    if not (
        isinstance(talk, list)
        and len(talk) == 2
        and all(isinstance(v, int | float) and 0 < v <= 7200 for v in talk)
        and talk[0] <= talk[1]
    ):
        bad("calls.talk_seconds", "[shortest, longest] seconds, 0 to 7200")
        talk = [60, 300]

    def span(key: str, high: float, what: str) -> tuple[float, float]:
        value = calls.get(key)
        if (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            and 0 <= value[0] <= value[1] <= high
        ):
            return float(value[0]), float(value[1])
        bad(f"calls.{key}", f"[{what}], 0 to {high:g}")
        return 0.0, high

    call_mix = CallMix(
        number("per_phone_case", 1, 10),
        number("city_share", 0, 1),
        number("mean_wait_seconds", 1, 3600),
        number("mean_patience_seconds", 1, 3600),
        (float(talk[0]), float(talk[1])),
        number("callback_share", 0, 1),
        span("callback_minutes", 1440, "soonest, latest minutes"),
        span("desk_hours", 24, "opens, closes, local hours"),
    )
    if errors:
        raise DataErrors(errors)
    return HistoryMix(
        int(per_day), int(days), sources, districts, classes, rates, satisfaction, call_mix
    )


@dataclass(frozen=True)
class Snap:
    """What a case's life needs to know after a step."""

    number: str
    version: int
    state: str
    unit_code: str | None
    due_at: dt.datetime | None
    district: str | None


@dataclass(frozen=True)
class Step:
    at: dt.datetime
    actor: Actor
    action: str  # a lifecycle action, or create / request_extension / decide_extension /
    # callback_request (the IVR's) / callback
    data: dict[str, Any] = field(default_factory=dict)
    new: NewCase | None = None
    key: str = ""
    lasts: dt.timedelta = dt.timedelta(0)  # a call: written only when it ended by the end


Life = Generator[Step, Snap, None]


@dataclass
class HistorySummary:
    cases: int = 0
    calls: int = 0  # the citizens' calls and the desk's callbacks
    callback_requests: int = 0
    steps: int = 0
    refused: int = 0  # steps refused (a case the sweep escalated meanwhile: the city redoes it)
    actions: Counter[str] = field(default_factory=Counter)  # with the sweep's escalations
    refusals: Counter[str] = field(default_factory=Counter)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class _World:
    """The reference the lives draw from: cells per district, the people who act."""

    def __init__(self, session: Session, mix: HistoryMix, rng: random.Random) -> None:
        self.mix, self.rng = mix, rng
        self.cells: dict[str, list[tuple[str, float, float]]] = {}
        for code, lon, lat in session.execute(
            select(GridCell.code, GridCell.centroid_lon, GridCell.centroid_lat).where(
                GridCell.active.is_(True)
            )
        ):
            self.cells.setdefault(code[:6], []).append((code, lon, lat))
        self.unit_scope = {
            code: district or CITY
            for code, district in session.execute(select(Unit.code, Unit.district_code))
        }
        self.rules = reference_data(session).assignment
        self.recent: dict[tuple[str, str, str], str] = {}  # district, kind, code → number
        self._accounts(session)
        # Who calls back: platform staff with a phone on their desk (the case page places
        # a callback from it), a dispatcher before a supervisor; the city's where a
        # district has none.
        self.callers_back: dict[str, Actor] = {}
        for username, role, scope in session.execute(
            select(User.username, User.role, User.scope_code)
            .where(
                User.role.in_(("dispatcher", "supervisor")),
                User.sip_endpoint.is_not(None),
                User.sip_endpoint != "",
                User.active.is_(True),
            )
            .order_by(User.role, User.username)
        ):
            self.callers_back.setdefault(scope, Actor(username, role, scope))
        self.placed: list[PlacedCallback] = []  # the callbacks, for the tracker's part

    def _accounts(self, session: Session) -> None:
        """The people the history names beyond data/demo/users.csv (a dispatcher for each
        district of the mix, an account for each unit), made as ``hotline user add`` makes
        them, so that every page shows a name, never a made-up username. They have no
        password: nobody signs in as them (and no argon2 hash is paid for each)."""
        areas = dict(session.execute(select(Area.code, Area.name_zh)).all())
        wanted: list[tuple[str, str, str, str | None, str]] = [
            (self.dispatcher(d).username, "dispatcher", d, None, f"{areas.get(d, d)}派遣员（演示）")
            for d in self.mix.districts
        ]
        wanted += [
            (self.unit(code).username, "unit", self.unit_scope[code], code, name)
            for code, name in session.execute(select(Unit.code, Unit.name_zh)).all()
        ]
        known = set(session.scalars(select(User.username)))
        for username, role, scope, unit, name in wanted:
            if username not in known:
                add_user(
                    session,
                    username,
                    None,
                    role,
                    scope,
                    display_name=name,
                    unit_code=unit,
                )
                known.add(username)

    def pick(self, weights: dict[Any, float]) -> Any:
        keys = list(weights)
        return self.rng.choices(keys, weights=[weights[k] for k in keys])[0]

    def chance(self, rate: str) -> bool:
        return self.rng.random() < self.mix.rates[rate]

    def minutes(self, low: float, high: float) -> dt.timedelta:
        return dt.timedelta(minutes=self.rng.uniform(low, high))

    @staticmethod
    def agent(district: str) -> Actor:
        names = {"110101": "dc_agent", "110102": "xc_agent"}
        return Actor(names.get(district, "city_agent"), "agent", district)

    @staticmethod
    def dispatcher(district: str) -> Actor:
        names = {"110101": "dc_dispatcher", CITY: "city_dispatcher"}
        return Actor(names.get(district, f"demo_dispatcher_{district}"), "dispatcher", district)

    def caller_back(self, district: str | None) -> Actor:
        return (
            self.callers_back.get(district or CITY)
            or self.callers_back.get(CITY)
            or self.dispatcher(CITY)
        )

    def unit(self, code: str) -> Actor:
        names = {"dongcheng.sanitation": "unit_dc_sanitation", "bj.water_supply": "unit_water"}
        return Actor(names.get(code, f"demo_{code}"), "unit", self.unit_scope[code], code)

    def life(
        self,
        created: dt.datetime,
        index: int,
        seed: int,
        source: str,
        district: str,
        call: PhoneReport | None = None,
    ) -> Life:
        """One case from registration to wherever the simulated clock leaves it (a phone
        case from the ``call`` it came in on)."""
        rng = self.rng
        kind, code = self.pick(self.mix.classes)
        new = NewCase(
            source=source,
            kind=kind,
            class_code=code,
            district_code=district,
            citizen_name="演示市民" if source != "field" else "",
            citizen_phone=call.caller if call else "",
            callback_consent=call is not None and rng.random() < 0.7,
            description="演示数据：自动生成的历史案件",
            call_id=call.call_id if call else None,
        )
        cells = self.cells.get(district)
        if cells:
            cell, lon, lat = rng.choice(cells)
            new.grid_code = cell
            new.lon, new.lat = lon, lat
            new.address = f"网格 {cell}"
        else:
            new.address = "演示地址"
        opener = self.agent(district)
        if source == "field" and district == "110101":
            opener = Actor("dc_inspector", "inspector", district)
        snap = yield Step(created, opener, "create", new=new, key=f"{KEY_PREFIX}{seed}:{index}")
        t = created + self.minutes(5, 90)
        if self.chance("invalid"):
            yield Step(t, self.dispatcher(district), "mark_invalid", {"note": "非城市管理问题"})
            return
        yield from self._work(snap, t, district, kind, code)

    def callback_life(self, request: CallbackRequest) -> Life:
        """A callback request from the IVR's step to wherever the clock leaves it: the
        desk calls back, then registers the problem (handing it down to its district when
        the request came to the city's queue) or closes it as not a case."""
        snap = yield Step(request.at, IVR, "callback_request", {"request": request})
        staff = self.caller_back(snap.district)
        t = self._callback_time(request.at)
        talk = dt.timedelta(seconds=self.rng.uniform(*self.mix.calls.talk))
        channel = f"{request.uniqueid}-cb"  # the staff leg's uniqueid, a demo call's
        snap = yield Step(t, staff, "callback", {"channel_id": channel}, lasts=talk)
        t += talk + self.minutes(0.5, 3)
        if not request.brings_case:
            yield Step(t, staff, "mark_invalid", {"note": f"{DEMO_NOTE}回电答复了咨询，不予立案"})
            return
        kind, code = self.pick(self.mix.classes)
        data = {"kind": kind, "class_code": code, "note": f"{DEMO_NOTE}回电核实后立案"}
        snap = yield Step(t, staff, "register", data)
        if snap.district is None:
            t += self.minutes(1, 15)
            data = {"district_code": request.district, "note": "回电确认问题所在区"}
            snap = yield Step(t, staff, "hand_down", data)
        t += self.minutes(5, 90)
        yield from self._work(snap, t, request.district, kind, code)

    def after_escalation(self, at: dt.datetime) -> Life:
        """A job the overdue sweep escalated to the city meanwhile (its unit's next step was
        refused): the city dispatches it again, and it is worked to the end. Before, such a
        case stayed escalated for good, and the city's 待派遣 held a year of them."""
        staff = self.dispatcher(CITY)
        t = at + self.minutes(30, 240)
        snap = yield Step(t, staff, "dispatch", {"unit_code": "auto"})
        unit = self.unit(snap.unit_code or "")
        t += self.minutes(5, 180)
        snap = yield Step(t, unit, "accept")
        t = self._report_time(t, snap.due_at, "")
        yield Step(t, unit, "report_handled", {"note": "已处置完毕"})
        t += self.minutes(30, 8 * 60)
        score = self.pick(self.mix.satisfaction)
        yield Step(t, staff, "verify", {"solved": True, "satisfaction": score, "note": "回访"})
        t += self.minutes(5, 240)
        yield Step(t, staff, "close", {"note": ""})

    def _callback_time(self, asked: dt.datetime) -> dt.datetime:
        """Later the same day while the desk works; a request after hours the next
        morning."""
        opens, closes = self.mix.calls.desk_hours
        local = (asked + self.minutes(*self.mix.calls.callback_minutes)).astimezone(BEIJING)
        day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        hour = (local - day_start).total_seconds() / 3600
        if hour < opens:
            local = day_start + dt.timedelta(hours=opens) + self.minutes(0, 60)
        elif hour >= closes:
            local = day_start + dt.timedelta(days=1, hours=opens) + self.minutes(0, 60)
        return local.astimezone(dt.UTC)

    def _work(self, snap: Snap, t: dt.datetime, district: str, kind: str, code: str) -> Life:
        """A registered case's roads from the dispatcher's desk on."""
        rng = self.rng
        staff = self.dispatcher(district)
        earlier = self.recent.get((district, kind, code))
        self.recent[(district, kind, code)] = snap.number
        if earlier and self.chance("duplicate"):
            yield Step(t, staff, "mark_duplicate", {"duplicate_of": earlier, "note": "重复上报"})
            return
        suggested = assign_unit(self.rules, kind, code, district)
        city_unit = suggested is not None and self.unit_scope.get(suggested) == CITY
        if city_unit or self.chance("escalate"):  # a city unit's job goes through the city
            snap = yield Step(t, staff, "escalate", {"note": "需市级协调处置"})
            staff = self.dispatcher(CITY)
            t += self.minutes(30, 240)
        snap = yield Step(t, staff, "dispatch", {"unit_code": "auto"})
        if self.chance("returned"):
            t += self.minutes(10, 120)
            yield Step(t, self.unit(snap.unit_code or ""), "return", {"note": "不属于本单位职责"})
            t += self.minutes(15, 120)
            snap = yield Step(t, staff, "dispatch", {"unit_code": ANOTHER_UNIT})
        unit = self.unit(snap.unit_code or "")
        t += self.minutes(5, 180)
        snap = yield Step(t, unit, "accept")
        if self.chance("extension"):
            t += self.minutes(60, 240)
            yield Step(t, unit, "request_extension", {"hours": 24, "note": "需协调车辆"})
            t += self.minutes(30, 120)
            approve = rng.random() < 0.8
            snap = yield Step(t, staff, "decide_extension", {"approve": approve})
        if self.chance("ledger"):
            t += self.minutes(60, 24 * 60)
            yield Step(t, staff, "to_ledger", {"note": "涉及历史遗留问题，暂无法处置"})
            t += dt.timedelta(days=rng.uniform(5, 40))
            snap = yield Step(t, staff, "resume", {"note": "具备处置条件"})
        lateness = "drags" if self.chance("drags") else "late" if self.chance("late") else ""
        if self.chance("urge") and snap.due_at is not None:
            t = max(t, snap.due_at - (snap.due_at - t) / 3)
            snap = yield Step(t, staff, "urge", {"note": "请抓紧处置"})
        for attempt in (1, 2):
            t = self._report_time(t, snap.due_at, lateness if attempt == 1 else "")
            yield Step(t, unit, "report_handled", {"note": "已处置完毕"})
            t += self.minutes(30, 8 * 60)
            if attempt == 1 and self.chance("rework"):
                snap = yield Step(t, staff, "rework", {"note": "现场仍未处理到位，请返工"})
                t += self.minutes(10, 120)
                snap = yield Step(t, unit, "accept")
                continue
            break
        solved = not self.chance("unsolved")
        score = self.pick(self.mix.satisfaction) if solved else rng.choice((1, 2))
        yield Step(t, staff, "verify", {"solved": solved, "satisfaction": score, "note": "回访"})
        t += self.minutes(5, 240)
        yield Step(t, staff, "close", {"note": ""})

    def _report_time(
        self, after: dt.datetime, due: dt.datetime | None, lateness: str
    ) -> dt.datetime:
        """When the unit reports the job handled: before its deadline, or ``late`` (hours
        after it: the sweep has marked it overdue), or it ``drags`` on for days (a district's
        job is escalated by the sweep meanwhile; a city unit's stays on the city's 已超期)."""
        if due is None:
            return after + self.minutes(60, 8 * 60)
        due = _aware(due)
        if lateness == "drags":
            return max(after, due) + self.minutes(6 * 60, 4 * 24 * 60)
        if lateness == "late":
            return max(after, due) + self.minutes(40, 180)
        if due <= after:
            return after + self.minutes(5, 30)
        return after + (due - after) * self.rng.uniform(0.15, 0.9)


def generate_history(
    engine: Engine,
    mix: HistoryMix | None = None,
    *,
    seed: int = 1,
    end: dt.datetime | None = None,
    days: int | None = None,
    per_day: int | None = None,
) -> HistorySummary:
    """Write ``days`` of history ending at ``end`` (now), ``per_day`` cases a working day."""
    mix = mix or load_mix()
    end = _aware(end or dt.datetime.now(dt.UTC))
    days = days or mix.days
    per_day = per_day or mix.per_day
    rng = random.Random(seed)
    summary = HistorySummary()
    with transaction(engine) as session:
        world = _World(session, mix, rng)
        calendar = load_calendar(session)
    start = end - dt.timedelta(days=days)
    order = itertools.count()
    heap: list[tuple[dt.datetime, int, Life, Step]] = []
    numbers: dict[int, str] = {}  # a life (by id) → its case's number

    def push(life: Life, step: Step | None) -> None:
        if step is not None and step.at + step.lasts <= end:
            heapq.heappush(heap, (step.at, next(order), life, step))
        elif step is not None:
            life.close()  # the rest of this life is in the future
            numbers.pop(id(life), None)

    index = 0
    calls: list[tuple[dt.datetime, str, str, bool]] = []  # answered, caller, district, a case?
    callers = [f"139{rng.randrange(10**8):08d}" for _ in range(max(50, per_day * days // 3))]
    extra_calls = mix.calls.per_phone_case - 1
    for day in range(days):
        date = (start + dt.timedelta(days=day)).date()
        working = calendar.is_workday(date)
        count = per_day if working else max(1, per_day // 4)
        for _ in range(count):
            # 07:00–21:00 Beijing time (UTC+8): 23:00–13:00 UTC the day before
            at = dt.datetime.combine(date, dt.time(), dt.UTC) + dt.timedelta(
                hours=rng.uniform(-1, 13)
            )
            if not start <= at <= end:
                continue
            source, district = world.pick(mix.sources), world.pick(mix.districts)
            if source == "phone":  # it comes in as a call; the case when the agent saves it
                calls.append((at, rng.choice(callers), district, True))
                whole, part = divmod(extra_calls, 1)
                for _ in range(int(whole) + (rng.random() < part)):
                    later = at + dt.timedelta(hours=rng.uniform(0, 3))
                    if later <= end:
                        calls.append((later, rng.choice(callers), district, False))
                continue
            index += 1
            life = world.life(at, index, seed, source, district)
            push(life, next(life))
    calls.sort()
    for report in generate_calls(engine, mix.calls, rng, calls, seed):
        if isinstance(report, CallbackRequest):
            summary.callback_requests += 1
            life = world.callback_life(report)
        else:
            index += 1
            life = world.life(report.saved_at, index, seed, "phone", report.district, report)
        push(life, next(life))
    summary.cases = index + summary.callback_requests
    clock = start
    superseded: set[int] = set()  # lives whose case the sweep escalated: the city goes on

    def city_takes_over(escalated: list[str], at: dt.datetime) -> None:
        lives = {number: life_id for life_id, number in numbers.items()}
        summary.actions["escalate"] += len(escalated)
        for number in escalated:
            if (life_id := lives.get(number)) is not None:
                superseded.add(life_id)
                del numbers[life_id]
            again = world.after_escalation(at)
            numbers[id(again)] = number
            push(again, next(again))

    while heap:
        with transaction(engine) as session:
            for _ in range(BATCH):
                if not heap:
                    break
                at, _, life, step = heapq.heappop(heap)
                while clock + SWEEP_EVERY <= at:
                    clock += SWEEP_EVERY
                    if escalated := sweep(session, clock, GRACE).escalated:
                        city_takes_over(escalated, clock)
                if id(life) in superseded:
                    superseded.discard(id(life))
                    life.close()
                    continue
                try:
                    snap = _apply(session, world, step, numbers.get(id(life), ""), calendar)
                except CaseError as exc:
                    summary.refused += 1
                    summary.refusals[f"{step.action}: {exc.error_id}"] += 1
                    life.close()
                    number = numbers.pop(id(life), None)
                    if number and _state(session, number) == "escalated":  # by the sweep
                        again = world.after_escalation(at)
                        numbers[id(again)] = number
                        push(again, next(again))
                    continue
                numbers[id(life)] = snap.number
                summary.steps += 1
                summary.actions[step.action] += 1
                try:
                    push(life, life.send(snap))
                except StopIteration:
                    numbers.pop(id(life), None)
    with transaction(engine) as session:
        sweep(session, end, GRACE)
        kept_figures.forget(session)  # figures kept of periods this history was written into
    track_callbacks(engine, world.placed)
    summary.calls = len(calls) + len(world.placed)
    return summary


def _state(session: Session, number: str) -> str | None:
    return session.scalar(select(Case.state).where(Case.number == number))


def _apply(session: Session, world: _World, step: Step, number: str, calendar: Any) -> Snap:
    """Do one step through the service a page would call, at the step's moment."""
    now = step.at
    if step.action == "create":
        assert step.new is not None
        case, _ = create_case(session, step.actor, step.new, step.key, now=now, calendar=calendar)
        return _snap(case)
    if step.action == "callback_request":
        asked: CallbackRequest = step.data["request"]
        case = request_callback(
            session,
            call_id=asked.call_id,
            caller=asked.caller,
            queue=asked.queue,
            uniqueid=asked.uniqueid,
            zone=BEIJING,
            now=now,
        )
        return _snap(case)
    if step.action == "callback":  # the page commits it, then Asterisk places the call
        placed = start_callback(
            session, step.actor, number, now=now, channel_id=str(step.data["channel_id"])
        )
        world.placed.append(PlacedCallback(placed.channel_id, now + step.lasts))
        session.flush()
        return _snap(get_case(session, step.actor, number))
    case = get_case(session, step.actor, number)
    if step.action == "request_extension":
        case = request_extension(
            session,
            step.actor,
            number,
            case.version,
            int(step.data["hours"]),
            str(step.data["note"]),
            now=now,
        )
    elif step.action == "decide_extension":
        case = decide_extension(
            session,
            step.actor,
            number,
            case.version,
            bool(step.data["approve"]),
            calendar,
            now=now,
        )
    else:
        data = dict(step.data)
        if data.get("unit_code") == ANOTHER_UNIT:
            allowed = [
                u
                for u in dispatch_choices(session, step.actor, case).allowed
                if u != case.unit_code
            ]
            data["unit_code"] = world.rng.choice(allowed) if allowed else "auto"
        case = transition(
            session, step.actor, number, step.action, case.version, data, now=now, calendar=calendar
        )
    session.flush()
    return _snap(case)


def _snap(case: Case) -> Snap:
    due = _aware(case.due_at) if case.due_at else None
    return Snap(case.number, case.version, case.state, case.unit_code, due, case.district_code)


def demo_cases(
    seed: int | None = None, call_ids: tuple[int, int] | None = None
) -> ColumnElement[bool]:
    """The generated cases (of ``seed``): their keys carry the demo's prefix, or they are
    callback requests left on the demo's calls (of ``call_ids``, the lowest and highest,
    when given: a range of the index, not a scan of every call)."""
    key = KEY_PREFIX if seed is None else f"{KEY_PREFIX}{seed}:"
    name = CALL_PREFIX if seed is None else f"{CALL_PREFIX}{seed}-"
    calls = select(Call.id).where(Call.uniqueid.like(f"{name}%"))
    if call_ids is not None:
        calls = calls.where(Call.id.between(*call_ids))
    return or_(
        Case.idempotency_key.like(f"{key}%"),
        and_(Case.source == "callback_request", Case.call_id.in_(calls)),
    )


def has_history(engine: Engine, seed: int | None = None) -> bool:
    """Whether generated history (of ``seed``, when given) is in the database already."""
    prefix = KEY_PREFIX if seed is None else f"{KEY_PREFIX}{seed}:"
    with transaction(engine) as session:
        return (
            session.scalar(select(Case.id).where(Case.idempotency_key.like(f"{prefix}%")).limit(1))
            is not None
        )


def iter_demo_cases(session: Session) -> Iterator[Case]:
    """The generated cases."""
    yield from session.scalars(select(Case).where(demo_cases()).order_by(Case.id))
