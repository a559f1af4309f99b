"""SPEC §5 split on the real dataset, and the event-log readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tactful.errors import ValidationError
from tactful.evaluation.dataset import read_event_log, read_movielens
from tactful.evaluation.split import holdout_split


def test_movielens_split_matches_the_spec(movielens_dir: Path) -> None:
    data = read_movielens(movielens_dir)
    split = holdout_split(data)
    assert split.summary() == {
        "users": 610,
        "items": 9724,
        "train": 80419,
        "test_users": 592,
        "targets": 9509,
    }
    assert data.value_kind == "rating"
    assert "genre:comedy" in data.item_tags[int(np.flatnonzero(data.item_ids == "1")[0])]


def _rows(n_users: int = 12, per_user: int = 10) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for u in range(n_users):
        for k in range(per_user):
            rows.append({"user_id": f"u{u}", "item_id": f"i{(u + k) % 30}", "type": "play", "value": k + 1})
    return rows


def test_held_out_interactions_are_the_latest(tmp_path: Path) -> None:
    rows = _rows()
    for t, row in enumerate(rows):
        row["timestamp"] = 1000 + t
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    split = holdout_split(read_event_log(path))
    assert split.summary()["train"] == 12 * 8 and split.n_targets == 12 * 2
    data = split.train_data
    assert data.timestamps is not None and data.value_kind == "count"
    first_user = split.targets[0]
    assert sorted(data.item_ids[first_user].tolist()) == ["i8", "i9"]


def test_without_timestamps_the_holdout_is_a_seeded_random_fifth(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    lines = ["user_id,item_id,type,value"] + [
        f"{r['user_id']},{r['item_id']},{r['type']},{r['value']}" for r in _rows()
    ]
    path.write_text("\n".join(lines))
    a = holdout_split(read_event_log(path), seed=1)
    b = holdout_split(read_event_log(path), seed=1)
    c = holdout_split(read_event_log(path), seed=2)
    assert a.n_targets == 24 and all(len(t) == 2 for t in a.targets)
    assert [t.tolist() for t in a.targets] == [t.tolist() for t in b.targets]
    assert [t.tolist() for t in a.targets] != [t.tolist() for t in c.targets]


def test_parquet_logs_aggregate_repeats_and_read_tags(tmp_path: Path) -> None:
    rows = [
        {"user_id": "a", "item_id": "x", "type": "play", "value": 2.0, "tags": "genre:jazz"},
        {"user_id": "a", "item_id": "x", "type": "play", "value": 3.0, "tags": ""},
        {"user_id": "a", "item_id": "y", "type": "impression", "value": 1.0, "tags": ""},
        {"user_id": "b", "item_id": "y", "type": "rate", "value": 4.5, "tags": "genre:rock"},
    ]
    path = tmp_path / "log.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    data = read_event_log(path)
    assert data.values.tolist() == [5.0, 4.5]
    assert data.is_rating.tolist() == [False, True]
    assert data.item_tags == (frozenset({"genre:jazz"}), frozenset({"genre:rock"}))


def test_bad_logs_are_rejected(tmp_path: Path) -> None:
    missing = tmp_path / "bad.csv"
    missing.write_text("user,item\n1,2\n")
    with pytest.raises(ValidationError):
        read_event_log(missing)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("user_id,item_id,type,value\n1,2,play,lots\n")
    with pytest.raises(ValidationError) as info:
        read_event_log(wrong)
    assert info.value.field == "value"
    with pytest.raises(ValidationError):
        read_event_log(tmp_path / "absent.csv")
