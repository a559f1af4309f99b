"""A profile laid out as arrays over the catalog, so decay, consent and gating apply in a few numpy ops.

Built once per (profile version, catalog version) and cached with the profile: everything
here is time-independent, so per-request work is a handful of vectorized operations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

import numpy as np

from tactful.domain.event import Provenance
from tactful.index.catalog import CatalogIndex
from tactful.signals.profile import DAY, DecayedScores, ItemState, Profile, TagInterest

PROVENANCES: tuple[str, ...] = tuple(p.value for p in Provenance)
_COLUMN = {p: n for n, p in enumerate(PROVENANCES)}


def _scores(parts: list[DecayedScores]) -> tuple[np.ndarray, np.ndarray]:
    """Stored score and the time it was brought to, per row and provenance column."""
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    since: list[float] = []
    column = _COLUMN.get
    for row, scores in enumerate(parts):
        for prov, (value, at) in scores.parts.items():
            col = column(prov)
            if col is not None:
                rows.append(row)
                cols.append(col)
                values.append(value)
                since.append(at)
    score = np.zeros((len(parts), len(PROVENANCES)))
    ts = np.zeros((len(parts), len(PROVENANCES)))
    score[rows, cols] = values
    ts[rows, cols] = since
    return score, ts


def _parts(score: np.ndarray, ts: np.ndarray, now: float, half_lives: np.ndarray) -> np.ndarray:
    """Each stored score decayed to ``now``, per provenance column.

    Only stored (non-zero) scores are decayed; each is computed exactly as over the full
    matrix (``score * 0.5 ** (max(now - ts, 0) / (half_life * DAY))``), and a zero score
    decays to zero, so the result is the same while most rows carry one provenance.
    """
    out = np.zeros(score.shape)
    nz = np.flatnonzero(score)
    scale = (half_lives * DAY)[nz % score.shape[1]]
    age = np.maximum(now - ts.ravel()[nz], 0.0) / scale
    out.ravel()[nz] = score.ravel()[nz] * np.power(0.5, age)
    return out


def _row_sums(parts: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(parts * mask).sum(axis=1)`` for a handful of columns, added left to right.

    NumPy reduces a short row in this same order; column by column it is several times
    faster than a reduction over the short axis.
    """
    total = parts[:, 0] * mask[0]
    for col in range(1, parts.shape[1]):
        total = total + parts[:, col] * mask[col]
    return np.asarray(total)


def _times(values: list[float | None]) -> np.ndarray:
    """Epoch times with ``None`` as NaN (every comparison with NaN is false)."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _latest(profile: Profile) -> float | None:
    """The latest positive signal on any item or tag, catalog or not (for back-off, P7)."""
    times = [s.last_engaged for s in profile.items.values() if s.last_engaged is not None]
    times += [i.last_positive for i in profile.interests.values() if i.last_positive is not None]
    return max(times) if times else None


ITEM_FIELDS = (
    "item_score",
    "item_ts",
    "item_times",
    "item_disliked",
    "item_consumed",
    "item_seen",
    "item_unengaged",
    "item_last_impression",
    "item_positive_bits",
)
TAG_FIELDS = ("tag_score", "tag_ts", "tag_established", "tag_evidence", "tag_last_positive")


def _item_rows(states: list[ItemState]) -> dict[str, np.ndarray]:
    """The per-item arrays (``ITEM_FIELDS``) for these item states, in order."""
    score, ts = _scores([s.scores for s in states])
    return {
        "item_score": score,
        "item_ts": ts,
        "item_times": np.array([s.last_engaged or s.last_impression or 0.0 for s in states]),
        "item_disliked": np.array([s.disliked for s in states], dtype=bool),
        "item_consumed": np.array([s.consumed for s in states], dtype=bool),
        "item_seen": np.array([s.impressions > 0 or s.last_engaged is not None for s in states], dtype=bool),
        "item_unengaged": np.array([s.unengaged for s in states], dtype=np.int64),
        "item_last_impression": np.array([s.last_impression or 0.0 for s in states], dtype=np.float64),
        "item_positive_bits": ((score > 0) * (1 << np.arange(len(PROVENANCES), dtype=np.int64))).sum(axis=1),
    }


def _tag_rows(interests: list[TagInterest]) -> dict[str, np.ndarray]:
    """The per-tag arrays (``TAG_FIELDS``) for these interests, in order."""
    score, ts = _scores([i.scores for i in interests])
    return {
        "tag_score": score,
        "tag_ts": ts,
        "tag_established": np.array([i.established for i in interests], dtype=bool),
        "tag_evidence": np.array([len(i.evidence) for i in interests], dtype=np.int64),
        "tag_last_positive": _times([i.last_positive for i in interests]),
    }


def _in_order(order: Iterable[str], wanted: set[str]) -> list[str]:
    """The ``wanted`` keys in ``order``; new keys sit at the end of a dict, so look from there."""
    if isinstance(order, dict):
        found: list[str] = []
        for key in reversed(order):
            if key in wanted:
                found.append(key)
                if len(found) == len(wanted):
                    return found[::-1]
        return found[::-1]
    return [k for k in order if k in wanted]


def _merge_rows(
    arrays: dict[str, np.ndarray],
    pos: np.ndarray,
    touched: list[str],
    index: dict[str, int],
    order: Iterable[str],
    rows_for: Callable[[list[str]], dict[str, np.ndarray]],
) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """Re-lay the rows of ``touched`` ids already in ``pos``; append the others in ``order``.

    ``order`` is the profile's own (insertion) order, which is the order a full build uses.
    Returns the arrays, the positions and the appended ids.
    """
    if not touched:
        return arrays, pos, []
    if len(touched) <= 32:  # a few rows: vectorized look-ups, no per-row Python over the history
        found = [(np.flatnonzero(pos == index[k]), k) for k in touched]
        existing = [(int(hit[0]), k) for hit, k in found if hit.size]
        fresh = {k for hit, k in found if not hit.size}
    else:
        row_of = {p: r for r, p in enumerate(pos.tolist())}
        existing = [(row_of[index[k]], k) for k in touched if index[k] in row_of]
        fresh = {k for k in touched if index[k] not in row_of}
    appended = _in_order(order, fresh) if fresh else []
    out = dict(arrays)
    if existing:
        rows = rows_for([k for _, k in existing])
        at = [r for r, _ in existing]
        for name, array in out.items():
            copy = array.copy()
            copy[at] = rows[name]
            out[name] = copy
    if appended:
        rows = rows_for(appended)
        out = {name: np.concatenate([array, rows[name]]) for name, array in out.items()}
        pos = np.concatenate([pos, np.array([index[k] for k in appended], dtype=np.int64)])
    return out, pos, appended


@dataclass(frozen=True)
class CompiledProfile:
    """Tag and item scores per provenance, and the per-row facts policies gate on, for one catalog version.

    Tag rows follow ``profile.interests`` order (tags the catalog knows); item rows follow
    ``profile.items`` order (items the catalog knows). Missing times are NaN, except
    ``item_last_impression`` (0.0 when never shown, as the impression rule reads it).
    """

    catalog_version: int
    tag_pos: np.ndarray
    tag_score: np.ndarray
    tag_ts: np.ndarray
    tag_established: np.ndarray
    item_pos: np.ndarray
    item_score: np.ndarray
    item_ts: np.ndarray
    item_times: np.ndarray
    tag_names: tuple[str, ...]
    tag_evidence: np.ndarray
    tag_last_positive: np.ndarray
    item_disliked: np.ndarray
    item_consumed: np.ndarray
    item_seen: np.ndarray
    item_unengaged: np.ndarray
    item_last_impression: np.ndarray
    item_positive_bits: np.ndarray  # per item row, bit c set: provenance column c has a positive score
    last_positive: float | None
    _memo: dict[tuple[str, float, bytes, bytes], np.ndarray] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def build(cls, profile: Profile, catalog: CatalogIndex) -> CompiledProfile:
        tags = [(catalog.tag_index[t], t, i) for t, i in profile.interests.items() if t in catalog.tag_index]
        items = [(catalog.index[i], s) for i, s in profile.items.items() if i in catalog.index]
        return cls(
            catalog_version=catalog.version,
            tag_pos=np.array([p for p, _, _ in tags], dtype=np.int64),
            tag_names=tuple(t for _, t, _ in tags),
            item_pos=np.array([p for p, _ in items], dtype=np.int64),
            last_positive=_latest(profile),
            **_tag_rows([i for _, _, i in tags]),  # type: ignore[arg-type]
            **_item_rows([s for _, s in items]),  # type: ignore[arg-type]
        )

    def updated(
        self, profile: Profile, catalog: CatalogIndex, items: Collection[str], tags: Collection[str]
    ) -> CompiledProfile:
        """This profile after signals touched ``items`` and ``tags`` of ``profile``.

        Equal to ``build(profile, catalog)`` when ``self`` was built from ``profile`` as it was
        before those signals, at the cost of the touched rows: a person with a long history
        who just liked something is not re-laid-out whole. Anything else (another catalog
        version, a removed interest) builds afresh.
        """
        if catalog.version != self.catalog_version or any(t not in profile.interests for t in tags):
            return CompiledProfile.build(profile, catalog)
        if any(i not in profile.items for i in items):
            return CompiledProfile.build(profile, catalog)
        item_fields, item_pos, _ = _merge_rows(
            {name: getattr(self, name) for name in ITEM_FIELDS},
            self.item_pos,
            [i for i in items if i in catalog.index],
            catalog.index,
            profile.items,
            lambda ids: _item_rows([profile.items[i] for i in ids]),
        )
        tag_fields, tag_pos, new_tags = _merge_rows(
            {name: getattr(self, name) for name in TAG_FIELDS},
            self.tag_pos,
            [t for t in tags if t in catalog.tag_index],
            catalog.tag_index,
            profile.interests,
            lambda ids: _tag_rows([profile.interests[t] for t in ids]),
        )
        times = [profile.items[i].last_engaged for i in items]
        times += [profile.interests[t].last_positive for t in tags]
        latest = max([t for t in (*times, self.last_positive) if t is not None], default=None)
        return dataclasses.replace(
            self,
            item_pos=item_pos,
            tag_pos=tag_pos,
            tag_names=self.tag_names + tuple(new_tags),
            last_positive=latest,
            _memo={},
            **item_fields,  # type: ignore[arg-type]
            **tag_fields,  # type: ignore[arg-type]
        )

    def tag_values(self, now: float, half_lives: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """Decayed tag scores summed over the ``allowed`` provenance columns (read-only, memoized)."""
        return self._values("tag", self.tag_score, self.tag_ts, now, half_lives, allowed)

    def item_values(self, now: float, half_lives: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """Decayed item scores summed over the ``allowed`` provenance columns (read-only, memoized)."""
        return self._values("item", self.item_score, self.item_ts, now, half_lives, allowed)

    def _values(
        self,
        kind: str,
        score: np.ndarray,
        ts: np.ndarray,
        now: float,
        half_lives: np.ndarray,
        allowed: np.ndarray,
    ) -> np.ndarray:
        """One request asks for the same sums several times (scoring, gating): compute them once.

        Decaying is the costly part, so the sums over ``allowed`` and over every provenance
        are taken from one decay and both kept, for the latest ``now`` only (a few 1-D arrays
        per cached profile).
        """
        key = (kind, now, half_lives.tobytes(), allowed.tobytes())
        found = self._memo.get(key)
        if found is not None:
            return found
        if score.size == 0:
            return np.zeros(score.shape[0])
        if any(k[1] != now for k in list(self._memo)):
            self._memo.clear()
        parts = _parts(score, ts, now, half_lives)
        values = np.zeros(0)
        for mask in (np.ones_like(allowed), allowed):
            values = _row_sums(parts, mask)
            values.flags.writeable = False
            self._memo[(kind, now, half_lives.tobytes(), mask.tobytes())] = values
        return values

    def positive_only_outside(self, allowed: frozenset[str] | set[str]) -> np.ndarray:
        """Item rows with a positive score only in provenance columns outside ``allowed``."""
        bits = self.item_positive_bits
        mask = sum(1 << n for n, p in enumerate(PROVENANCES) if p in allowed)
        return np.asarray((bits != 0) & ((bits & mask) == 0))


def provenance_arrays(half_lives: dict[str, float], allowed: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
    """Half-life and consent mask per provenance column."""
    hl = np.array([half_lives.get(p, 30.0) for p in PROVENANCES])
    mask = np.array([1.0 if p in allowed else 0.0 for p in PROVENANCES])
    return hl, mask
