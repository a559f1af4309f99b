"""Aggregate engagement per item, shared by ingest, storage and the serving index."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ItemStat:
    """Aggregate engagement with an item: positive interactions and a decayed trend score."""

    item_id: str
    interactions: float = 0.0
    trend: float = 0.0
    trend_ts: float = 0.0
