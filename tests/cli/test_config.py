from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tactful.cli.config import reference_markdown, reference_rows
from tactful.cli.main import app

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    missing = [var for var, _, text in reference_rows() if not text]
    assert missing == []


def test_settings_reference_is_current() -> None:
    assert DOCS.read_text() == reference_markdown(), "run: tactful config --reference > docs/settings.md"


def test_config_prints_effective_settings(monkeypatch) -> None:
    monkeypatch.setenv("TACTFUL_PROFILE__EVIDENCE_THRESHOLD", "5")
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 0 and '"evidence_threshold": 5' in result.output


def test_toml_file_is_read(tmp_path, monkeypatch) -> None:
    from tactful.config.settings import Settings

    toml = tmp_path / "tactful.toml"
    toml.write_text('data_dir = "/tmp/x"\n[profile]\nevidence_threshold = 4\n')
    monkeypatch.setenv("TACTFUL_CONFIG", str(toml))
    settings = Settings()
    assert settings.profile.evidence_threshold == 4 and str(settings.data_dir) == "/tmp/x"
    monkeypatch.setenv("TACTFUL_PROFILE__EVIDENCE_THRESHOLD", "6")
    assert Settings().profile.evidence_threshold == 6  # environment beats the file
