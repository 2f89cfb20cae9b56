"""Which Asterisk node a callback or a listen-in is placed through: the call's own node when
it is up, another node that is up when it is not (a node down must not silence them)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from agent_ui.live.phone import live_client


def _node(name: str, up: bool) -> Any:
    connected = asyncio.Event()
    if up:
        connected.set()
    return SimpleNamespace(name=name, connected=connected)


def test_the_calls_own_node_first_then_any_node_that_is_up() -> None:
    a, b = _node("node-a", up=True), _node("node-b", up=True)
    state = SimpleNamespace(ami=a, ami_clients=[a, b])
    a_up = a.connected
    assert live_client(state) is a
    assert live_client(state, "node-b") is b
    assert live_client(state, "elsewhere") is a
    a_up.clear()  # node-a killed
    assert live_client(state) is b
    assert live_client(state, "node-a") is b


def test_with_every_node_down_the_first_answers_with_its_refusal() -> None:
    a, b = _node("node-a", up=False), _node("node-b", up=False)
    assert live_client(SimpleNamespace(ami=a, ami_clients=[a, b])) is a
    assert live_client(SimpleNamespace(ami=None, ami_clients=[])) is None
    one = _node("one", up=True)  # one node, the usual set-up
    assert live_client(SimpleNamespace(ami=one, ami_clients=[one])) is one
