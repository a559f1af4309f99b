"""Reproduce the SPEC §5 figures: tactful and its peers on ml-latest-small, in one run.

Usage::

    python benchmarks/evaluate_movielens.py [--data DIR] [--json] [--plot chart.png]

Equivalent to ``tactful evaluate movielens DIR``; kept here so the benchmark can run
from a checkout without the CLI installed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tactful.evaluation.dataset import read_movielens
from tactful.evaluation.plot import plot_comparison
from tactful.evaluation.runner import run_evaluation

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    report = run_evaluation(read_movielens(args.data))
    if args.plot is not None:
        plot_comparison(report, args.plot)
    if args.json:
        print(json.dumps(report))
        return
    from rich.console import Console

    from tactful.cli.evaluate import _print_table

    _print_table(report, Console())


if __name__ == "__main__":
    main()
