"""Optional parts of tactful and the one hint given when one is missing.

The base install serves the API and runs the demo; heavier parts are extras
(``pip install 'tactful[parquet]'``). Code that needs one imports it with
:func:`require`, which raises :class:`~tactful.errors.MissingExtra` carrying a one-line
hint instead of a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from tactful.errors import MissingExtra

EXTRAS: dict[str, str] = {
    "plots": "matplotlib",
    "parquet": "pyarrow",
    "ann": "hnswlib",
    "spark": "pyspark",
    "postgres": "psycopg",
    "redis": "redis",
    "otel": "opentelemetry",
    "s3": "s3fs",
}
"""Each extra and the package it brings, as ``pyproject.toml`` declares them."""


def hint(extra: str, needed_for: str) -> str:
    """The one-line message for a missing extra."""
    what = EXTRAS.get(extra, extra)
    return f"{needed_for} needs the optional '{extra}' extra ({what}): pip install 'tactful[{extra}]'"


def require(module: str, extra: str, needed_for: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtra` naming the extra that brings it.

    Only a missing ``module`` itself (or its own top-level package) becomes the hint; an
    installed package failing on an import of its own is left to surface as it is.
    """
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != top:
            raise
        raise MissingExtra(hint(extra, needed_for), extra) from exc


def available(module: str) -> bool:
    """Whether ``module`` can be imported (for optional behaviour that has a fallback)."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError:
        return False
    return True
