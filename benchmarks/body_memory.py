"""Peak memory of a real server while it is sent a huge chunked body.

Starts ``tactful serve`` (authentication on, one ingest key), then streams ``--megabytes``
of body with ``Transfer-Encoding: chunked`` (no ``Content-Length``) to a few routes: without
credentials, with a wrong key, and with a valid key (over the body limit). It prints the
server's resident memory before and its peak (``VmHWM``) after each request, with the
status each got. A server that authenticates before reading and counts while it reads
stays near its idle size.

    python benchmarks/body_memory.py --megabytes 256
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

CHUNK = b"[" + b"1," * (512 * 1024 - 1) + b"1"  # 1 MiB of a JSON list that never closes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in KiB."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def _body(megabytes: int) -> Iterator[bytes]:
    yield CHUNK[:1]
    for _ in range(megabytes):
        yield CHUNK[1:]


EVENT = b'{"user_id":"u","item_id":"i","type":"like"},'


def _events(megabytes: float) -> Iterator[bytes]:
    """A well-formed batch of about ``megabytes`` (under the limit): parsing it is the cost."""
    per_chunk = (1024 * 1024) // len(EVENT)
    chunks = int(megabytes)
    yield b'{"events":['
    for n in range(chunks):
        part = EVENT * per_chunk
        yield part[:-1] if n == chunks - 1 else part
    yield b"]}"


def start_server(data: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """A ``tactful serve`` with auth on and one ingest key: (process, base URL, key)."""
    env = {
        **os.environ,
        "TACTFUL_MODELS__RETRAIN_EVERY_MINUTES": "0",
        "TACTFUL_MODELS__RETRAIN_AFTER_EVENTS": "0",
        "TACTFUL_SERVING__ACCESS_LOG": "false",
    }
    cli = [sys.executable, "-m", "tactful.cli.main"]
    made = subprocess.run(
        [*cli, "keys", "create", "--name", "probe", "--scope", "ingest", "--data-dir", str(data)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = next(word for word in made.stdout.split() if word.startswith("tk_"))
    port = _free_port()
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--data-dir", str(data)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise SystemExit("the server exited early")
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return proc, url, key
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.2)


def send(url: str, body: Iterator[bytes], headers: dict[str, str]) -> int | str:
    """Stream the body; the status the server answered, or how the connection ended."""
    try:
        with httpx.Client(timeout=120) as client:
            return client.post(url, content=body, headers=headers).status_code
    except httpx.HTTPError as exc:  # the server may answer and close before the body is sent
        return type(exc).__name__


def measure(megabytes: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, base, key = start_server(Path(tmp) / "data")
        try:
            rss0, _ = _memory_kb(proc.pid)
            runs = []
            bearer, wrong = {"Authorization": f"Bearer {key}"}, {"X-API-Key": "tk_x"}
            cases = [
                ("no credentials, 30 MB valid batch", "/v1/events/batch", {}, lambda: _events(30)),
                ("wrong key, 30 MB valid batch", "/v1/events/batch", wrong, lambda: _events(30)),
                ("no credentials, huge body", "/v1/events/batch", {}, lambda: _body(megabytes)),
                ("no credentials, huge body, page route", "/ui/feedback", {}, lambda: _body(megabytes)),
                ("no credentials, huge body, item upsert", "/v1/items", {}, lambda: _body(megabytes)),
                ("valid key, huge body", "/v1/events/batch", bearer, lambda: _body(megabytes)),
            ]
            for name, path, headers, body in cases:
                status = send(base + path, body(), {"Content-Type": "application/json", **headers})
                time.sleep(0.5)
                rss, peak = _memory_kb(proc.pid)
                runs.append({"case": name, "status": status, "rss_mb": rss // 1024, "peak_mb": peak // 1024})
            return {"megabytes_sent": megabytes, "idle_rss_mb": rss0 // 1024, "runs": runs}
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=256)
    print(json.dumps(measure(parser.parse_args().megabytes), indent=2))


if __name__ == "__main__":
    main()
