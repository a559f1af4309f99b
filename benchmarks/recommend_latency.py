"""In-process ``Engine.recommend`` latency with every policy on, on the ml-latest-small import.

Run: python benchmarks/recommend_latency.py [--data DIR] [--runs 5] [--json]

``--data`` is a data directory holding a ``tactful import movielens`` import (default:
imports ml-latest-small into a temporary directory first, ~30 s). Each run works on a
fresh copy of that database, recommends once for all 610 people (warm caches), then
times 2000 ``recommend(user, n=10)`` calls single-threaded and reports p50/p99 wall time,
p50/p99 thread CPU time (insensitive to other processes taking the CPU) and, as the peer
measured in the same run, one ``np.argpartition`` over as many floats as the catalog has
items. Medians over runs are reported; compare ratios to the peer across machines.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tactful import Engine, Settings

ML = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small"


def one_run(source: Path, work: Path) -> dict[str, float]:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work)
    with Engine(Settings(data_dir=work)) as engine:
        users = [str(u) for u in range(1, 611)]
        for user in users:
            engine.recommend(user)
        floats = np.random.default_rng(0).random(engine.catalog().size)
        wall, cpu, peer = [], [], []
        for k in range(2000):
            user = users[k * 7 % 610]
            t, c = time.perf_counter(), time.thread_time()
            engine.recommend(user, n=10)
            cpu.append(time.thread_time() - c)
            wall.append(time.perf_counter() - t)
            if k % 10 == 0:
                t = time.perf_counter()
                np.argpartition(floats, 10)
                peer.append(time.perf_counter() - t)
    ms = np.array(wall) * 1000
    cpu_ms = np.array(cpu) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "cpu_p50_ms": float(np.percentile(cpu_ms, 50)),
        "cpu_p99_ms": float(np.percentile(cpu_ms, 99)),
        "argpartition_us": float(np.median(peer) * 1e6),
    }


def run(data: Path | None, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        if data is None:
            from typer.testing import CliRunner

            from tactful.cli.main import app

            data = Path(tmp) / "import"
            result = CliRunner().invoke(app, ["import", "movielens", str(ML), "--data-dir", str(data)])
            if result.exit_code != 0:
                raise SystemExit(result.output)
        results = [one_run(data, Path(tmp) / "run") for _ in range(runs)]
    report: dict[str, Any] = {k: round(statistics.median(r[k] for r in results), 3) for k in results[0]}
    report["p50_over_argpartition"] = round(report["p50_ms"] * 1000 / report["argpartition_us"], 1)
    report["runs"] = runs
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="an existing import's data directory")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run(args.data, args.runs)
    if args.json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        print(f"{key:24s} {value}")


if __name__ == "__main__":
    main()
