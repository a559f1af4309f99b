"""Ingest over HTTP only: single-event latency by history length and 10k-event batches.

Run: python benchmarks/ingest_http.py [--data-dir DIR] [--runs 3] [--batches 10] [--single 300]

The ingest part of ``benchmarks/http_load.py`` on its own, for quick before/after runs:
the same prepared ml-latest-small data (items, every rating, a trained model; prepared once
per ``--data-dir``), a fresh copy per run, one ``tactful serve`` worker on 127.0.0.1. Per run:
``POST /v1/events`` p50/p99 for the person with the longest history and for one with about
20 items, then ``POST /v1/events/batch`` events/s over every rating re-sent under fresh ids.
The server's CPU seconds per 10k batch events (from /proc) are reported beside the wall
clock, being steadier on a shared machine. Medians over ``--runs``, with the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_load import (  # noqa: E402
    ML,
    Ratings,
    batch_http,
    free_port,
    median_of,
    prepare,
    restore,
    serving,
    single_ingest,
    tactful_server,
)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children that were waited for (Linux /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.is_file():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def one_run(
    root: Path, pristine: Path, ratings: Ratings, args: argparse.Namespace, seed: int
) -> dict[str, Any]:
    work = restore(pristine, root / "work")
    port = free_port()
    server = tactful_server(work, 1, port, root / f"server-{seed}.log")
    found: list[dict[str, Any]] = []
    out: dict[str, Any] = {"load_1m": os.getloadavg()[0]}
    with serving(server, port, "/v1/health", found) as base:
        for label, user in (("heavy", ratings.heavy), ("light", ratings.light)):
            items = ratings.unrated(user, args.single + 20, seed)
            out[label] = {"history": ratings.counts[user], **single_ingest(base, user, items, 20)}
        pid = server.proc.pid if server.proc else 0
        cpu = _cpu_seconds(pid)
        out["batch"] = batch_http(base, ratings.fresh_batches(args.batches))
        out["batch"]["server_cpu_s_per_10k"] = (_cpu_seconds(pid) - cpu) / out["batch"]["events"] * 10_000
    out["problems"] = found
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="prepare once here and reuse (default: a temp dir)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=10, help="10k-event batches per run")
    parser.add_argument("--single", type=int, default=300, help="single events per person per run")
    args = parser.parse_args()
    ratings = Ratings(ML)
    with tempfile.TemporaryDirectory(prefix="tactful-ingest-http-") as tmp:
        root = Path(tmp)
        pristine = args.data_dir or root / "pristine"
        prepare(ML, pristine)
        runs = []
        for n in range(args.runs):
            run = one_run(root, pristine, ratings, args, n)
            runs.append(run)
            b = run["batch"]
            print(
                f"run {n + 1} (load {run['load_1m']:.2f}): batch {b['events_per_s']:,.0f} events/s, "
                f"server CPU {b['server_cpu_s_per_10k']:.3f} s per 10k, non-2xx {b['non2xx']}; "
                f"single heavy p50/p99 {run['heavy']['p50_ms']:.2f}/{run['heavy']['p99_ms']:.2f} ms, "
                f"light {run['light']['p50_ms']:.2f}/{run['light']['p99_ms']:.2f} ms",
                flush=True,
            )

    def med(*path: str) -> float:
        return median_of(runs, *path)

    print(
        f"median over {len(runs)} runs: batch {med('batch', 'events_per_s'):,.0f} events/s "
        f"(server CPU {med('batch', 'server_cpu_s_per_10k'):.3f} s per 10k events); "
        f"single heavy ({runs[0]['heavy']['history']} items) p50 {med('heavy', 'p50_ms'):.2f} ms, "
        f"p99 {med('heavy', 'p99_ms'):.2f} ms; light ({runs[0]['light']['history']} items) "
        f"p50 {med('light', 'p50_ms'):.2f} ms, p99 {med('light', 'p99_ms'):.2f} ms"
    )


if __name__ == "__main__":
    main()
