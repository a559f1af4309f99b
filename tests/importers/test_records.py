from __future__ import annotations

import json

import pytest

from tactful.errors import ValidationError
from tactful.importers.records import read_events, read_items


def test_csv_items_and_jsonl_events(tmp_path) -> None:
    items = tmp_path / "items.csv"
    items.write_text("id,title,tags,attributes.price\na,Alpha,genre:x|mood:y,3.5\n")
    [[item]] = list(read_items(items))
    assert item.tags == ["genre:x", "mood:y"] and item.attributes.price == 3.5
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"user_id": "u", "item_id": "a", "type": "like"}) + "\n\n")
    [[event]] = list(read_events(events))
    assert event.type == "like"


def test_bad_rows_name_the_line(tmp_path) -> None:
    bad = tmp_path / "events.csv"
    bad.write_text("user_id,item_id,type,value\nu,a,like,notanumber\n")
    with pytest.raises(ValidationError, match="line 2"):
        list(read_events(bad))
    broken = tmp_path / "e.jsonl"
    broken.write_text("{oops\n")
    with pytest.raises(ValidationError, match="line 1"):
        list(read_events(broken))
    with pytest.raises(ValidationError):
        list(read_items(tmp_path / "items.parquet"))
