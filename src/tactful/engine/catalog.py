"""The in-memory catalog index: item and tag arrays the scorers and policies work over."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from tactful.clock import to_epoch
from tactful.domain.item import Item, TagMeta
from tactful.storage.protocol import ItemStat


@dataclass
class CatalogIndex:
    """Items in a fixed order with a sparse item×tag matrix and aggregate counters."""

    version: int
    items: list[Item]
    item_ids: list[str]
    index: dict[str, int]
    tag_ids: list[str]
    tag_index: dict[str, int]
    item_tag: sp.csr_matrix  # binary
    item_tag_norm: sp.csr_matrix  # rows scaled to unit length
    sensitive: list[frozenset[str]]
    tag_sensitive: dict[str, str]
    available_from: np.ndarray
    expires_at: np.ndarray
    interactions: np.ndarray
    trend: np.ndarray
    trend_ts: np.ndarray
    tag_labels: dict[str, str] = field(default_factory=dict)
    stats_epoch: int = 0

    @property
    def size(self) -> int:
        return len(self.item_ids)

    @classmethod
    def build(
        cls,
        items: Sequence[Item],
        tag_meta: Sequence[TagMeta] = (),
        stats: Sequence[ItemStat] = (),
        version: int = 0,
    ) -> CatalogIndex:
        item_list = list(items)
        item_ids = [i.id for i in item_list]
        index = {iid: n for n, iid in enumerate(item_ids)}
        tag_sensitive = {m.tag: m.sensitive_category for m in tag_meta if m.sensitive_category}
        tag_index: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for n, item in enumerate(item_list):
            for tag in dict.fromkeys(item.tags):
                rows.append(n)
                cols.append(tag_index.setdefault(tag, len(tag_index)))
        for tag in tag_sensitive:
            tag_index.setdefault(tag, len(tag_index))
        shape = (len(item_list), len(tag_index))
        item_tag = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape, dtype=np.float32
        )
        counts = np.asarray(item_tag.sum(axis=1)).ravel()
        scale = sp.diags(1.0 / np.sqrt(np.maximum(counts, 1.0))).astype(np.float32)
        sensitive = [
            frozenset(item.sensitive) | frozenset(tag_sensitive[t] for t in item.tags if t in tag_sensitive)
            for item in item_list
        ]
        interactions = np.zeros(len(item_list))
        trend = np.zeros(len(item_list))
        trend_ts = np.zeros(len(item_list))
        for stat in stats:
            pos = index.get(stat.item_id)
            if pos is not None:
                interactions[pos], trend[pos], trend_ts[pos] = stat.interactions, stat.trend, stat.trend_ts
        return cls(
            version=version,
            items=item_list,
            item_ids=item_ids,
            index=index,
            tag_ids=list(tag_index),
            tag_index=tag_index,
            item_tag=item_tag,
            item_tag_norm=sp.csr_matrix(scale @ item_tag),
            sensitive=sensitive,
            tag_sensitive=tag_sensitive,
            available_from=_times(item_list, "available_from", -np.inf),
            expires_at=_times(item_list, "expires_at", np.inf),
            interactions=interactions,
            trend=trend,
            trend_ts=trend_ts,
            tag_labels={m.tag: m.label for m in tag_meta if m.label},
        )

    def available(self, now: float) -> np.ndarray:
        """Boolean mask of items that may be shown at ``now``."""
        return (self.available_from <= now) & (self.expires_at > now)

    def tags_of(self, pos: int) -> list[str]:
        return self.items[pos].tags

    def apply_stats(self, stats: Sequence[ItemStat]) -> None:
        """Refresh counters in place after this worker committed an ingest."""
        for stat in stats:
            pos = self.index.get(stat.item_id)
            if pos is not None:
                self.interactions[pos] = stat.interactions
                self.trend[pos] = stat.trend
                self.trend_ts[pos] = stat.trend_ts
        self.stats_epoch += 1


def _times(items: Sequence[Item], attr: str, default: float) -> np.ndarray:
    out = np.full(len(items), default)
    for n, item in enumerate(items):
        value = getattr(item.attributes, attr)
        if value is not None:
            out[n] = to_epoch(value)
    return out
