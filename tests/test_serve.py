"""``hotline serve --demo --config FILE`` starts the whole system: web and FastAGI answer on
the ports the file names."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, int, subprocess.Popen[str]]]:
    web, agi = free_port(), free_port()
    config = tmp_path / "hotline.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "demo.db"}"\nweb_workers = 2\n'
        f"[web]\nport = {web}\n[fastagi]\nport = {agi}\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "hotline", "serve", "--demo", "--config", str(config)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{web}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
            assert process.poll() is None, process.communicate()[0]
        yield web, agi, process
    finally:
        process.terminate()
        process.wait(timeout=20)
        if process.stdout is not None:
            process.stdout.close()


def test_serve_demo(served: tuple[int, int, subprocess.Popen[str]]) -> None:
    web, agi, process = served
    health = httpx.get(f"http://127.0.0.1:{web}/healthz", timeout=5).json()
    assert health["status"] == "ok" and health["grid_cells"] == 11701
    page = httpx.get(f"http://127.0.0.1:{web}/", timeout=5, follow_redirects=True)
    assert page.url.path == "/login" and "城市管理热线" in page.text  # sign in first
    status = httpx.get(f"http://127.0.0.1:{web}/status", timeout=5)
    assert "单元网格" in status.text
    with socket.create_connection(("127.0.0.1", agi), timeout=5) as sock:
        sock.sendall(b"agi_network: yes\nagi_network_script: ivr\nagi_uniqueid: t-1\n\n")
        sock.settimeout(10)
        assert sock.recv(4096) is not None  # the server answers or closes; it does not hang
    process.terminate()
    output = process.communicate(timeout=20)[0]
    assert "Demo ready" in output and "dc_agent" in output
    # on uvloop, start-up's objects kept out of the GC's full passes (hotline.service)
    frozen = re.search(r"\(uvloop loop; (\d+) start-up objects frozen", output)
    assert frozen is not None and int(frozen.group(1)) > 10_000, output
    assert process.returncode == 0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _wait_for(check: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds:g} s")


def _web_answers(web: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{web}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _web_children(pid: int) -> list[int]:
    return [
        c
        for c in _children(pid)
        if "hotline-web" in Path(f"/proc/{c}/cmdline").read_text()
        or "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()
    ]


def test_pages_run_in_processes_of_their_own(
    served: tuple[int, int, subprocess.Popen[str]],
) -> None:
    """The web pages are children of ``hotline serve`` (``web_workers = 2``), all on the
    one web port: one killed, the other serves the pages while it comes back, and FastAGI
    (the callers' side, in the parent) never stops answering; when the parent ends, so do
    the children."""
    web, agi, process = served
    web_pids = _web_children(process.pid)
    assert len(web_pids) == 2, _children(process.pid)
    # callers first: the pages run at a lower CPU priority than the telephony
    assert [_nice(pid) for pid in web_pids] == [_nice(process.pid) + 5] * 2
    # /metrics (a web process) counts the calls in the IVR (telephony process)
    with socket.create_connection(("127.0.0.1", agi), timeout=5) as call:
        call.sendall(b"agi_network: yes\nagi_network_script: ivr\nagi_uniqueid: t-2\n\n")
        call.settimeout(10)
        assert call.recv(4096)  # the IVR's first command: the call is in the IVR
        _wait_for(
            lambda: all(
                "hotline_calls_in_ivr 1.0"
                in httpx.get(f"http://127.0.0.1:{web}/metrics", timeout=2).text
                for _ in range(6)  # whichever process answers
            ),
            10,
        )
    os.kill(web_pids[0], 9)
    with socket.create_connection(("127.0.0.1", agi), timeout=5):
        pass  # the callers' side answers while a web process is down
    assert all(_web_answers(web) for _ in range(10))  # the other one serves meanwhile
    _wait_for(lambda: web_pids[0] not in _children(process.pid))
    _wait_for(lambda: len(_web_children(process.pid)) == 2)
    again = _web_children(process.pid)
    assert web_pids[1] in again, "the other web process was disturbed"
    process.terminate()
    output = process.communicate(timeout=40)[0]
    assert "the web process ended" in output and "starting it again" in output
    assert "2 processes of their own" in output
    assert process.returncode == 0
    for pid in again:
        _wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists(), 10)


def test_a_burst_of_connections_is_spread_over_the_web_processes(
    served: tuple[int, int, subprocess.Popen[str]],
) -> None:
    """Twenty browsers opening their connection at once (a shift starting): both web
    processes get some. With one listening socket shared by both, the process that woke
    first accepted all twenty, and each browser keeps its connection."""
    web, _, process = served
    web_pids = _web_children(process.pid)
    assert len(web_pids) == 2
    connections = [socket.create_connection(("127.0.0.1", web), timeout=5) for _ in range(20)]
    try:
        for connection in connections:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        for connection in connections:
            assert connection.recv(4096).startswith(b"HTTP/1.1 200")  # kept open
        held = {pid: _connections_on(pid, web) for pid in web_pids}
        assert sum(held.values()) == 20 and min(held.values()) >= 3, held
    finally:
        for connection in connections:
            connection.close()


def _connections_on(pid: int, port: int) -> int:
    """How many established TCP connections to ``port`` the process ``pid`` holds."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                established.add(fields[9])  # the socket's inode
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            held += target.startswith("socket:[") and target[8:-1] in established
    return held
