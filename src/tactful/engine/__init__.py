"""The engine that composes signals, scorers and policies."""

from tactful.engine.engine import Engine

__all__ = ["Engine"]
