"""Count-valued check: MovieLens ratings turned into play-count-like events, no timestamps.

Each rating becomes one ``play`` event whose value is a heavy-tailed count that grows with
the rating and with a per-person activity level; timestamps are dropped, so the split is a
seeded random 20 % per user and every held-out interaction is a target (as for Last.fm
style logs). ``--synthetic`` instead writes a Last.fm-sized log (1.9k people, 17.6k
artists, 93k plays; Zipf popularity, clustered tastes) from ``scale.synthetic_plays``.
Usage::

    python benchmarks/count_check.py [--data DIR] [--top 50] [--uninformative]
                                     [--synthetic] [--json] [--out events.csv]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

import numpy as np

from tactful.evaluation.dataset import read_event_log, read_movielens
from tactful.evaluation.runner import run_evaluation

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small"


def write_count_log(
    data_dir: Path, out: Path, seed: int = 0, informative: bool = True, top: int | None = None
) -> None:
    """Write the derived ``user_id,item_id,type,value`` CSV (no timestamp column).

    ``top`` keeps only each person's ``top`` most played items, as Last.fm's
    user–artist lists do (top 50 artists per user).
    """
    data = read_movielens(data_dir)
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 0.8, data.n_users)
    strength = 0.9 * (data.values - 1.0) if informative else np.full(len(data.values), 1.8)
    counts = np.ceil(activity[data.users] * np.exp(rng.normal(strength, 1.0))).astype(int)
    counts = np.maximum(counts, 1)
    keep = np.ones(len(counts), dtype=bool)
    if top is not None:
        order = np.lexsort((-counts, data.users))
        starts = np.searchsorted(data.users[order], np.arange(data.n_users))
        rank = np.arange(len(order)) - starts[data.users[order]]
        keep[order] = rank < top
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["user_id", "item_id", "type", "value"])
        for u, i, c in zip(data.users[keep], data.items[keep], counts[keep], strict=True):
            writer.writerow([data.user_ids[u], data.item_ids[i], "play", int(c)])


def write_synthetic_log(out: Path, seed: int = 1) -> None:
    """A Last.fm-sized play-count log with no timestamps."""
    from scale import synthetic_plays

    plays = synthetic_plays(17_600, 1_900, 93_000, clusters=60, seed=seed)
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["user_id", "item_id", "type", "value"])
        for u in range(plays.shape[0]):
            lo, hi = plays.indptr[u], plays.indptr[u + 1]
            for i, v in zip(plays.indices[lo:hi], plays.data[lo:hi], strict=True):
                writer.writerow([f"u{u}", f"a{i}", "play", int(v * 37)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--uninformative", action="store_true", help="counts ignore ratings")
    parser.add_argument("--top", type=int, default=None, help="keep each person's top N items")
    parser.add_argument("--synthetic", action="store_true", help="Last.fm-sized synthetic log")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.out or Path(tmp) / "plays.csv"
        if args.synthetic:
            write_synthetic_log(path)
        else:
            write_count_log(args.data, path, informative=not args.uninformative, top=args.top)
        report = run_evaluation(read_event_log(path))
    if args.json:
        print(json.dumps(report))
        return
    from rich.console import Console

    from tactful.cli.evaluate import _print_table

    _print_table(report, Console())


if __name__ == "__main__":
    main()
