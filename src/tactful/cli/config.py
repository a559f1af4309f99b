"""``tactful config``: the effective settings, and the reference of every knob with its default."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from tactful.config.settings import Settings

HEADER = """# Settings reference

Every knob tactful has, generated from the settings model (`tactful config --reference`).
Set them as `TACTFUL_*` environment variables (nested with `__`, e.g.
`TACTFUL_PROFILE__EVIDENCE_THRESHOLD=4`), in the TOML file named by `TACTFUL_CONFIG`
(default `./tactful.toml` when present, with nested tables such as `[profile]`), or as
keyword arguments to `Settings(...)` in Python.

| environment variable | default | meaning |
|---|---|---|
"""


def _default(field: Any) -> Any:
    if field.default is not PydanticUndefined:
        return field.default
    if field.default_factory is not None:
        return field.default_factory()
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _render(value: Any) -> str:
    value = _plain(value)
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text.replace("|", "\\|")


def reference_rows(model: type[BaseModel] = Settings, prefix: str = "TACTFUL_") -> list[tuple[str, str, str]]:
    """(variable, default, description) for every leaf setting, depth first."""
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        var = f"{prefix}{name.upper()}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(reference_rows(annotation, var + "__"))
            continue
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append((var, _render(_default(field)), description))
    return rows


def reference_markdown() -> str:
    lines = [f"| `{var}` | `{default}` | {text} |" for var, default, text in reference_rows()]
    return HEADER + "\n".join(lines) + "\n"


def config(
    reference: Annotated[
        bool, typer.Option("--reference", help="Print the Markdown reference of every setting.")
    ] = False,
) -> None:
    """Print the effective settings as JSON (or the reference of every knob)."""
    if reference:
        typer.echo(reference_markdown(), nl=False)
        return
    typer.echo(Settings().model_dump_json(indent=2))
