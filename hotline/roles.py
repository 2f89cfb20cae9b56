"""Who works where: the roles of the people and systems that use the hotline.

* agent (受理员): takes calls and registers cases (from calls, walk-ins and other
  sources); sees the cases they registered and, on the screen pop, the caller's history;
  never dispatches or closes.
* dispatcher (派遣员): a platform's case worker: dispatches and re-dispatches, urges late
  units, decides extensions, verifies, closes, sends back for rework, escalates (a district)
  or hands down (the city), puts cases on the ledger, marks invalid and duplicate cases;
  reads the ledger, the evaluation and the case report of their platform's scope.
* supervisor (值班长): all a dispatcher does, plus the call centre: the wallboard, the
  calls report and control over the agents' phones; and recomputes a past period's kept
  figures (evaluation, case report, ledger, monthly report) of their platform's scope
  after a case was corrected (``RECOMPUTE``).
* unit (责任单位): handles the jobs dispatched to it and reports back.
* inspector (城管监督员): files field reports from the street.
* admin: user accounts and queue memberships.

A platform role's scope is a district (its district's cases) or the city (every case).
API tokens carry the same roles and scopes as people.
"""

from __future__ import annotations

ROLES = ("agent", "dispatcher", "supervisor", "unit", "admin", "inspector")
PLATFORM_STAFF = frozenset({"dispatcher", "supervisor"})  # work cases after registration
DESK = frozenset({"agent", "dispatcher", "supervisor"})  # register cases at the desk
TOKEN_ROLES = ("unit", "agent", "dispatcher", "supervisor")
# Recompute a past period's kept figures: the figures a page shows them are their scope's
# (a district's supervisor their district's), so the role alone decides. Not the admin, who
# sees no cases and no figures.
RECOMPUTE = frozenset({"supervisor"})
