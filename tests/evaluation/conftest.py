"""Shared fixtures: the MovieLens folder (tests skip when it is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

MOVIELENS = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "ml-latest-small"


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    if not (MOVIELENS / "ratings.csv").is_file():
        pytest.skip("ml-latest-small is not available")
    return MOVIELENS
