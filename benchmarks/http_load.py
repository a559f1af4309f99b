"""HTTP load benchmark on the ml-latest-small import: tactful against a bare FastAPI floor.

Run: python benchmarks/http_load.py [--ml DIR] [--data-dir DIR] [--runs 3] [--seconds 10]
                                    [--json OUT] [--markdown OUT] [--quick]

In one run, against real server processes on 127.0.0.1 (wrk for the load, httpx for ingest):

- ``GET /v1/users/{id}/recommendations?n=10`` cycling over every person: req/s and p50/p99
  at 1 and 8 connections, for ``tactful serve`` with 1 and 2 workers, each next to the
  floor measured in the same run with the same wrk settings: a bare FastAPI app (sync route,
  uvicorn, same worker count) serving a real tactful response body of median size; and one
  worker again with kept answers off, every list computed afresh;
- single-event ingest (``POST /v1/events``, sequential, keep-alive) p50/p99 for the person
  with the longest history and for one with about 20 items;
- batch ingest events/s in 10k-event batches over HTTP (``POST /v1/events/batch``) and
  through the Python API (``Engine.ingest``): every rating re-sent under fresh person ids.

Preparation (items, every rating as an event, ``Engine.train()``) is not timed; with
``--data-dir`` it is done once and reused. Every measurement runs on a fresh copy of the
prepared data (serving writes served lists, ingest writes events). The servers run with
scheduled retraining off, so a retrain triggered by the benchmark's own events cannot land
inside a measurement. Medians over ``--runs`` are reported beside the targets.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
import uvicorn.config
from fastapi import FastAPI, Response
from threadpoolctl import threadpool_limits
from uvicorn.supervisors import Multiprocess

from tactful import Engine, Event, Settings
from tactful.cli.server import listeners
from tactful.importers.movielens import movielens_events, movielens_items
from tactful.storage import SqlStore

ML = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small"
HOST = "127.0.0.1"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
WORKERS = (1, 2)
CONNECTIONS = (1, 8)
BATCH = 10_000
MIXED_BATCH = 1_000
MIXED_WRITERS = 8
MIXED_READERS = 2
MIXED_SUMMED = frozenset(
    {
        "batches",
        "batch_non2xx",
        "batch_503",
        "events_accepted",
        "recs",
        "rec_non2xx",
        "lists_stored",
        "lists_dropped",
    }
)
TARGETS = {
    "floor_ratio_1w_8c": 0.40,  # at least
    "p99_ms_1w_8c": 30.0,  # at most
    "scale_2w_over_1w_8c": 1.4,  # at least
    "single_p50_ms": 3.0,  # at most
    "single_p99_ms": 10.0,  # at most
    "batch_python_events_per_s": 20_000.0,  # at least
    "batch_http_events_per_s": 15_000.0,  # at least
}
SERVER_ENV = {
    "TACTFUL_AUTH__ENABLED": "false",
    "TACTFUL_MODELS__RETRAIN_EVERY_MINUTES": "0",
    "TACTFUL_MODELS__RETRAIN_AFTER_EVENTS": "0",
}


# -- the floor -------------------------------------------------------------------------------


def floor_app() -> FastAPI:
    """The bare FastAPI floor: the same route, a static real response body (uvicorn --factory)."""
    body = Path(os.environ["BENCH_FLOOR_BODY"]).read_bytes()
    app = FastAPI()

    @app.get("/v1/users/{user_id}/recommendations")
    def recommendations(user_id: str, n: int = 10) -> Response:
        return Response(content=body, media_type="application/json")

    return app


# -- the data --------------------------------------------------------------------------------


class Ratings:
    """Who rated what in ratings.csv, read once."""

    def __init__(self, ml: Path) -> None:
        self.rows: list[tuple[str, str, float, int]] = []
        self.rated: dict[str, set[str]] = defaultdict(set)
        with (ml / "ratings.csv").open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                self.rows.append((row["userId"], row["movieId"], float(row["rating"]), int(row["timestamp"])))
                self.rated[row["userId"]].add(row["movieId"])
        with (ml / "movies.csv").open(newline="", encoding="utf-8") as fh:
            self.items = sorted((row["movieId"] for row in csv.DictReader(fh)), key=int)
        self.users = sorted(self.rated, key=int)
        counts = Counter({u: len(s) for u, s in self.rated.items()})
        self.heavy = max(self.users, key=lambda u: (counts[u], -int(u)))
        self.light = min(self.users, key=lambda u: (abs(counts[u] - 20), int(u)))
        self.counts = counts

    def unrated(self, user: str, k: int, seed: int) -> list[str]:
        candidates = [i for i in self.items if i not in self.rated[user]]
        return random.Random(seed).sample(candidates, k)

    def fresh_batches(self, limit: int | None) -> list[list[dict[str, Any]]]:
        """Every rating re-sent under fresh person (and so event) ids, ``BATCH`` at a time."""
        events = [
            {
                "id": f"x-{u}-{i}",
                "user_id": f"x-{u}",
                "item_id": i,
                "type": "rate",
                "value": v,
                "timestamp": datetime.fromtimestamp(ts, UTC).isoformat(),
            }
            for u, i, v, ts in self.rows
        ]
        batches = [events[k : k + BATCH] for k in range(0, len(events), BATCH)]
        return batches[:limit] if limit else batches


def prepare(ml: Path, pristine: Path) -> dict[str, Any]:
    """Items, every rating as an event, then train: once per data folder, untimed."""
    marker = pristine / "prepared.json"
    if marker.is_file():
        info: dict[str, Any] = json.loads(marker.read_text())
        if info.get("ml") == str(ml.resolve()) and info.get("schema") == SqlStore.head_revision():
            return info
    shutil.rmtree(pristine, ignore_errors=True)
    pristine.mkdir(parents=True)
    started = time.perf_counter()
    with Engine(Settings(data_dir=pristine)) as engine:
        engine.upsert_items(movielens_items(ml))
        accepted = sum(engine.ingest(batch).accepted for batch in movielens_events(ml))
        report = engine.train()
    info = {
        "ml": str(ml.resolve()),
        "schema": SqlStore.head_revision(),
        "events": accepted,
        "prepared_in_s": round(time.perf_counter() - started, 1),
        "train": str(report),
    }
    marker.write_text(json.dumps(info, indent=2))
    return info


def restore(pristine: Path, work: Path) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(pristine, work)
    return work


# -- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """A server subprocess in its own session, so stopping it stops its workers too."""

    running: list[Server] = []

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.cmd = cmd
        self.env = {**os.environ, **env}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, port: int, probe: str, timeout_s: float = 180.0) -> str:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        Server.running.append(self)
        base = f"http://{HOST}:{port}"
        deadline = time.monotonic() + timeout_s
        with httpx.Client(base_url=base, timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
                try:
                    if client.get(probe).status_code == 200:
                        return base
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f}s:\n{self.tail()}")

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            self._forget()
            return
        for sig, wait_s in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        self._forget()

    def _forget(self) -> None:
        if self in Server.running:
            Server.running.remove(self)

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return "\n".join(text.splitlines()[-lines:])

    def problems(self) -> dict[str, int]:
        """What the server's own log says went wrong: tracebacks, locks, 5xx responses."""
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return {
            "tracebacks": text.count("Traceback (most recent call last)"),
            "database_locked": text.lower().count("database is locked"),
            "http_5xx_logged": len(re.findall(r'HTTP/1\.1" 5\d\d', text)),
            "errors_logged": len(re.findall(r"^(ERROR|CRITICAL)", text, flags=re.M)),
        }

    def problem_lines(self, limit: int = 5) -> list[str]:
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        pattern = re.compile(r'Traceback|database is locked|HTTP/1\.1" 5\d\d|^(ERROR|CRITICAL)', re.I)
        return [line for line in text.splitlines() if pattern.search(line)][:limit]

    @classmethod
    def stop_all(cls) -> None:
        for server in list(cls.running):
            server.stop()


@contextmanager
def serving(server: Server, port: int, probe: str, found: list[dict[str, Any]]) -> Iterator[str]:
    try:
        yield server.start(port, probe)
    finally:
        server.stop()
        issues = server.problems()
        if any(issues.values()):
            found.append({"server": server.name, **issues, "sample": server.problem_lines()})


def tactful_server(work: Path, workers: int, port: int, log: Path, keep_answers: bool = True) -> Server:
    cmd = [sys.executable, "-m", "tactful.cli.main", "serve", "--no-auth", "--host", HOST]
    cmd += ["--port", str(port), "--workers", str(workers), "--data-dir", str(work)]
    env = SERVER_ENV if keep_answers else {**SERVER_ENV, "TACTFUL_SERVING__ANSWER_CACHE_SIZE": "0"}
    return Server(f"tactful {workers}w" + ("" if keep_answers else " uncached"), cmd, env, log)


def floor_server(body: Path, workers: int, port: int, log: Path, nodelay: bool = False) -> Server:
    """The floor under ``uvicorn.run`` as ``tactful serve`` runs it (see ``serve_floor``)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-floor", str(port), str(workers)]
    cmd += ["nodelay" if nodelay else "plain"]
    name = f"floor {workers}w" + (" nodelay" if nodelay else "")
    return Server(name, cmd, {"BENCH_FLOOR_BODY": str(body)}, log)


def serve_floor(port: int, workers: int, nodelay: bool) -> None:
    """Run the floor; with ``nodelay`` and several workers it listens as `tactful serve` does."""
    if nodelay and workers > 1:
        config = uvicorn.Config("http_load:floor_app", factory=True, host=HOST, port=port, workers=workers)
        Multiprocess(config, sockets=listeners(config)).run()
        return
    uvicorn.run("http_load:floor_app", factory=True, host=HOST, port=port, workers=workers)


# -- load ------------------------------------------------------------------------------------

WRK_LUA = """
local ids = {%(ids)s}
local threads = {}
local started = 0

function setup(thread)
  thread:set("tid", started)
  table.insert(threads, thread)
  started = started + 1
end

function init(args)
  n = tid * 307
  non2xx = 0
end

function request()
  n = n + 1
  return wrk.format("GET", "/v1/users/" .. ids[(n %% #ids) + 1] .. "/recommendations?n=10")
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("non2xx") end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, ' ..
    '"p99_us": %%d, "max_us": %%d, "non2xx": %%d, "connect": %%d, "read": %%d, "write": %%d, ' ..
    '"timeout": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50.0), latency:percentile(90.0),
    latency:percentile(99.0), latency.max, bad, e.connect, e.read, e.write, e.timeout))
end
"""


def wrk_script(users: Sequence[str], path: Path) -> Path:
    path.write_text(WRK_LUA % {"ids": ", ".join(f'"{u}"' for u in users)})
    return path


def wrk(base: str, script: Path, conns: int, seconds: float) -> dict[str, float]:
    threads = min(conns, 2)
    cmd = [WRK, "-t", str(threads), "-c", str(conns), "-d", f"{seconds:g}s", "--timeout", "5s"]
    cmd += ["--latency", "-s", str(script), base]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60)
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON "))
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "req_per_s": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "requests": raw["requests"],
        "non2xx": raw["non2xx"],
        "socket_errors": socket_errors,
    }


def warm_up(base: str, users: Sequence[str], workers: int, passes: int) -> dict[str, Any]:
    """Every person from 2 x workers fresh connections at once, ``passes`` times, so every
    worker process very likely serves every person before the measurement."""
    fanout = 2 * workers
    bodies: dict[str, bytes] = {}
    pass_s: list[float] = []
    bad = 0

    def sweep(offset: int) -> tuple[int, dict[str, bytes]]:
        order = list(users[offset:]) + list(users[:offset])
        seen: dict[str, bytes] = {}
        failures = 0
        with httpx.Client(base_url=base, timeout=30) as client:
            for u in order:
                resp = client.get(f"/v1/users/{u}/recommendations", params={"n": 10})
                if resp.status_code // 100 != 2:
                    failures += 1
                elif u not in seen:
                    seen[u] = resp.content
        return failures, seen

    with ThreadPoolExecutor(fanout) as pool:
        for _ in range(passes):
            started = time.perf_counter()
            offsets = [k * len(users) // fanout for k in range(fanout)]
            for failures, seen in pool.map(sweep, offsets):
                bad += failures
                bodies.update(seen)
            pass_s.append(time.perf_counter() - started)
    sizes = sorted(bodies.items(), key=lambda kv: len(kv[1]))
    median_user, median_body = sizes[len(sizes) // 2]
    return {"pass_s": pass_s, "non2xx": bad, "median_user": median_user, "median_body": median_body}


# -- ingest ----------------------------------------------------------------------------------


def percentiles_ms(samples: Sequence[float]) -> tuple[float, float]:
    arr = np.array(samples) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def single_ingest(base: str, user: str, items: Sequence[str], warm: int) -> dict[str, float]:
    """Sequential like/view events for one person over one keep-alive connection."""
    samples: list[float] = []
    bad = 0
    with httpx.Client(base_url=base, timeout=30) as client:
        for k, item in enumerate(items):
            event = {"user_id": user, "item_id": item, "type": "like" if k % 2 else "view"}
            t = time.perf_counter()
            resp = client.post("/v1/events", json=event)
            elapsed = time.perf_counter() - t
            if resp.status_code != 200:
                bad += 1
            if k >= warm:
                samples.append(elapsed)
    p50, p99 = percentiles_ms(samples)
    return {"p50_ms": p50, "p99_ms": p99, "events": len(samples), "non2xx": bad}


def batch_http(base: str, batches: Sequence[Sequence[dict[str, Any]]]) -> dict[str, float]:
    bodies = [json.dumps({"events": list(b)}).encode() for b in batches]  # encoded before the clock
    headers = {"content-type": "application/json"}
    accepted = bad = 0
    with httpx.Client(base_url=base, timeout=300) as client:
        client.post("/v1/events", json={"user_id": "x-warm", "item_id": "1", "type": "view"})
        started = time.perf_counter()
        for body in bodies:
            resp = client.post("/v1/events/batch", content=body, headers=headers)
            if resp.status_code == 200:
                accepted += int(resp.json()["accepted"])
            else:
                bad += 1
        elapsed = time.perf_counter() - started
    total = sum(len(b) for b in batches)
    return {"events_per_s": total / elapsed, "events": total, "accepted": accepted, "non2xx": bad}


def batch_python(work: Path, batches: Sequence[Sequence[dict[str, Any]]]) -> dict[str, float]:
    events = [[Event(**e) for e in b] for b in batches]  # validated before the clock
    accepted = 0
    with Engine(Settings(data_dir=work)) as engine:
        engine.ingest([Event(user_id="x-warm", item_id="1", type="view")])
        started = time.perf_counter()
        for batch in events:
            accepted += engine.ingest(batch).accepted
        elapsed = time.perf_counter() - started
    total = sum(len(b) for b in batches)
    return {"events_per_s": total / elapsed, "events": total, "accepted": accepted}


def mixed_load(
    base: str, ratings: Ratings, seed: int, seconds: float, writers: int = 8, readers: int = 2
) -> dict[str, Any]:
    """Writers post 1,000-event batches while readers fetch recommendations, for ``seconds``.

    The scenario under which SQLite with several workers used to fail batches with 503
    "database is locked" and drop served lists. Returns latencies, status counts and the
    recommendation ids served (checked against the store once the server has stopped).
    """
    rows = ratings.rows
    stop = time.monotonic() + seconds
    lock = threading.Lock()
    out: dict[str, Any] = {"batch_s": [], "batch_status": Counter(), "rec_s": [], "rec_status": Counter()}
    rec_ids: list[str] = []
    accepted = [0]

    def writer(w: int) -> None:
        rnd = random.Random(seed * 100 + w)
        k = 0
        with httpx.Client(base_url=base, timeout=120) as client:
            while time.monotonic() < stop:
                picks = rnd.sample(range(len(rows)), MIXED_BATCH)
                events = [
                    {
                        "id": f"m{seed}-{w}-{k}-{j}",
                        "user_id": f"m-{rows[j][0]}",
                        "item_id": rows[j][1],
                        "type": "rate",
                        "value": rows[j][2],
                    }
                    for j in picks
                ]
                t = time.perf_counter()
                resp = client.post("/v1/events/batch", json={"events": events})
                elapsed = time.perf_counter() - t
                with lock:
                    out["batch_s"].append(elapsed)
                    out["batch_status"][resp.status_code] += 1
                    if resp.status_code == 200:
                        accepted[0] += int(resp.json()["accepted"])
                k += 1

    def reader(r: int) -> None:
        rnd = random.Random(seed * 1000 + r)
        with httpx.Client(base_url=base, timeout=60) as client:
            while time.monotonic() < stop:
                user = rnd.choice(ratings.users)
                t = time.perf_counter()
                resp = client.get(f"/v1/users/{user}/recommendations", params={"n": 10})
                elapsed = time.perf_counter() - t
                with lock:
                    out["rec_s"].append(elapsed)
                    out["rec_status"][resp.status_code] += 1
                    if resp.status_code == 200:
                        rec_ids.append(resp.json()["recommendation_id"])

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    threads += [threading.Thread(target=reader, args=(r,)) for r in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batch_p50, batch_p99 = percentiles_ms(out["batch_s"]) if out["batch_s"] else (0.0, 0.0)
    rec_p50, rec_p99 = percentiles_ms(out["rec_s"]) if out["rec_s"] else (0.0, 0.0)
    return {
        "batches": len(out["batch_s"]),
        "batch_p50_ms": batch_p50,
        "batch_p99_ms": batch_p99,
        "batch_non2xx": sum(v for k, v in out["batch_status"].items() if k != 200),
        "batch_503": out["batch_status"].get(503, 0),
        "events_accepted": accepted[0],
        "recs": len(out["rec_s"]),
        "rec_p50_ms": rec_p50,
        "rec_p99_ms": rec_p99,
        "rec_non2xx": sum(v for k, v in out["rec_status"].items() if k != 200),
        "rec_ids": rec_ids,
    }


def stored_lists(work: Path, rec_ids: Sequence[str]) -> int:
    """How many of ``rec_ids`` the store holds (read after the server stopped and flushed)."""
    conn = sqlite3.connect(f"file:{work / 'tactful.sqlite3'}?mode=ro", uri=True)
    try:
        have = {r[0] for r in conn.execute("SELECT id FROM recommendations")}
    finally:
        conn.close()
    return sum(1 for r in rec_ids if r in have)


# -- one run ---------------------------------------------------------------------------------


def measure_floor(
    args: argparse.Namespace,
    result: dict[str, Any],
    key: str,
    body: Path,
    workers: int,
    nodelay: bool,
    logs: Path,
    seed: int,
    script: Path,
) -> None:
    port = free_port()
    server = floor_server(body, workers, port, logs / f"{key}-run{seed}.log", nodelay)
    with serving(server, port, "/v1/users/1/recommendations", result["problems"]) as base:
        wrk(base, script, 8, min(2.0, args.seconds))  # warm-up, not kept
        for conns in CONNECTIONS:
            figure = result["load"][f"{key}_{conns}c"] = wrk(base, script, conns, args.seconds)
            print(f"  {key} {conns}c: {figure}", file=sys.stderr)


def one_run(
    args: argparse.Namespace, root: Path, pristine: Path, ratings: Ratings, seed: int, body: Path
) -> dict[str, Any]:
    work = root / "work"
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    script = wrk_script(ratings.users, root / "recommendations.lua")
    found: list[dict[str, Any]] = []
    result: dict[str, Any] = {"load": {}, "warmup": {}, "problems": found}

    for workers in WORKERS:
        restore(pristine, work)
        port = free_port()
        server = tactful_server(work, workers, port, logs / f"tactful-{workers}w-run{seed}.log")
        with serving(server, port, "/v1/health", found) as base:
            warm = warm_up(base, ratings.users, workers, args.warm_passes)
            if not body.is_file():
                body.write_bytes(warm["median_body"])
            result["warmup"][f"tactful_{workers}w"] = {"pass_s": warm["pass_s"], "non2xx": warm["non2xx"]}
            for conns in CONNECTIONS:
                result["load"][f"tactful_{workers}w_{conns}c"] = wrk(base, script, conns, args.seconds)
                print(
                    f"  tactful {workers}w {conns}c: {result['load'][f'tactful_{workers}w_{conns}c']}",
                    file=sys.stderr,
                )
        # the floor listens like `tactful serve`: with several workers, a TCP listener proper
        measure_floor(args, result, f"floor_{workers}w", body, workers, workers > 1, logs, seed, script)

    # every list computed afresh: kept answers off (serving.answer_cache_size = 0)
    restore(pristine, work)
    port = free_port()
    server = tactful_server(work, 1, port, logs / f"tactful-uncached-run{seed}.log", keep_answers=False)
    with serving(server, port, "/v1/health", found) as base:
        warm_up(base, ratings.users, 1, args.warm_passes)
        for conns in CONNECTIONS:
            result["load"][f"uncached_1w_{conns}c"] = wrk(base, script, conns, args.seconds)
            print(f"  uncached 1w {conns}c: {result['load'][f'uncached_1w_{conns}c']}", file=sys.stderr)

    restore(pristine, work)
    port = free_port()
    server = tactful_server(work, 1, port, logs / f"tactful-ingest-run{seed}.log")
    single: dict[str, Any] = {}
    with serving(server, port, "/v1/health", found) as base:
        for label, user in (("heavy", ratings.heavy), ("light", ratings.light)):
            items = ratings.unrated(user, args.single_events + args.single_warm, seed)
            single[label] = {
                "user": user,
                "history": ratings.counts[user],
                **single_ingest(base, user, items, args.single_warm),
            }
            print(f"  single {label}: {single[label]}", file=sys.stderr)
    result["single"] = single

    restore(pristine, work)
    port = free_port()
    server = tactful_server(work, 2, port, logs / f"tactful-mixed-run{seed}.log")
    with serving(server, port, "/v1/health", found) as base:
        mixed = mixed_load(base, ratings, seed, args.mixed_seconds, MIXED_WRITERS, MIXED_READERS)
    ids = mixed.pop("rec_ids")
    mixed["lists_stored"] = stored_lists(work, ids)
    mixed["lists_dropped"] = len(ids) - mixed["lists_stored"]
    result["mixed"] = mixed
    print(f"  mixed: {mixed}", file=sys.stderr)

    batches = ratings.fresh_batches(args.batches)
    restore(pristine, work)
    port = free_port()
    server = tactful_server(work, 1, port, logs / f"tactful-batch-run{seed}.log")
    with serving(server, port, "/v1/health", found) as base:
        result["batch_http"] = batch_http(base, batches)
    print(f"  batch http: {result['batch_http']}", file=sys.stderr)
    restore(pristine, work)
    result["batch_python"] = batch_python(work, batches)
    print(f"  batch python: {result['batch_python']}", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    return result


# -- report ----------------------------------------------------------------------------------


def median_of(runs: Sequence[dict[str, Any]], *path: str) -> float:
    values = []
    for run in runs:
        node: Any = run
        for key in path:
            node = node[key]
        values.append(float(node))
    return statistics.median(values)


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    med: dict[str, Any] = {"load": {}, "single": {}, "batch": {}}
    for key in runs[0]["load"]:
        med["load"][key] = {f: median_of(runs, "load", key, f) for f in runs[0]["load"][key]}
        med["load"][key]["non2xx"] = sum(r["load"][key]["non2xx"] for r in runs)
        med["load"][key]["socket_errors"] = sum(r["load"][key]["socket_errors"] for r in runs)
    for label in runs[0]["single"]:
        med["single"][label] = {
            "user": runs[0]["single"][label]["user"],
            "history": runs[0]["single"][label]["history"],
            "p50_ms": median_of(runs, "single", label, "p50_ms"),
            "p99_ms": median_of(runs, "single", label, "p99_ms"),
            "non2xx": sum(r["single"][label]["non2xx"] for r in runs),
        }
    med["mixed"] = {
        k: (sum if k in MIXED_SUMMED else statistics.median)([float(r["mixed"][k]) for r in runs])
        for k in runs[0]["mixed"]
    }
    for kind in ("batch_http", "batch_python"):
        med["batch"][kind] = median_of(runs, kind, "events_per_s")
    med["batch"]["http_non2xx"] = sum(r["batch_http"]["non2xx"] for r in runs)
    return med


def markdown(med: dict[str, Any], meta: dict[str, Any]) -> str:
    load = med["load"]
    out = [
        f"# tactful HTTP load: {meta['date']}",
        "",
        f"`{meta['command']}` at `{meta['commit']}` (src/ last changed in `{meta['src_commit']}`); "
        f"nproc {meta['nproc']}, load average "
        f"{meta['loadavg']} at start, {meta['loadavg_end']} at the end. wrk runs on the same cores "
        "as the servers, and other work may be running on this machine, so figures are noisy. "
        f"Medians over {meta['runs']} run(s), "
        f"{meta['seconds']:g} s per load figure; ml-latest-small ({meta['events']:,} events), "
        f"floor body {meta['body_bytes']:,} bytes (a real response of median size).",
        "",
        "## GET /v1/users/{id}/recommendations?n=10 over all 610 people",
        "",
        "| workers | conns | tactful req/s | p50 ms | p99 ms | floor req/s | floor p50 ms | floor p99 ms "
        "| tactful/floor | tactful 2w/1w | floor 2w/1w | non-2xx | socket errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for workers in WORKERS:
        for conns in CONNECTIONS:
            t = load[f"tactful_{workers}w_{conns}c"]
            f = load[f"floor_{workers}w_{conns}c"]
            scale = floor_scale = "–"
            if workers > 1:
                scale = f"{t['req_per_s'] / load[f'tactful_1w_{conns}c']['req_per_s']:.2f}"
                floor_scale = f"{f['req_per_s'] / load[f'floor_1w_{conns}c']['req_per_s']:.2f}"
            out.append(
                f"| {workers} | {conns} | {t['req_per_s']:,.0f} | {t['p50_ms']:.2f} | {t['p99_ms']:.2f} "
                f"| {f['req_per_s']:,.0f} | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} "
                f"| {t['req_per_s'] / f['req_per_s']:.2f} | {scale} | {floor_scale} "
                f"| {int(t['non2xx'])} / {int(f['non2xx'])} "
                f"| {int(t['socket_errors'])} / {int(f['socket_errors'])} |"
            )
    out += [
        "",
        "non-2xx and socket errors: tactful / floor, summed over runs.",
        "",
        "Each worker keeps its recent answers and serves one again while the person, catalog, "
        "promotions, model and back-off versions are unchanged (docs/architecture.md, *Kept "
        "answers*); the wrk load cycles over the 610 people with nothing changing, so after the "
        "warm-up most requests are such reloads. The same server with kept answers off "
        "(`TACTFUL_SERVING__ANSWER_CACHE_SIZE=0`), every list computed afresh:",
        "",
        "| workers | conns | req/s | p50 ms | p99 ms | floor req/s | uncached/floor | non-2xx |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for conns in CONNECTIONS:
        u = load[f"uncached_1w_{conns}c"]
        f = load[f"floor_1w_{conns}c"]
        out.append(
            f"| 1 | {conns} | {u['req_per_s']:,.0f} | {u['p50_ms']:.2f} | {u['p99_ms']:.2f} "
            f"| {f['req_per_s']:,.0f} | {u['req_per_s'] / f['req_per_s']:.2f} | {int(u['non2xx'])} |"
        )
    single = med["single"]
    out += [
        "",
        "With several workers both tactful and the floor listen as `tactful serve` does: each "
        "worker on its own IPPROTO_TCP socket on the port (SO_REUSEPORT), so asyncio sets "
        "TCP_NODELAY on accepted connections (without it every keep-alive response waits ~40 ms "
        "for the client's delayed ACK) and the kernel spreads wrk's 8 connections over the "
        "workers (with one shared socket the first worker to wake can accept all of them).",
        "",
        *problems_note(meta["problems"]),
        "",
        "## Ingest",
        "",
        "| ingest | person | history | p50 ms | p99 ms | non-2xx |",
        "|---|---|---|---|---|---|",
    ]
    for label, s in single.items():
        out.append(
            f"| single event over HTTP ({label}) | {s['user']} | {s['history']:,} | {s['p50_ms']:.2f} "
            f"| {s['p99_ms']:.2f} | {s['non2xx']} |"
        )
    batch = med["batch"]
    out += [
        "",
        f"Batch ingest (10k-event batches, {meta['batch_events']:,} events under fresh person ids): "
        f"{batch['batch_http']:,.0f} events/s over HTTP (non-2xx {batch['http_non2xx']}), "
        f"{batch['batch_python']:,.0f} events/s through `Engine.ingest`.",
        "",
        "## Mixed load on SQLite, 2 workers",
        "",
        f"{MIXED_WRITERS} clients post {MIXED_BATCH:,}-event batches while {MIXED_READERS} clients fetch "
        f"recommendations, {meta['mixed_seconds']:g} s (counts summed over runs, latencies medians).",
        "",
        "| batches | batch p50 ms | batch p99 ms | batch non-2xx (503) | recs | rec p50 ms | rec p99 ms "
        "| rec non-2xx | served lists stored / dropped |",
        "|---|---|---|---|---|---|---|---|---|",
        "| {batches:,.0f} | {batch_p50_ms:.0f} | {batch_p99_ms:.0f} | {batch_non2xx:.0f} ({batch_503:.0f}) "
        "| {recs:,.0f} | {rec_p50_ms:.1f} | {rec_p99_ms:.1f} | {rec_non2xx:.0f} "
        "| {lists_stored:,.0f} / {lists_dropped:.0f} |".format(**med["mixed"]),
        "",
        "## Against the targets",
        "",
        "| figure | measured | target | measured/target | met |",
        "|---|---|---|---|---|",
    ]
    t1, f1, t2 = load["tactful_1w_8c"], load["floor_1w_8c"], load["tactful_2w_8c"]
    rows: list[tuple[str, float, float, bool, str]] = [
        (
            "1 worker, 8 conns: tactful/floor req/s",
            t1["req_per_s"] / f1["req_per_s"],
            TARGETS["floor_ratio_1w_8c"],
            True,
            "{:.2f}",
        ),
        ("1 worker, 8 conns: p99 ms", t1["p99_ms"], TARGETS["p99_ms_1w_8c"], False, "{:.2f}"),
        (
            "8 conns: 2 workers / 1 worker req/s",
            t2["req_per_s"] / t1["req_per_s"],
            TARGETS["scale_2w_over_1w_8c"],
            True,
            "{:.2f}",
        ),
    ]
    for label, s in single.items():
        rows.append(
            (
                f"single event p50 ms ({label}, {s['history']:,} items)",
                s["p50_ms"],
                TARGETS["single_p50_ms"],
                False,
                "{:.2f}",
            )
        )
        rows.append(
            (
                f"single event p99 ms ({label}, {s['history']:,} items)",
                s["p99_ms"],
                TARGETS["single_p99_ms"],
                False,
                "{:.2f}",
            )
        )
    rows.append(
        (
            "batch ingest events/s, Python API",
            batch["batch_python"],
            TARGETS["batch_python_events_per_s"],
            True,
            "{:,.0f}",
        )
    )
    rows.append(
        (
            "batch ingest events/s, HTTP",
            batch["batch_http"],
            TARGETS["batch_http_events_per_s"],
            True,
            "{:,.0f}",
        )
    )
    for label, value, target, at_least, fmt in rows:
        met = value >= target if at_least else value <= target
        sign = "≥" if at_least else "≤"
        out.append(
            f"| {label} | {fmt.format(value)} | {sign} {fmt.format(target)} | {value / target:.2f} "
            f"| {'yes' if met else '**no**'} |"
        )
    return "\n".join(out) + "\n"


def problems_note(problems: Sequence[dict[str, Any]]) -> list[str]:
    if not problems:
        return ["Server logs: no tracebacks, no 'database is locked', no logged 5xx or ERROR lines."]
    lines = ["Server logs reported problems:", ""]
    for issue in problems:
        counts = ", ".join(f"{k} {v}" for k, v in issue.items() if k not in ("server", "sample") and v)
        lines.append(f"- {issue['server']}: {counts}; e.g. `{'` / `'.join(issue['sample'][:2])}`")
    return lines


def git_commit(*paths: str) -> str:
    """The short commit of HEAD, or of the last commit touching ``paths``."""
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%h", "--", *paths],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--ml", type=Path, default=ML)
    parser.add_argument("--data-dir", type=Path, help="prepare once here and reuse (default: a temp dir)")
    parser.add_argument("--runs", type=int)
    parser.add_argument("--seconds", type=float, help="each wrk figure (default 10; 3 with --quick)")
    parser.add_argument("--json", type=Path, help="write every raw figure here")
    parser.add_argument("--markdown", type=Path, help="write the Markdown report here too")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--serve-floor", nargs=3, help=argparse.SUPPRESS)  # PORT WORKERS plain|nodelay
    args = parser.parse_args()
    if args.serve_floor:  # the floor server's own process (see ``floor_server``)
        port, workers, mode = args.serve_floor
        serve_floor(int(port), int(workers), mode == "nodelay")
        return
    args.runs = args.runs or (1 if args.quick else 3)
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.warm_passes = 1 if args.quick else 2
    args.single_events, args.single_warm = (50, 5) if args.quick else (300, 10)
    args.batches = 2 if args.quick else None
    args.mixed_seconds = 5.0 if args.quick else 20.0
    signal.signal(signal.SIGTERM, _terminate)
    threadpool_limits(1)  # as `tactful serve` runs (serving_blas_threads)
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python", "benchmarks/http_load.py", *sys.argv[1:]]),
        "commit": git_commit(),
        "src_commit": git_commit("src"),
        "nproc": os.cpu_count(),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "runs": args.runs,
        "seconds": args.seconds,
        "mixed_seconds": args.mixed_seconds,
    }
    tmp = tempfile.TemporaryDirectory(prefix="tactful-http-load-")
    root = args.data_dir.resolve() if args.data_dir else Path(tmp.name)
    root.mkdir(parents=True, exist_ok=True)
    try:
        ratings = Ratings(args.ml)
        info = prepare(args.ml, root / "pristine")
        meta["events"] = info["events"]
        body = Path(tmp.name) / "floor-body.json"
        runs = []
        for run in range(args.runs):
            print(f"run {run + 1}/{args.runs}", file=sys.stderr)
            runs.append(one_run(args, root, root / "pristine", ratings, run, body))
        meta["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        meta["problems"] = [issue for measured in runs for issue in measured["problems"]]
        meta["body_bytes"] = body.stat().st_size
        meta["batch_events"] = runs[0]["batch_http"]["events"]
        med = summarize(runs)
        report = markdown(med, meta)
        print(report)
        if args.markdown:
            args.markdown.parent.mkdir(parents=True, exist_ok=True)
            args.markdown.write_text(report)
        if args.json:
            args.json.write_text(json.dumps({"meta": meta, "median": med, "runs": runs}, indent=2))
        for measured in runs:
            for issue in measured["problems"]:
                print(f"server log problems: {issue}", file=sys.stderr)
    finally:
        Server.stop_all()
        tmp.cleanup()


if __name__ == "__main__":
    main()
