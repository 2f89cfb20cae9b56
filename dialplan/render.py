"""Render the Asterisk configuration from the reference data and the settings.

Structure lives in ``templates/*.conf.j2``; platforms, queues, numbers and agent phones come
from the database (loaded from the data files). Secrets come from the settings: the AMI
secret and ``sip_secret``, from which each agent phone's password is derived.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import Engine, select

from hotline.db import transaction
from hotline.models import CallPlatform, User
from hotline.settings import AmiNode, Settings

TEMPLATES = Path(__file__).parent / "templates"

# The extension the attended transfer dials in [hotline-consult]: digits, because Atxfer
# sends it as DTMF.
CONSULT_EMERGENCY = "110"
# How long a callback (回访) rings the citizen before it gives up.
CALLBACK_RING_SECONDS = 45


class RenderError(ValueError):
    """The configuration cannot be rendered as asked (a missing secret, no platforms)."""


@dataclass(frozen=True)
class AgentPhone:
    endpoint: str
    name: str
    password: str


def sip_password(secret: str, endpoint: str) -> str:
    """A phone's SIP password: an HMAC of its endpoint name under ``sip_secret``."""
    return hmac.new(secret.encode(), endpoint.encode(), hashlib.sha256).hexdigest()[:24]


def node_named(settings: Settings, name: str) -> AmiNode:
    """The AMI node called ``name``; RenderError naming the nodes there are if none is."""
    for node in settings.ami:
        if node.name == name:
            return node
    known = ", ".join(n.name for n in settings.ami) or "none"
    raise RenderError(f"ami: no node named {name!r} (configured: {known})")


def for_node(settings: Settings, node: AmiNode) -> Settings:
    """The settings one node of several is rendered with: its AMI node first, AMI bound to
    its host, SIP to its ``sip`` address."""
    if not node.sip:
        raise RenderError(f"ami: node {node.name!r} has no sip address (host:port)")
    others = [n for n in settings.ami if n.name != node.name]
    return settings.model_copy(
        update={"ami": [node, *others], "ami_bind": node.host, "sip_bind": node.sip}
    )


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0] if ":" in address else address


def render_context(
    settings: Settings, engine: Engine, *, sip: bool = True, node: str = ""
) -> dict[str, Any]:
    if not settings.ami:
        raise RenderError("ami: configure at least one Asterisk node")
    if node:
        settings = for_node(settings, node_named(settings, node))
    ami = settings.ami[0]
    if not ami.secret.get_secret_value():
        raise RenderError("ami.secret: set it in your config file or HOTLINE_AMI")
    sip_secret = settings.sip_secret.get_secret_value()
    with transaction(engine) as session:
        platforms = session.scalars(
            select(CallPlatform).where(CallPlatform.active.is_(True)).order_by(CallPlatform.code)
        ).all()
        users = session.scalars(
            select(User)
            .where(User.active.is_(True), User.sip_endpoint.is_not(None))
            .order_by(User.sip_endpoint)
        ).all()
        agents = [(u.sip_endpoint or "", u.display_name) for u in users]
    city = next((p for p in platforms if p.level == "city"), None)
    if city is None:
        raise RenderError("platforms: no city platform; run `hotline data load` first")
    if agents and not sip_secret:
        raise RenderError("sip_secret: set it to derive the agent phones' passwords")
    return {
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "agi_host": settings.fastagi_url_host or settings.fastagi.host,
        "agi_port": settings.fastagi.port,
        "hotline_number": settings.hotline_number,
        "emergency_dial": settings.emergency_dial,
        "emergency_ring_seconds": settings.emergency_ring_seconds,
        "callback_dial": settings.callback_dial.replace("{number}", "${EXTEN}"),
        "callback_ring_seconds": CALLBACK_RING_SECONDS,
        "consult_emergency": CONSULT_EMERGENCY,
        "queue_max_wait": settings.queue_max_wait_seconds,
        "city": city,
        "platforms": platforms,
        "districts": [p for p in platforms if p.level == "district"],
        "agents": [
            AgentPhone(e, n.replace('"', ""), sip_password(sip_secret, e)) for e, n in agents
        ],
        "sip": sip,
        "sip_bind": settings.sip_bind,
        "sip_host": _host(settings.sip_bind),
        "node_name": node,
        "sip_proxy": settings.sip_proxy,
        "proxy_host": _host(settings.sip_proxy),
        "ami": {
            "port": ami.port,
            "bind": settings.ami_bind,
            "username": ami.username,
            "secret": ami.secret.get_secret_value(),
            "permit": settings.ami_permit,
        },
        "module_dir": settings.asterisk_module_dir,
        "max_calls": 2000,
        "moh_directory": "/usr/share/asterisk/sounds/en/silence",
        "rtp_start": settings.rtp_start,
        "rtp_end": settings.rtp_end,
    }


def _environment(folder: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(
    settings: Settings, engine: Engine, out: Path, *, sip: bool = True, node: str = ""
) -> list[Path]:
    """Write every ``*.conf`` into ``out``; return the files written. ``node``: for that
    one of several nodes behind the SIP proxy (its AMI and SIP addresses, its system name)."""
    return _write(TEMPLATES, "*.conf.j2", render_context(settings, engine, sip=sip, node=node), out)


def _write(folder: Path, pattern: str, context: dict[str, Any], out: Path) -> list[Path]:
    """Render each template of ``folder`` matching ``pattern`` into ``out`` (less ``.j2``)."""
    environment = _environment(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for template in sorted(folder.glob(pattern)):
        target = out / template.name.removesuffix(".j2")
        target.write_text(environment.get_template(template.name).render(context), "utf-8")
        written.append(target)
    return written


PROXY_TEMPLATES = TEMPLATES / "kamailio"


def render_proxy(settings: Settings, engine: Engine, out: Path) -> list[Path]:
    """Write Kamailio's ``kamailio.cfg`` and ``dispatcher.list`` into ``out``: the SIP proxy
    in front of the nodes (``ami`` entries with a ``sip`` address), which takes the agents'
    registrations (passwords derived from ``sip_secret``) and spreads the trunks' calls."""
    if not settings.sip_proxy:
        raise RenderError("sip_proxy: set the proxy's address (host:port)")
    nodes = [n for n in settings.ami if n.sip]
    if not nodes:
        raise RenderError("ami: no node has a sip address for the proxy to send calls to")
    context = render_context(settings, engine)
    context |= {
        "proxy_listen": settings.sip_proxy,
        "nodes": nodes,
        "trunks": settings.sip_trunks,
    }
    return _write(PROXY_TEMPLATES, "*.j2", context, out)
