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
