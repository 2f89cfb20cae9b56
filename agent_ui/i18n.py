"""Page texts in zh-CN (the default) and English; the language comes from ``?lang=`` or the
``lang`` cookie."""

from __future__ import annotations

from fastapi import Request

TEXTS: dict[str, tuple[str, str]] = {
    "title": ("城市管理热线", "City management hotline"),
    "login": ("登录", "Sign in"),
    "logout": ("退出", "Sign out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "bad_login": ("用户名或密码错误", "Wrong username or password"),
    "too_many": ("登录失败次数过多，请稍后再试", "Too many failed sign-ins; try again later"),
    "my_jobs": ("我的任务", "My jobs"),
    "no_jobs": ("暂无任务", "No jobs"),
    "case": ("案件", "Case"),
    "state": ("状态", "State"),
    "due": ("处置期限", "Due"),
    "overdue": ("已超期", "Overdue"),
    "address": ("地址", "Address"),
    "description": ("问题描述", "Description"),
    "class": ("类别", "Class"),
    "note": ("说明", "Note"),
    "photo": ("照片", "Photo"),
    "hours": ("延长工作小时数", "Extra working hours"),
    "accept": ("接收任务", "Accept"),
    "return": ("非本单位职责，退回", "Not ours: return"),
    "report_handled": ("反馈处置结果", "Report handled"),
    "request_extension": ("申请延期", "Request an extension"),
    "back": ("返回", "Back"),
    "done": ("已提交", "Saved"),
    "switch": ("English", "中文"),
    "agent_state": ("坐席状态", "State"),
    "agent_ready": ("就绪", "Ready"),
    "agent_pause": ("小休", "Pause"),
    "agent_leave": ("签出", "Leave queues"),
    "agent_logged_out": ("未签入", "Not in queues"),
    "agent_paused": ("小休", "Paused"),
    "reason_meal": ("用餐", "Meal"),
    "reason_training": ("培训", "Training"),
    "reason_after_call_work": ("话后处理", "After-call work"),
    "reason_meeting": ("会议", "Meeting"),
    "reason_other": ("其他", "Other"),
    "incoming": ("来电", "Caller"),
    "waited": ("等待", "waited"),
    "district": ("区", "District"),
    "grid": ("网格", "Grid cell"),
    "intent": ("意图", "Intent"),
    "earlier": ("既往案件", "Earlier cases"),
    "nearby": ("附近未结案件", "Open cases nearby"),
    "new_case": ("登记案件", "New case"),
    "class_hint": ("名称、别名、拼音首字母或编码", "Name, alias, pinyin initials or code"),
    "place": ("位置", "Place"),
    "place_hint": ("街道、社区、道路或地标", "Street, community, road or landmark"),
    "urgency": ("紧急程度", "Urgency"),
    "normal": ("一般", "Normal"),
    "urgent": ("紧急", "Urgent"),
    "citizen": ("市民姓名", "Citizen's name"),
    "phone": ("联系电话", "Phone"),
    "consent": ("同意回访", "Agrees to a callback"),
    "save_case": ("保存立案", "Register the case"),
    "case_number": ("案件编号（请告知市民）", "Case number (read it to the caller)"),
    "next_case": ("下一个", "Next"),
    "agent_ready_state": ("就绪", "Ready"),
    "state_dispatched": ("已派遣", "Dispatched"),
    "state_in_progress": ("处理中", "In progress"),
    "state_rework": ("返工", "Rework"),
    "state_handled": ("已反馈", "Handled"),
    "state_returned": ("已退回", "Returned"),
}


def language(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get("lang") or "zh"
    return "en" if chosen == "en" else "zh"


def translator(request: Request) -> dict[str, str]:
    index = 1 if language(request) == "en" else 0
    return {key: pair[index] for key, pair in TEXTS.items()}
