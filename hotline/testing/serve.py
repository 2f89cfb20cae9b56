"""``hotline serve`` processes in tests: app instances started as an operator starts them,
configured through the environment, their output kept in a file shown when a test fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hotline.settings import AmiNode, Settings
from hotline.testing.pbx import free_port


def ami_environment(nodes: list[AmiNode]) -> str:
    """``HOTLINE_AMI``: the nodes as JSON, secrets in clear (it is the process's config)."""
    return json.dumps(
        [
            {
                "name": node.name,
                "host": node.host,
                "port": node.port,
                "username": node.username,
                "secret": node.secret.get_secret_value(),
                "sip": node.sip,
            }
            for node in nodes
        ]
    )


def app_environment(settings: Settings, db_url: str, agi_port: int) -> dict[str, str]:
    """What an app instance of the tests is configured with: ``settings``' AMI nodes and
    telephony, the database, its own FastAGI port, no wrap-up."""
    return {
        "HOTLINE_DATABASE_URL": db_url,
        "HOTLINE_FASTAGI__PORT": str(agi_port),
        "HOTLINE_AMI": ami_environment(settings.ami),
        "HOTLINE_AGENT_INTERFACE": settings.agent_interface,
        "HOTLINE_AGENT_STATE_INTERFACE": settings.agent_state_interface,
        "HOTLINE_EMERGENCY_DIAL": settings.emergency_dial,
        "HOTLINE_WRAPUP_SECONDS": "0",
    }


class Instance:
    """One ``hotline serve`` process on a web port of its own."""

    def __init__(self, name: str, environment: dict[str, str], work: Path) -> None:
        self.name, self.web = name, free_port()
        self.output = work / f"{name}.log"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        self._log_file = self.output.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hotline", "serve"],
            env=inherited | environment | {"HOTLINE_WEB__PORT": str(self.web)},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.web}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not start:\n{self.log()}")

    def log(self) -> str:
        return self.output.read_text("utf-8", "replace")[-4000:]

    def full_log(self) -> str:
        return self.output.read_text("utf-8", "replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.close()


def sign_in(client: httpx.Client, user: str, password: str) -> str:
    """Sign in; the desktop's CSRF token."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    done = client.post(
        "/login", data={"username": user, "password": password, "csrf_token": token.group(1)}
    )
    assert done.status_code == 303, done.text
    desk = client.get("/")
    csrf = re.search(r'csrf: "([^"]+)"', desk.text)
    assert desk.status_code == 200 and csrf is not None, desk.text[:300]
    return csrf.group(1)
