"""Serving benchmark on the ml-latest-small import: ingest rate and recommend latency.

Run: python benchmarks/serving.py [--ml DIR] [--runs 3]

Reports, as medians over --runs repetitions:
- batch ingest rate (events/s) importing every rating in 10k-event atomic batches,
  next to a peer measured in the same run: a plain executemany of the same rows into an
  indexed SQLite table (the floor for any ingest that writes the raw log);
- in-process `Engine.recommend` latency p50/p99 over all 610 people, with the trained
  collaborative model and every policy on (one BLAS thread, as `tactful serve` runs):
  repeat requests (each person's model sums kept between requests), the same with the
  fold cache off (every history folded from scratch), and the first request after each
  person's new like (the like is applied to the kept layout and sums on the way in).
  Each is measured in a fresh interpreter, as a serving worker runs. The repeat-request
  figure is also taken in the process that just imported 100k events and trained, and
  reported beside it: that process serves measurably slower, and neither a full garbage
  collection nor returning freed memory to the OS closes the gap;
- the floor those latencies are compared with, in the same run: one ``np.argpartition``
  top-10 over a catalog-sized score vector;
- HTTP latency p50/p99 for GET /v1/users/{id}/recommendations against a real uvicorn
  process over loopback with a keep-alive client.
"""

from __future__ import annotations

import argparse
import json
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from threadpoolctl import threadpool_limits

from tactful import Engine, Event, Settings
from tactful.importers.movielens import movielens_events, movielens_items

ML = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small"


def ingest_run(ml: Path, data: Path) -> tuple[float, float, int]:
    items = movielens_items(ml)
    batches = list(movielens_events(ml))
    total = sum(len(b) for b in batches)
    with Engine(Settings(data_dir=data)) as engine:
        engine.upsert_items(items)
        started = time.perf_counter()
        for batch in batches:
            engine.ingest(batch)
        tactful_s = time.perf_counter() - started
        engine.train()  # latency below includes the collaborative model
    conn = sqlite3.connect(data / "floor.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE ev (id TEXT UNIQUE, u TEXT, i TEXT, t TEXT, v REAL, ts REAL)")
    conn.execute("CREATE INDEX ev_u ON ev(u)")
    started = time.perf_counter()
    for batch in batches:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO ev VALUES (?,?,?,?,?,?)",
            [(e.id, e.user_id, e.item_id, e.type, e.value, e.timestamp.timestamp()) for e in batch],  # type: ignore[union-attr]
        )
        conn.execute("COMMIT")
    floor_s = time.perf_counter() - started
    conn.close()
    return total / tactful_s, total / floor_s, total


def percentiles(samples: list[float]) -> tuple[float, float]:
    arr = np.array(samples) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def inprocess_latency(data: Path, users: list[str], fold_cache: bool = True) -> tuple[float, float]:
    """Every person twice after a warm-up pass; ``fold_cache=False`` folds every history afresh."""
    settings = Settings(data_dir=data)
    if not fold_cache:
        settings.models.fold_cache_size = 0
    with Engine(settings) as engine:
        for u in users:
            engine.recommend(u)
        samples = []
        for u in users * 2:
            t = time.perf_counter()
            engine.recommend(u, n=10)
            samples.append(time.perf_counter() - t)
    return percentiles(samples)


def topk_floor(size: int, repeats: int = 2000) -> float:
    """p50 ms of one ``np.argpartition`` top-10 over a catalog-sized score vector: the floor."""
    scores = np.random.default_rng(0).random(size)
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        np.argpartition(-scores, 9)[:10]
        samples.append(time.perf_counter() - t)
    return float(np.percentile(np.array(samples) * 1000, 50))


def measured_apart(kind: str, data: Path, seed: int = 0) -> tuple[float, float]:
    """Run one in-process measurement in a fresh interpreter (see ``--measure``)."""
    out = subprocess.run(
        [sys.executable, __file__, "--measure", kind, "--data", str(data), "--seed", str(seed)],
        check=True,
        capture_output=True,
        text=True,
    )
    p50, p99 = json.loads(out.stdout)
    return float(p50), float(p99)


def after_signal_latency(data: Path, users: list[str], seed: int) -> tuple[float, float]:
    """The first request after each person's new like: the signal is applied on the way in."""
    rng = np.random.default_rng(seed)
    with Engine(Settings(data_dir=data)) as engine:
        catalog = engine.catalog()
        for u in users:
            engine.recommend(u)
        samples = []
        for n, u in enumerate(users):
            item = catalog.item_ids[int(rng.integers(catalog.size))]
            engine.ingest([Event(id=f"bench-{seed}-{n}", user_id=u, item_id=item, type="like")])
            t = time.perf_counter()
            engine.recommend(u, n=10)
            samples.append(time.perf_counter() - t)
    return percentiles(samples)


def http_latency(data: Path, users: list[str]) -> tuple[float, float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tactful.cli.main", "serve", "--port", str(port), "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**__import__("os").environ, "TACTFUL_AUTH__ENABLED": "false"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(200):
                try:
                    client.get("/v1/health")
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            for u in users:
                client.get(f"/v1/users/{u}/recommendations")
            samples = []
            for u in users * 2:
                t = time.perf_counter()
                resp = client.get(f"/v1/users/{u}/recommendations", params={"n": 10})
                samples.append(time.perf_counter() - t)
                resp.raise_for_status()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return percentiles(samples)


MEASURES = {
    "steady": lambda data, users, seed: inprocess_latency(data, users),
    "afresh": lambda data, users, seed: inprocess_latency(data, users, fold_cache=False),
    "after-like": after_signal_latency,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ml", type=Path, default=ML)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--measure", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    threadpool_limits(1)
    users = [str(u) for u in range(1, 611)]
    if args.measure:  # the child side of ``measured_apart``
        print(json.dumps(MEASURES[args.measure](args.data, users, args.seed)))
        return
    rates, floors, same, inproc, cold, signal, http, topk = [], [], [], [], [], [], [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp)
            rate, floor, total = ingest_run(args.ml, data)
            rates.append(rate)
            floors.append(floor)
            topk.append(topk_floor(len(movielens_items(args.ml))))
            same.append(inprocess_latency(data, users))
            inproc.append(measured_apart("steady", data))
            cold.append(measured_apart("afresh", data))
            http.append(http_latency(data, users))
            signal.append(measured_apart("after-like", data, seed=run))  # last: it adds events

        def pair(values: tuple[float, float]) -> str:
            return f"{values[0]:.2f}/{values[1]:.2f}"

        print(
            f"run {run + 1}: ingest {rate:,.0f} ev/s (floor {floor:,.0f}), in-process p50/p99 "
            f"{pair(inproc[-1])} ms (in the importing process {pair(same[-1])}, folding afresh "
            f"{pair(cold[-1])}, after a new like {pair(signal[-1])}), HTTP {pair(http[-1])} ms",
            file=sys.stderr,
        )
    report = {
        "events": total,
        "ingest_events_per_s": round(statistics.median(rates)),
        "raw_insert_floor_events_per_s": round(statistics.median(floors)),
        "ingest_vs_floor": round(statistics.median(rates) / statistics.median(floors), 3),
        "inprocess_ms": {
            "p50": round(statistics.median(p for p, _ in inproc), 2),
            "p99": round(statistics.median(q for _, q in inproc), 2),
        },
        "numpy_topk_floor_p50_ms": round(statistics.median(topk), 3),
        "inprocess_p50_vs_floor": round(statistics.median(p for p, _ in inproc) / statistics.median(topk), 1),
        "inprocess_in_importing_process_ms": {
            "p50": round(statistics.median(p for p, _ in same), 2),
            "p99": round(statistics.median(q for _, q in same), 2),
        },
        "inprocess_folding_afresh_ms": {
            "p50": round(statistics.median(p for p, _ in cold), 2),
            "p99": round(statistics.median(q for _, q in cold), 2),
        },
        "inprocess_after_new_like_ms": {
            "p50": round(statistics.median(p for p, _ in signal), 2),
            "p99": round(statistics.median(q for _, q in signal), 2),
        },
        "http_ms": {
            "p50": round(statistics.median(p for p, _ in http), 2),
            "p99": round(statistics.median(q for _, q in http), 2),
        },
        "runs": args.runs,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
