"""A fresh virtual environment with the base package only (no extras) runs the demo and the API.

The install uses the project's constraints file and pip's usual sources (its cache and the
machine's wheel folders first), so it is bounded by the time pip needs to resolve the base
dependencies; every command after it has its own time limit.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# (opentelemetry's API comes with FastAPI itself; the otel extra adds the SDK)
EXTRA_MODULES = (
    "matplotlib",
    "pyarrow",
    "hnswlib",
    "pyspark",
    "psycopg",
    "redis",
    "opentelemetry.sdk",
    "pytest",
)
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(cmd: list[str], timeout: float, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def test_base_install_without_extras_runs_the_demo_and_serves(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python, tactful = str(venv / "bin" / "python"), str(venv / "bin" / "tactful")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TACTFUL_", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    install = run(
        [python, "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), str(ROOT)],
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    probe = (
        "import importlib.util, json, sys\n"
        "def has(m):\n"
        "    try:\n"
        "        return importlib.util.find_spec(m) is not None\n"
        "    except ModuleNotFoundError:\n"
        "        return False\n"
        "print(json.dumps({m: has(m) for m in sys.argv[1:]}))"
    )
    found = json.loads(run([python, "-c", probe, *EXTRA_MODULES], 60, env, tmp_path).stdout)
    assert not any(found.values()), f"the base install pulled optional packages: {found}"

    version = run([tactful, "--version"], 60, env, tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("tactful "), version.stderr

    data = tmp_path / "data"
    demo = run([tactful, "--data-dir", str(data), "demo", "--no-serve", "--people", "30"], 300, env, tmp_path)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert (data / "tactful.sqlite3").is_file() and (data / "models" / "CURRENT").is_file()

    # an optional part asked for without its extra: one line naming it, exit 2
    log = tmp_path / "plays.parquet"
    log.write_bytes(b"PAR1")
    missing = run([tactful, "evaluate", "events", str(log)], 120, env, tmp_path)
    lines = [line for line in missing.stderr.splitlines() if line.strip()]
    assert missing.returncode == 2 and len(lines) == 1, missing.stderr
    assert "pip install 'tactful[parquet]'" in lines[0]

    port = free_port()
    server = subprocess.Popen(
        [tactful, "--data-dir", str(data), "serve", "--no-auth", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        health = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/v1/health", timeout=2) as response:
                    health = json.loads(response.read())
                    break
            except OSError:
                time.sleep(0.3)
        assert health is not None, "the server never answered /v1/health"
        with urllib.request.urlopen(
            f"{base}/v1/users/listener-0001/recommendations?n=5", timeout=10
        ) as response:
            recs = json.loads(response.read())
        assert response.status == 200 and len(recs["items"]) == 5 and recs.get("model_version")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - only if shutdown hangs
            server.kill()
            server.wait(timeout=10)
