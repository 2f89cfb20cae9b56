"""``hotline serve --demo --config FILE`` starts the whole system: web and FastAGI answer on
the ports the file names."""

from __future__ import annotations

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
        f'database_url = "sqlite:///{tmp_path / "demo.db"}"\n'
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


def test_serve_demo(served: tuple[int, int, subprocess.Popen[str]]) -> None:
    web, agi, process = served
    health = httpx.get(f"http://127.0.0.1:{web}/healthz", timeout=5).json()
    assert health["status"] == "ok" and health["grid_cells"] == 5221
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
