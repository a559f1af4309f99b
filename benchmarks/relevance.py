"""Relevance figures: tactful against validation-tuned and fixed peers, all in one run.

Reproduces every figure of docs/evaluation.md:

1. ml-latest-small (SPEC §5 split): every model's metrics with bootstrap 95 % intervals, the
   paired comparison with the best validation-tuned peer, and the chart (``--plot``);
2. a per-user-segment breakdown (cold, warming, engaged: by training-history length);
3. item-history staleness: tactful's NDCG@10 with the served retargeting-window fade
   (``policy.interests.stale_item_weight`` of ``policy.hints.retarget_window_days``)
   applied to each test user's history as of their last training interaction, against none;
4. count data without timestamps: ml-latest-small ratings turned into play counts
   (``count_check.write_count_log``; a derived benchmark, not real play logs), full peers;
5. training time of the default recommender on ml-latest-small (median of ``--fits``).

Usage::

    python benchmarks/relevance.py [--data DIR] [--plot chart.png] [--json out.json]
                                   [--skip-counts] [--fits 3] [--cold 30] [--engaged 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table

from tactful.cli.evaluate import _print_table
from tactful.config.settings import Settings
from tactful.evaluation.dataset import read_event_log, read_movielens
from tactful.evaluation.metrics import bootstrap_intervals, bootstrap_samples, per_user_metrics, report_of
from tactful.evaluation.plot import plot_comparison
from tactful.evaluation.runner import ModelRun, build_report, run_models
from tactful.evaluation.split import Split
from tactful.models.history_fold import fold_history
from tactful.models.recommender import Recommender, RecommenderConfig
from tactful.services.planner import fade_stale_items

sys.path.insert(0, str(Path(__file__).resolve().parent))
from count_check import write_count_log  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small"
DAY = 86_400.0


def segments(split: Split, cold: int, engaged: int) -> dict[str, np.ndarray]:
    """Test-user rows by training-history length: cold < ``cold`` ≤ warming < ``engaged`` ≤ engaged."""
    sizes = np.diff(split.train.indptr)[split.test_users]
    return {
        f"cold (< {cold})": np.flatnonzero(sizes < cold),
        f"warming ({cold}–{engaged - 1})": np.flatnonzero((sizes >= cold) & (sizes < engaged)),
        f"engaged (≥ {engaged})": np.flatnonzero(sizes >= engaged),
    }


def segment_table(split: Split, runs: list[ModelRun], cold: int, engaged: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, rows in segments(split, cold, engaged).items():
        entry: dict[str, Any] = {"users": len(rows), "models": {}}
        samples = bootstrap_samples(len(rows), 500, seed)
        for run in runs:
            sub = _subset(run, rows)
            ci = bootstrap_intervals(sub, samples)["ndcg@10"] if len(rows) else (0.0, 0.0)
            entry["models"][run.peer.name] = {
                "kind": run.peer.kind,
                "ndcg@10": round(report_of(sub)["ndcg@10"], 4),
                "ci95": [round(ci[0], 4), round(ci[1], 4)],
            }
        out[label] = entry
    return out


def _subset(run: ModelRun, rows: np.ndarray) -> Any:
    m = run.metrics
    return type(m)(
        m.ndcg[rows],
        m.recall[rows],
        m.hit_rate[rows],
        m.diversity[rows],
        m.novelty[rows],
        m.top[rows],
        m.n_items,
    )


def staleness(split: Split, model: Recommender, seed: int) -> dict[str, Any]:
    """NDCG@10 of tactful with and without the served fade of history older than the window."""
    settings = Settings()
    window = settings.policy.hints.retarget_window_days
    stale_weight = settings.policy.interests.stale_item_weight
    train, times = split.train, split.train_times
    if times is None:
        return {"skipped": "the dataset has no timestamps"}
    weighting = model.config.signal_weighting
    grid = sorted({0.0, 0.1, 0.25, 0.5, stale_weight})
    capped = "stale reinforces only (not served)"
    twice = "stale reinforces up to 2x fresh (not served)"
    supported = "stale counts where fresh supports (not served)"
    lists: dict[str, list[np.ndarray]] = {
        "no fade": [],
        "fade": [],
        **{f"weight {w:g}": [] for w in grid},
        capped: [],
        twice: [],
        supported: [],
    }
    stale_share = []
    for u in split.test_users:
        lo, hi = train.indptr[u], train.indptr[u + 1]
        idx = train.indices[lo:hi].astype(np.int64)
        stamps = times.data[times.indptr[u] : times.indptr[u + 1]]
        weights = weighting.row(train.data[lo:hi], stamps)
        now = float(stamps.max()) if len(stamps) else 0.0
        cutoff = now - window * DAY
        faded, _ = fade_stale_items(weights, stamps, cutoff, stale_weight)
        stale_share.append(float(np.mean(stamps < cutoff)) if len(stamps) else 0.0)
        variants = [("no fade", weights), ("fade", faded)]
        variants += [(f"weight {w:g}", fade_stale_items(weights, stamps, cutoff, w)[0]) for w in grid]
        for name, w in variants:
            w = np.asarray(w, np.float32)
            # the sequence component reads the most recent items the fade leaves whole:
            # a faded (stale) item drives no transition either
            whole = w >= weights
            fold = fold_history(model, idx, w)
            fold = replace(fold, recent=model.recent(idx[whole], stamps[whole]))
            lists[name].append(_top20(model.score_fold(fold), idx))
        # an alternative the policy could adopt: stale items add to an item's score at most
        # what the fresh history already gives it, so they never lift an item on their own
        stale = (stamps < cutoff) & (weights > 0)
        n = model.artifact.n_items
        fresh_part, stale_part = np.zeros(n, np.float32), np.zeros(n, np.float32)
        at, part = model.items.contributions(idx[~stale], weights[~stale])
        fresh_part[at] = part
        if stale.any():
            at, part = model.items.contributions(idx[stale], weights[stale])
            stale_part[at] = part
        fold = fold_history(model, idx, faded)
        # looser variants: stale items may add up to twice the fresh part; or they count in
        # full wherever the fresh history gives an item a positive score, faded elsewhere
        parts = {
            capped: fresh_part + np.minimum(stale_part, np.maximum(fresh_part, 0.0)),
            twice: fresh_part + np.minimum(stale_part, 2 * np.maximum(fresh_part, 0.0)),
            supported: fresh_part + np.where(fresh_part > 0, stale_part, stale_weight * stale_part),
        }
        for name, part in parts.items():
            variant = replace(
                fold,
                support=np.arange(n, dtype=np.int64),
                part=part.astype(np.float32),
                recent=model.recent(idx[~stale], stamps[~stale]),
            )
            lists[name].append(_top20(model.score_fold(variant), idx))
    data = split.train_data
    item_users = np.diff(sp.csc_matrix(train).indptr)
    metrics = {
        k: per_user_metrics(v, split.targets, data.n_items, item_users, data.n_users, data.item_tags)
        for k, v in lists.items()
    }
    samples = bootstrap_samples(len(split.test_users), 1000, seed)
    diff = metrics["fade"].ndcg - metrics["no fade"].ndcg
    boot = diff[samples].mean(axis=1)
    return {
        "retarget_window_days": window,
        "stale_item_weight": stale_weight,
        "mean_stale_share_of_history": round(float(np.mean(stale_share)), 4),
        "ndcg@10": {k: round(report_of(m)["ndcg@10"], 4) for k, m in metrics.items()},
        "difference": round(float(diff.mean()), 4),
        "difference_ci95": [
            round(float(np.percentile(boot, 2.5)), 4),
            round(float(np.percentile(boot, 97.5)), 4),
        ],
        "users_changed": int((diff != 0).sum()),
        "ndcg@10_of_changed_users": {
            k: round(float(m.ndcg[diff != 0].mean()), 4) if (diff != 0).any() else None
            for k, m in metrics.items()
            if k in ("no fade", "fade")
        },
    }


def _top20(scores: np.ndarray, history: np.ndarray) -> np.ndarray:
    scores = scores.copy()
    scores[history] = -np.inf
    best = np.argpartition(-scores, 20)[:20]
    return best[np.lexsort((best, -scores[best]))]


def training_time(split: Split, fits: int) -> dict[str, float]:
    wall, cpu = [], []
    for _ in range(fits):
        t, c = time.perf_counter(), time.process_time()
        Recommender.fit(split.train, split.train_data.item_ids, split.train_times, RecommenderConfig())
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {
        "fits": fits,
        "median_wall_s": round(statistics.median(wall), 2),
        "median_cpu_s": round(statistics.median(cpu), 2),
    }


def count_benchmark(data_dir: Path, seed: int, top: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plays.csv"
        write_count_log(data_dir, path, seed=seed, top=top)
        split, runs = run_models(read_event_log(path), seed=seed)
    return build_report(split, runs, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write every figure as JSON here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fits", type=int, default=3, help="training-time repetitions")
    parser.add_argument("--cold", type=int, default=30, help="cold: fewer training interactions than this")
    parser.add_argument("--engaged", type=int, default=100, help="engaged: at least this many")
    parser.add_argument("--skip-counts", action="store_true", help="skip the derived count benchmark")
    args = parser.parse_args()
    console = Console()
    split, runs = run_models(read_movielens(args.data), seed=args.seed)
    report = build_report(split, runs, args.seed)
    figures: dict[str, Any] = {"movielens": report}
    console.rule("ml-latest-small (SPEC §5)")
    _print_table(report, console)
    if args.plot is not None:
        plot_comparison(report, args.plot)
        console.print(f"chart written to {args.plot}")

    console.rule("per-user segments (training-history length), NDCG@10 [95 % interval]")
    seg = segment_table(split, runs, args.cold, args.engaged, args.seed)
    figures["segments"] = seg
    table = Table()
    table.add_column("model", overflow="fold", min_width=16)
    for label, entry in seg.items():
        table.add_column(f"{label}\n{entry['users']} users", justify="right")
    for run in runs:
        cells = []
        for entry in seg.values():
            m = entry["models"][run.peer.name]
            cells.append(f"{m['ndcg@10']:.4f}\n[dim]{m['ci95'][0]:.3f}–{m['ci95'][1]:.3f}[/dim]")
        table.add_row(run.peer.name, *cells, style="red" if run.peer.kind == "tactful" else None)
    console.print(table)

    console.rule("item-history staleness (served fade), tactful NDCG@10")
    model = runs[0].fitted.model
    stale = staleness(split, model, args.seed) if isinstance(model, Recommender) else {"skipped": "no model"}
    figures["staleness"] = stale
    console.print_json(data=stale)

    console.rule("training time of the default recommender on ml-latest-small")
    figures["training"] = training_time(split, args.fits)
    console.print_json(data=figures["training"])

    if not args.skip_counts:
        for top in (None, 50):
            label = "count data (derived play counts, no timestamps)" + (
                "" if top is None else f", top {top}"
            )
            console.rule(label)
            counts = count_benchmark(args.data, args.seed, top)
            figures["counts" if top is None else f"counts_top{top}"] = counts
            _print_table(counts, console)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
