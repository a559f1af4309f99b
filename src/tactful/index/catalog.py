"""The in-memory catalog index: item and tag arrays the scorers and policies work over."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from tactful.clock import to_epoch
from tactful.domain.item import Item, TagMeta
from tactful.domain.stats import ItemStat
from tactful.index.exposure import ExposureRanking

CHANGE_LOG = 256  # counter updates remembered, so memoized scores can patch rather than redo


@dataclass(frozen=True)
class CatalogArrays:
    """Per-catalog structures derived once, so per-request policies are a few vectorized ops."""

    item_tag_csc: sp.csc_matrix  # the binary item×tag matrix by column: items of a tag at once
    item_tag_norm64: sp.csr_matrix  # ``item_tag_norm`` in float64 (what scipy would upcast to per call)
    tag_counts: np.ndarray  # distinct tags per item
    creator_tags: np.ndarray  # bool per tag: a ``creator:`` tag
    tag_specificity: np.ndarray  # per tag in [0, 1]: how much one item with it says (see below)
    categories: tuple[str, ...]  # every sensitive category in the catalog, sorted
    category_index: dict[str, int]
    item_category: np.ndarray  # bool item×category: the item is in that sensitive category
    always_available: bool  # no item has an availability window
    availability_changes: np.ndarray  # every finite window start or end, sorted

    @classmethod
    def build(
        cls,
        item_tag: sp.csr_matrix,
        item_tag_norm: sp.csr_matrix,
        tag_ids: Sequence[str],
        sensitive: Sequence[frozenset[str]],
        tag_sensitive: dict[str, str],
        available_from: np.ndarray,
        expires_at: np.ndarray,
    ) -> CatalogArrays:
        categories = tuple(sorted(set().union(*sensitive, tag_sensitive.values())))
        category_index = {c: n for n, c in enumerate(categories)}
        item_category = np.zeros((len(sensitive), len(categories)), dtype=bool)
        for row, cats in enumerate(sensitive):
            for c in cats:
                item_category[row, category_index[c]] = True
        csc = sp.csc_matrix(item_tag)
        csc.sort_indices()
        counts = np.asarray(item_tag.sum(axis=1)).ravel()
        creators = np.array([t.startswith("creator:") for t in tag_ids], dtype=bool)
        specificity = tag_specificity(np.diff(csc.indptr), creators, item_tag.shape[0])
        for array in (counts, item_category, specificity):
            array.flags.writeable = False
        return cls(
            item_tag_csc=csc,
            item_tag_norm64=sp.csr_matrix(item_tag_norm, dtype=np.float64),
            tag_counts=counts,
            creator_tags=creators,
            tag_specificity=specificity,
            categories=categories,
            category_index=category_index,
            item_category=item_category,
            always_available=bool(np.all(available_from == -np.inf) and np.all(expires_at == np.inf)),
            availability_changes=_finite_sorted(available_from, expires_at),
        )


def tag_specificity(items_per_tag: np.ndarray, creators: np.ndarray, size: int) -> np.ndarray:
    """How specific each tag is, in [0, 1]: a creator is 1; any other tag ``1 - log(1+n) /
    log(1+N)`` for a tag on ``n`` of the catalog's ``N`` items, so a series or a mood on a
    few items says much more about one item than a genre half the catalog carries."""
    n = np.asarray(items_per_tag, dtype=np.float64)
    spread = np.log1p(n) / np.log1p(max(size, 1))
    return np.where(creators, 1.0, np.clip(1.0 - spread, 0.0, 1.0))


def _finite_sorted(*arrays: np.ndarray) -> np.ndarray:
    joined = np.concatenate([np.asarray(a, dtype=float) for a in arrays]) if arrays else np.zeros(0)
    return np.sort(joined[np.isfinite(joined)])


def items_with_columns(item_tag_csc: sp.csc_matrix, cols: np.ndarray, size: int) -> np.ndarray:
    """Boolean mask of the ``size`` items carrying at least one of the tag columns ``cols``."""
    mask = np.zeros(size, dtype=bool)
    if len(cols) == 0 or size == 0:
        return mask
    indptr, indices = item_tag_csc.indptr, item_tag_csc.indices
    if len(cols) == 1:
        col = int(cols[0])
        mask[indices[indptr[col] : indptr[col + 1]]] = True
        return mask
    starts, ends = indptr[cols], indptr[np.asarray(cols) + 1]
    mask[np.concatenate([indices[a:b] for a, b in zip(starts, ends, strict=True)])] = True
    return mask


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
    derived: CatalogArrays = field(init=False, repr=False, compare=False)
    _memo: dict[tuple[str, frozenset[str]], np.ndarray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _ranking: ExposureRanking | None = field(default=None, init=False, repr=False, compare=False)
    _changes: deque[tuple[int, np.ndarray]] = field(
        default_factory=lambda: deque(maxlen=CHANGE_LOG), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.derived = CatalogArrays.build(
            self.item_tag,
            self.item_tag_norm,
            self.tag_ids,
            self.sensitive,
            self.tag_sensitive,
            self.available_from,
            self.expires_at,
        )

    @property
    def size(self) -> int:
        return len(self.item_ids)

    def tag_columns(self, tags: Iterable[str]) -> np.ndarray:
        """Sorted catalog columns of those ``tags`` the catalog knows."""
        index = self.tag_index
        return np.array(sorted({index[t] for t in tags if t in index}), dtype=np.int64)

    def items_with_tags(self, cols: np.ndarray) -> np.ndarray:
        """Boolean mask of items carrying at least one of the tag columns ``cols``."""
        return items_with_columns(self.derived.item_tag_csc, cols, self.size)

    def sensitive_deny(self, opted: Iterable[str]) -> np.ndarray:
        """Read-only mask of items in a sensitive category the person has not opted in to (P8).

        Memoized per set of opted-in categories the catalog knows: one array per consent
        shape, shared by every request.
        """
        d = self.derived
        keep = frozenset(c for c in opted if c in d.category_index)
        key = ("sensitive", keep)
        found = self._memo.get(key)
        if found is not None:
            return found
        cols = [d.category_index[c] for c in d.categories if c not in keep]
        mask = np.asarray(d.item_category[:, cols].any(axis=1)) if cols else np.zeros(self.size, dtype=bool)
        mask.flags.writeable = False
        self._memo[key] = mask
        return mask

    def hidden_tag_mask(self, opted: Iterable[str]) -> np.ndarray:
        """Read-only mask over tags declared sensitive in a category the person has not opted in to."""
        keep = frozenset(c for c in opted if c in self.derived.category_index)
        key = ("hidden_tags", keep)
        mask = self._memo.get(key)
        if mask is None:
            mask = np.zeros(len(self.tag_ids), dtype=bool)
            for tag, category in self.tag_sensitive.items():
                if category not in keep:
                    mask[self.tag_index[tag]] = True
            mask.flags.writeable = False
            self._memo[key] = mask
        return mask

    def exposure_band(self, head_quantile: float) -> tuple[np.ndarray, np.ndarray]:
        """Exposure quality (``log1p`` of interactions) and the under-exposed band, best first.

        The band holds items with some interactions at or below the ``head_quantile`` of
        quality, ordered by quality descending, ties by position. The ranking behind it is
        kept per counter epoch and patched by the counters that changed since.
        """
        ranking = self._ranking
        if ranking is None:
            ranking = ExposureRanking.of(self.stats_epoch, self.interactions)
        elif ranking.epoch != self.stats_epoch:
            changed = self.changed_since(ranking.epoch)
            if changed is None:
                ranking = ExposureRanking.of(self.stats_epoch, self.interactions)
            else:
                ranking = ranking.patched(self.stats_epoch, changed, self.interactions)
        self._ranking = ranking
        return ranking.quality, ranking.band(head_quantile)

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

    def next_availability_change(self, now: float) -> float:
        """When an item's availability window next opens or closes after ``now`` (inf: never)."""
        changes = self.derived.availability_changes
        at = int(np.searchsorted(changes, now, side="right"))
        return float(changes[at]) if at < changes.size else float("inf")

    def available(self, now: float) -> np.ndarray:
        """Boolean mask of items that may be shown at ``now``."""
        return (self.available_from <= now) & (self.expires_at > now)

    def apply_stats(self, stats: Sequence[ItemStat]) -> None:
        """Refresh counters in place after this worker committed an ingest."""
        changed: list[int] = []
        for stat in stats:
            pos = self.index.get(stat.item_id)
            if pos is not None:
                self.interactions[pos] = stat.interactions
                self.trend[pos] = stat.trend
                self.trend_ts[pos] = stat.trend_ts
                changed.append(pos)
        self.stats_epoch += 1
        self._changes.append((self.stats_epoch, np.array(changed, dtype=np.int64)))

    def changed_since(self, epoch: int) -> np.ndarray | None:
        """Positions whose counters changed after counter epoch ``epoch`` (None: too long ago to tell)."""
        log = list(self._changes)
        if epoch >= self.stats_epoch:
            return np.zeros(0, dtype=np.int64)
        if not log or log[0][0] > epoch + 1:
            return None
        parts = []
        for at, positions in reversed(log):  # newest first, back to the epoch asked about
            if at <= epoch:
                break
            parts.append(positions)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _times(items: Sequence[Item], attr: str, default: float) -> np.ndarray:
    out = np.full(len(items), default)
    for n, item in enumerate(items):
        value = getattr(item.attributes, attr)
        if value is not None:
            out[n] = to_epoch(value)
    return out
