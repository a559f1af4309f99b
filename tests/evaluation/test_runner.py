"""The runner, the `evaluate` command and the quality regression on ml-latest-small."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from tactful.cli.evaluate import evaluate_app
from tactful.evaluation.dataset import read_movielens
from tactful.evaluation.metrics import ndcg_at_k
from tactful.evaluation.split import holdout_split
from tactful.models.ranking import top_k_rows
from tactful.models.recommender import Recommender


def _write_log(path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    lines = ["user_id,item_id,type,value,tags"]
    for u in range(120):
        home = u % 4
        items = rng.choice(np.arange(home, 200, 4), 14, replace=False)
        lines += [f"u{u},i{i},play,{rng.integers(1, 30)},genre:g{i % 4}" for i in items]
    path.write_text("\n".join(lines))


def test_events_command_prints_only_the_json_report(tmp_path: Path) -> None:
    log = tmp_path / "plays.csv"
    _write_log(log)
    chart = tmp_path / "chart.png"
    result = CliRunner().invoke(evaluate_app, ["events", str(log), "--json", "--plot", str(chart)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"split", "results"}
    assert set(report["split"]) == {"users", "items", "train", "test_users", "targets"}
    names = [r["name"] for r in report["results"]]
    assert names[0] == "tactful" and len(names) == 5
    for row in report["results"]:
        assert {"name", "ndcg@10", "recall@20", "hr@10", "coverage@10", "train_s"} <= set(row)
    assert chart.read_bytes()[:4] == b"\x89PNG"
    best_peer = max(r["ndcg@10"] for r in report["results"][1:])
    assert report["results"][0]["ndcg@10"] >= 0.9 * best_peer


def test_table_output_and_errors(tmp_path: Path) -> None:
    log = tmp_path / "plays.csv"
    _write_log(log, seed=1)
    result = CliRunner().invoke(evaluate_app, ["events", str(log)])
    assert result.exit_code == 0 and "tactful" in result.stdout and "ndcg@10" in result.stdout
    missing = CliRunner().invoke(evaluate_app, ["events", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2


def test_default_quality_on_movielens(movielens_dir: Path) -> None:
    split = holdout_split(read_movielens(movielens_dir))
    data = split.train_data
    model = Recommender.fit(split.train, data.item_ids, split.train_times)
    users = split.test_users
    ranked = top_k_rows(model.batch_scores(split.train[users]), split.train[users], 10)
    ndcg = float(np.mean([ndcg_at_k(r, t) for r, t in zip(ranked, split.targets, strict=True)]))
    assert ndcg >= 0.10
