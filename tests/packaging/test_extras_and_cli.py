"""Optional extras give one hint when missing; the root command's --version and --data-dir."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tactful import __version__
from tactful.cli.main import app, main
from tactful.errors import MissingExtra
from tactful.evaluation.dataset import read_event_log
from tactful.extras import EXTRAS, hint, require

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``import module`` fail as it does when the package is not installed."""
    for name in list(sys.modules):
        if any(name == m or name.startswith(m + ".") for m in modules):
            monkeypatch.delitem(sys.modules, name)
    for m in modules:
        monkeypatch.setitem(sys.modules, m, None)


def test_every_declared_extra_has_a_hint_and_test_pulls_them() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(EXTRAS) == set(extras) - {"test"}
    wanted = {"plots", "parquet", "ann", "spark", "postgres", "redis", "otel"}
    assert wanted <= set(EXTRAS)
    test_self = [d for d in extras["test"] if d.startswith("tactful[")]
    assert len(test_self) == 1
    pulled = set(test_self[0].split("[", 1)[1].rstrip("]").split(","))
    assert wanted <= pulled


def test_runtime_dependencies_are_ranges_not_pins() -> None:
    deps = PYPROJECT["project"]["dependencies"]
    assert deps and not [d for d in deps if "==" in d]
    heavy = ("matplotlib", "pyarrow", "hnswlib", "pyspark", "psycopg", "redis", "opentelemetry")
    assert not [d for d in deps if d.startswith(heavy)]
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    names = {d.split(">")[0].split("<")[0].split("[")[0].lower() for d in deps}
    assert names <= pinned, names - pinned


def test_a_missing_module_becomes_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    hide(monkeypatch, "pyarrow")
    with pytest.raises(MissingExtra) as caught:
        require("pyarrow.parquet", "parquet", "reading a Parquet event log")
    message = caught.value.message
    assert "\n" not in message and "pip install 'tactful[parquet]'" in message
    assert message == hint("parquet", "reading a Parquet event log") and caught.value.extra == "parquet"


def test_an_installed_package_failing_inside_is_not_disguised(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the module is there, but one of its own imports is missing: that error surfaces as it is
    (tmp_path / "tactful_probe_pkg.py").write_text("import tactful_probe_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as caught:
        require("tactful_probe_pkg", "parquet", "x")
    assert not isinstance(caught.value, MissingExtra)
    assert caught.value.name == "tactful_probe_missing_dependency"
    with pytest.raises(ValueError):
        require("json", "no-such-extra", "x")


def test_reading_parquet_without_pyarrow_hints(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "plays.parquet"
    log.write_bytes(b"PAR1")
    hide(monkeypatch, "pyarrow")
    with pytest.raises(MissingExtra, match=r"tactful\[parquet\]"):
        read_event_log(log)


def test_the_cli_prints_the_hint_as_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "plays.parquet"
    log.write_bytes(b"PAR1")
    hide(monkeypatch, "pyarrow")
    monkeypatch.setattr(sys, "argv", ["tactful", "evaluate", "events", str(log)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'tactful[parquet]'" in lines[0], lines


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"tactful {__version__}"


def test_root_data_dir_reaches_every_command_and_a_command_option_still_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TACTFUL_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    root = tmp_path / "root-data"
    result = runner.invoke(
        app, ["--data-dir", str(root), "keys", "create", "--name", "ci", "--scope", "serve"]
    )
    assert result.exit_code == 0, result.output
    assert (root / "tactful.sqlite3").is_file() and not (tmp_path / "tactful-data").exists()
    listed = runner.invoke(app, ["--data-dir", str(root), "keys", "list"])
    assert listed.exit_code == 0 and "ci" in listed.output
    own = tmp_path / "own-data"
    result = runner.invoke(
        app,
        [
            "--data-dir",
            str(root),
            "keys",
            "create",
            "--name",
            "x",
            "--scope",
            "serve",
            "--data-dir",
            str(own),
        ],
    )
    assert result.exit_code == 0 and (own / "tactful.sqlite3").is_file()
    import os

    assert "TACTFUL_DATA_DIR" not in os.environ  # nothing leaks past the invocation
