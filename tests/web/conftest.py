"""Real servers and one real Chromium for the browser tests (Debian's /usr/bin/chromium).

Two servers on one demo data folder: ``tactful demo`` (demo mode, authentication off) and
``tactful serve`` with keys on a copy of its data. Screenshots go to
``test-artifacts/screenshots`` (gitignored).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tactful.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout


def _start(args: list[str], base: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tactful.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("server did not start in time")


@dataclass(frozen=True)
class Servers:
    demo: str
    serve: str
    admin_key: str
    data: Path

    def token(self, user: str) -> str:
        return _cli("token", "issue", user, "--data-dir", str(self.data)).strip().splitlines()[-1]


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    demo_data = tmp_path_factory.mktemp("demo")
    serve_data = tmp_path_factory.mktemp("serve")
    demo_port, serve_port = free_port(), free_port()
    demo = _start(
        ["demo", "--port", str(demo_port), "--people", "40", "--data-dir", str(demo_data)],
        f"http://127.0.0.1:{demo_port}",
    )
    procs = [demo]
    try:
        _cli("demo", "--no-serve", "--people", "20", "--data-dir", str(serve_data))
        key = _cli(
            "keys", "create", "--name", "browser-test", "--scope", "admin", "--data-dir", str(serve_data)
        )
        secret = next(line for line in key.splitlines() if line.startswith("tk_"))
        procs.append(
            _start(
                ["serve", "--port", str(serve_port), "--data-dir", str(serve_data)],
                f"http://127.0.0.1:{serve_port}",
            )
        )
        yield Servers(f"http://127.0.0.1:{demo_port}", f"http://127.0.0.1:{serve_port}", secret, serve_data)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    try:
        import playwright.sync_api as playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        if os.environ.get("CI"):
            raise
        pytest.skip("playwright not installed")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError("CI needs Debian's chromium for the browser tests")
        pytest.skip("chromium not installed")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


OPS_EXPERIMENT = "exp-browser"
OPS_PEOPLE = [f"listener-{n:04d}" for n in range(8)]


@pytest.fixture(scope="session")
def ops(servers: Servers) -> str:
    """On the keyed server, through the HTTP API: one running experiment people were exposed
    to, and digests planned into the outbox for two people. Returns the experiment id."""
    auth = {"Authorization": f"Bearer {servers.admin_key}"}
    with httpx.Client(base_url=servers.serve, headers=auth, timeout=30) as api:
        created = api.post(
            "/v1/experiments",
            json={
                "id": OPS_EXPERIMENT,
                "name": "Policies off on home",
                "description": "Browser-test experiment",
                "rollout": {"steps": [{"percent": 100}]},
                "variants": [
                    {"name": "control"},
                    {"name": "no_policy", "config": {"policy": {"enabled": False}}},
                ],
            },
        )
        assert created.status_code == 201, created.text
        assert api.post(f"/v1/experiments/{OPS_EXPERIMENT}/start").status_code == 200
        for person in OPS_PEOPLE:
            assert api.get(f"/v1/users/{person}/recommendations", params={"n": 4}).status_code == 200
        for person in OPS_PEOPLE[:2]:
            changed = api.patch(
                f"/v1/users/{person}/message-preferences",
                json={
                    "channels": ["email"],
                    "email": f"{person}@mail.example",
                    "topics": {"digest": "opted_in"},
                    "cadence": {"kind": "daily"},
                    "window": {"start": "00:00", "end": "23:59"},
                },
            )
            assert changed.status_code == 200, changed.text
        planned = api.post("/v1/messages/plan", json={"user_ids": OPS_PEOPLE[:2]})
        assert planned.status_code == 200, planned.text
    time.sleep(0.5)  # the exposure log flushes every 0.25 s
    return OPS_EXPERIMENT
