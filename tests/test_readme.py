"""The README's Python example runs as written (in a scratch folder)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch) -> None:
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102
    recs = namespace["recs"]
    assert recs.items  # type: ignore[attr-defined]
    engine = namespace["engine"]
    assert engine.profile("u1").interests == []  # type: ignore[attr-defined]  # erased at the end
    assert (tmp_path / "tactful-data" / "tactful.sqlite3").is_file()
