"""The schemathesis CLI, every check on, against a real `tactful serve` over HTTP (SPEC §7).

This is the outside check as an operator would run it: the served OpenAPI document drives
generated valid and invalid requests (examples, coverage, fuzzing and stateful phases)
through uvicorn, so the schema, the routes, the error shapes, the ``Allow`` headers and the
declared security are all checked together. It is bounded: ``MAX_EXAMPLES`` cases per
operation with a fixed seed, one worker, and a hard timeout (about a minute on 2 cores).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tactful import Engine, Event, Settings
from tactful.security.keys import KeyRing
from tests.conftest import media_items
from tests.web.conftest import free_port

MAX_EXAMPLES = 25
SEED = 20261201
TIMEOUT_SECONDS = 300
ST = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    data = tmp_path_factory.mktemp("schemathesis")
    with Engine(Settings(data_dir=data)) as engine:
        engine.upsert_items(media_items())
        engine.ingest([Event(user_id=f"c{u}", item_id=f"rock-{u % 8}", type="like") for u in range(20)])
        secret = KeyRing(engine.store, engine.clock).create("fuzz", ["admin"]).secret
    port = free_port()
    env = {
        **os.environ,
        # the run sends thousands of requests from one address, many deliberately unauthenticated
        "TACTFUL_AUTH__RATE_LIMIT__PER_SECOND": "1000000",
        "TACTFUL_AUTH__RATE_LIMIT__BURST": "10000000",
        "TACTFUL_AUTH__FAILED_AUTH__ENABLED": "false",
        "TACTFUL_MODELS__RETRAIN_EVERY_MINUTES": "0",
    }
    cmd = [sys.executable, "-m", "tactful.cli.main", "serve", "--data-dir", str(data), "--port", str(port)]
    log = (data / "server.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError("server exited: " + (data / "server.log").read_text()[-2000:])
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in time")
            time.sleep(0.3)
        yield base, secret
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def summary(output: str) -> dict[str, int]:
    """Cases generated and unique failures, from the CLI's closing lines."""
    found = re.search(r"(\d+) generated, (?:(\d+) found (\d+) unique failures|(\d+) passed)", output)
    if found is None:
        return {}
    generated = int(found.group(1))
    return {"generated": generated, "unique_failures": int(found.group(3) or 0)}


@pytest.mark.slow
def test_schemathesis_every_check_passes(live_server: tuple[str, str], tmp_path: Path) -> None:
    assert ST is not None, "schemathesis (the test extra) is not installed"
    base, secret = live_server
    cmd = [
        ST,
        "run",
        f"{base}/openapi.json",
        "--checks",
        "all",
        "-H",
        f"Authorization: Bearer {secret}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        # one worker: with two threads, Hypothesis' ast.parse of filter lambdas can race in
        # CPython 3.11 and crash the run ("AST constructor recursion depth mismatch")
        "--workers",
        "1",
        "--no-color",
        "--generation-database",
        "none",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks", "PYTHONPATH": str(root)}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, cwd=tmp_path, env=env)
    figures = summary(run.stdout)
    print(json.dumps(figures))
    assert run.returncode == 0 and figures.get("unique_failures") == 0, run.stdout[-12000:]
    assert figures["generated"] >= 29 * 10, figures  # every operation got real cases
