"""A test caller's call, for the tests and the benchmarks: one AMI Originate.

The caller's side runs a script of ``[test-caller]`` (hotline/testing/extensions_local.conf:
``keys`` presses ``KEYS`` after ``PRE`` seconds and stays ``HOLD`` seconds, ``quit`` hangs up
after ``PRE``, ...); the other side is the hotline: ``Local/<number>@hotline/n`` on one
Asterisk (:func:`hotline_channel`), or ``PJSIP/<number>@proxy`` from the carrier through the
SIP proxy of several nodes (:func:`proxy_channel`)."""

from __future__ import annotations

from typing import Any

from agi.ami import AmiClient
from agi.ami_protocol import Message

HOTLINE_NUMBER = "12319"


def hotline_channel(number: str = HOTLINE_NUMBER) -> str:
    """The hotline's ``number`` dialled inside the same Asterisk."""
    return f"Local/{number}@hotline/n"


def proxy_channel(number: str = HOTLINE_NUMBER) -> str:
    """The hotline's ``number`` dialled from the carrier (the world instance) via the proxy."""
    return f"PJSIP/{number}@proxy"


async def place_call(
    ami: AmiClient,
    caller: str,
    *,
    channel: str | None = None,
    script: str = "keys",
    name: str = "Citizen",
    **variables: object,
) -> Message:
    """Originate a call from ``caller`` (shown as ``name``) to ``channel`` (default: the
    hotline's number on the same Asterisk), the caller running ``script`` with
    ``variables`` (KEYS, PRE, HOLD, ...). Asynchronous: returns Asterisk's answer to the
    action, not the call's outcome (OriginateResponse and the call's events tell that). The
    hotline side has 30 s to answer."""
    fields: dict[str, Any] = {
        "Channel": channel or hotline_channel(),
        "Context": "test-caller",
        "Exten": script,
        "Priority": "1",
        "CallerID": f'"{name}" <{caller}>',
        "Async": "true",
        "Timeout": "30000",
    }
    if variables:
        fields["Variable"] = [f"{key}={value}" for key, value in variables.items()]
    return await ami.action("Originate", **fields)
