"""Experiment mechanics are tested without the global holdout (its own tests switch it on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tactful import Settings
from tactful.config.experiments import ExperimentSettings, HoldoutMode
from tactful.config.security import AuthSettings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        auth=AuthSettings(enabled=False),
        experiments=ExperimentSettings(holdout=HoldoutMode.off),
    )
