from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tactful.cli.main import app
from tactful.storage import open_store
from tests.conftest import ML_DIR

pytestmark = pytest.mark.skipif(not ML_DIR.is_dir(), reason="ml-latest-small not present")


def test_import_movielens_counts(tmp_path) -> None:
    result = CliRunner().invoke(app, ["import", "movielens", str(ML_DIR), "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    store = open_store(f"sqlite:///{(tmp_path / 'tactful.sqlite3').resolve()}")
    assert store.count("persons") == 610
    assert store.count("items") == 9742
    assert store.count("events") == 100_836
    toy = store.get_item("1")
    assert "genre:animation" in toy.tags and any(t.startswith("tag:") for t in toy.tags)
