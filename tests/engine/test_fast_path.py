"""The serving fast path computes exactly what the straightforward versions compute.

Vectorized gating, similarity without scipy's per-call overhead, partial sorts, cached
promotions and back-off counters written in the background: each is checked here against a
plain reference or against what a second worker sees.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from tactful import Engine, Event, Item, ManualClock, Settings
from tactful.domain.event import Provenance
from tactful.domain.item import TagMeta
from tactful.domain.person import Consent, Person
from tactful.domain.recommendation import Reason
from tactful.index.catalog import CHANGE_LOG, CatalogIndex
from tactful.index.compiled_profile import CompiledProfile
from tactful.index.exposure import ExposureRanking
from tactful.policy.interests import GateConfig, gate_interests, hidden_tags
from tactful.policy.selection import best_first
from tactful.scoring.content import tag_overlap
from tactful.scoring.context import ScoringContext
from tactful.scoring.popularity import PopularityScorer
from tactful.scoring.trending import TrendingScorer
from tactful.signals.profile import DAY, DecayedScores, Profile, ProfileRules, TagInterest, apply_signal
from tactful.signals.rules import Signal
from tactful.storage.protocol import ItemStat
from tests.conftest import media_items

NOW = 1_800_000_000.0
HALF = {"explicit": 180.0, "observed": 45.0, "inferred": 21.0, "imported": 21.0}
PROVS = ["explicit", "observed", "inferred", "imported"]


def test_tag_overlap_is_the_sparse_product() -> None:
    rng = np.random.default_rng(3)
    cat = CatalogIndex.build(media_items())
    ascending = sp.random(300, 60, density=0.15, format="csr", random_state=4, dtype=np.float32)
    ascending.sort_indices()
    mixed = sp.csr_matrix(ascending)
    mixed.indices[: mixed.indptr[1]] = mixed.indices[: mixed.indptr[1]][::-1]  # one row out of order
    mixed.has_sorted_indices = False
    for matrix in (cat.item_tag_norm, cat.item_tag, ascending, mixed):
        for _ in range(50):
            rows = rng.choice(matrix.shape[0], size=min(matrix.shape[0], 40), replace=False)
            other = rng.choice(matrix.shape[0], size=min(matrix.shape[0], 7), replace=False)
            sub = matrix[rows]
            want = (sub @ sub.T).toarray()
            got = tag_overlap(matrix, rows)
            off = ~np.eye(rows.size, dtype=bool)
            assert got.dtype == np.float32 and np.allclose(got[off], want[off], rtol=1e-6, atol=1e-7)
            cross = tag_overlap(matrix, rows, other)
            assert cross.shape == (rows.size, other.size)
            assert np.allclose(cross, (sub @ matrix[other].T).toarray(), rtol=1e-6, atol=1e-7)


@given(st.lists(st.integers(0, 5), min_size=0, max_size=60), st.integers(0, 70))
def test_best_first_is_a_stable_descending_sort(values: list[int], m: int) -> None:
    array = np.array(values, dtype=float)
    assert best_first(array, m).tolist() == np.argsort(-array, kind="stable")[:m].tolist()


# -- the interest gate against the per-tag loop it replaced --------------------------------------


def _reference_gate(
    catalog: CatalogIndex, person: Person, profile: Profile, allowed: frozenset[str], cfg: GateConfig
) -> tuple[np.ndarray, dict[str, float], list[Reason]]:
    vector = np.zeros(len(catalog.tag_ids))
    used: dict[str, float] = {}
    withheld: list[Reason] = []
    if not person.consent.personalization:
        return vector, used, withheld
    hidden = hidden_tags(person, catalog)
    stated = frozenset(person.stated_interests)
    for tag, interest in profile.interests.items():
        pos = catalog.tag_index.get(tag)
        if pos is None or tag in hidden:
            if tag in person.muted_topics:
                withheld.append(Reason(code="muted", message=f"you muted {tag}", tag=tag))
            continue
        value = interest.scores.value(NOW, HALF, allowed)
        if value < 0.0:
            vector[pos] = value
            continue
        full = interest.scores.value(NOW, HALF)
        if tag in stated or (value == 0.0 and full <= 0.0):
            continue
        last = interest.last_positive
        if value <= 0.0 < full:
            code = "not_consented"
        elif not interest.established:
            code = "not_established"
        elif last is None or NOW - last > cfg.retarget_window_days * DAY:
            code = "retarget_window"
        elif value < cfg.stale_below:
            code = "stale"
        else:
            value *= 0.5 ** (max(NOW - last, 0.0) / (cfg.recency_half_life_days * DAY))
            vector[pos] = value
            used[tag] = value
            continue
        withheld.append(Reason(code=code, message="", tag=tag))
    if "explicit" in allowed:
        for tag in stated:
            pos = catalog.tag_index.get(tag)
            if pos is not None and tag not in hidden:
                vector[pos] = max(vector[pos], 0.0) + cfg.stated_weight
                used[tag] = float(vector[pos])
    return vector, used, withheld


def _gate_catalog() -> CatalogIndex:
    items = [*media_items(), Item(id="pill", title="Pills", tags=["topic:health"], sensitive=["health"])]
    return CatalogIndex.build(items, [TagMeta(tag="topic:health", sensitive_category="health")])


GATE_TAGS = ["genre:jazz", "genre:rock", "genre:folk", "creator:jazz-artist-0", "topic:health", "topic:gone"]
# at most two provenances per interest: a sum of two terms does not depend on their order
scores = st.dictionaries(
    st.sampled_from(PROVS),
    st.tuples(st.integers(-24, 24).map(lambda k: k / 8), st.integers(0, 60).map(lambda d: NOW - d * DAY)),
    max_size=2,
)
interests = st.builds(
    lambda parts, evidence, last, established: TagInterest(
        scores=DecayedScores({p: [v, at] for p, (v, at) in parts.items()}),
        evidence=[f"d:{k}" for k in range(evidence)],
        last_positive=None if last is None else NOW - last * DAY,
        established=established,
    ),
    scores,
    st.integers(0, 5),
    st.one_of(st.none(), st.integers(0, 60)),
    st.booleans(),
)
subsets = st.lists(st.sampled_from(GATE_TAGS), max_size=3, unique=True)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(st.sampled_from(GATE_TAGS), interests, max_size=6),
    subsets,
    subsets,
    subsets,
    st.booleans(),
    st.lists(st.sampled_from(PROVS), unique=True).map(frozenset),
    st.booleans(),
)
def test_vectorized_gate_decides_like_the_per_tag_loop(
    learned: dict[str, TagInterest],
    muted: list[str],
    blocked: list[str],
    stated: list[str],
    opted_in: bool,
    allowed: frozenset[str],
    personalization: bool,
) -> None:
    catalog = _gate_catalog()
    profile = Profile("u", interests=dict(learned))
    consent = Consent(sensitive_opt_in=["health"] if opted_in else [], personalization=personalization)
    person = Person(
        id="u", muted_topics=muted, blocked_interests=blocked, stated_interests=stated, consent=consent
    )
    cfg = GateConfig()
    gate = gate_interests(catalog, person, profile, NOW, HALF, allowed, cfg)
    vector, used, withheld = _reference_gate(catalog, person, profile, allowed, cfg)
    assert np.allclose(gate.tag_vector, vector, rtol=1e-12, atol=0.0)
    assert gate.used.keys() == used.keys()
    assert all(math.isclose(gate.used[t], used[t], rel_tol=1e-12) for t in used)
    assert [(r.code, r.tag) for r in gate.withheld] == [(r.code, r.tag) for r in withheld]


# -- state shared between workers -----------------------------------------------------------------


def _likes(user: str, clock: ManualClock) -> list[Event]:
    return [
        Event(user_id=user, item_id=f"jazz-{k}", type="like", timestamp=clock.now() - timedelta(days=k))
        for k in range(4)
    ]


def test_backoff_counts_are_seen_by_the_next_request_before_they_are_written(
    settings: Settings, clock: ManualClock
) -> None:
    settings.policy.hints.backoff_after_ignored = 12
    with Engine(settings, clock=clock) as engine:
        engine.served.interval = 3600.0  # no background flush during the test
        engine.upsert_items(media_items())
        engine.ingest(_likes("ann", clock))
        notes: list[str] = []
        for _ in range(6):
            clock.advance(timedelta(hours=1))  # separate visits (a reload would count nothing)
            notes = [n.code for n in engine.recommend("ann", n=8).notes or []]
            if "backing_off" in notes:
                break
        assert "backing_off" in notes  # counted across requests without any write
        pending = engine.served.pending_backoff("ann")
        assert pending is not None and pending.ignored_slots >= 12
        assert engine.policy_store.backoff("ann").ignored_slots == 0
        engine.served.flush()
        assert engine.served.pending_backoff("ann") is None
        assert engine.policy_store.backoff("ann") == pending


def test_promotion_changes_reach_a_worker_that_cached_promotions(
    settings: Settings, clock: ManualClock
) -> None:
    with Engine(settings, clock=clock) as first, Engine(settings, clock=clock) as second:
        first.upsert_items(media_items())

        def promoted(engine: Engine) -> list[str]:
            recs = engine.recommend("bob", n=10)
            return [i.item_id for i in recs.items if any(r.code == "promoted" for r in i.reasons)]

        assert promoted(first) == []
        second.create_promotion({"id": "folk", "tags": ["genre:folk"], "cap": 50, "window_days": 7})
        assert promoted(first) and all(i.startswith("folk-") for i in promoted(first))
        second.update_promotion("folk", {"tags": ["genre:rock"]})
        assert promoted(first) and all(i.startswith("rock-") for i in promoted(first))
        second.end_promotion("folk")
        assert promoted(first) == []


# -- a cached profile layout moved forward by one batch, against a fresh layout ----------------

signal_steps = st.lists(
    st.tuples(
        st.integers(0, 29),  # item (24 in the catalog, 6 it does not know)
        st.sampled_from([1.0, 0.5, -1.0, -0.3, 0.0]),
        st.sampled_from(PROVS),
        st.booleans(),  # impression
        st.integers(0, 40),  # days later
    ),
    min_size=1,
    max_size=8,
)


@given(before=signal_steps, batch=signal_steps)
@settings(max_examples=80, deadline=None)
def test_an_updated_layout_equals_a_fresh_one(before: list[tuple], batch: list[tuple]) -> None:
    cat = CatalogIndex.build(media_items(), version=3)
    ids = [*cat.item_ids, *(f"gone-{k}" for k in range(6))]
    rules = ProfileRules(half_lives=HALF)
    profile = Profile(user_id="p")

    def apply(steps: list[tuple]) -> None:
        for item, weight, prov, impression, days in steps:
            item_id = ids[item]
            tags = cat.items[cat.index[item_id]].tags if item_id in cat.index else ["genre:lost"]
            signal = Signal(weight, Provenance(prov), impression=impression, consumed=weight == 0.5)
            apply_signal(profile, signal, item_id, tags, NOW + days * DAY, rules)

    apply(before)
    profile.dirty_items.clear()
    profile.dirty_tags.clear()
    layout = CompiledProfile.build(profile, cat)
    apply(batch)
    moved = layout.updated(profile, cat, set(profile.dirty_items), set(profile.dirty_tags))
    fresh = CompiledProfile.build(profile, cat)
    for name in fresh.__dataclass_fields__:
        if name == "_memo":
            continue
        got, want = getattr(moved, name), getattr(fresh, name)
        if isinstance(want, np.ndarray):
            assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True), name
        else:
            assert got == want, name


# -- memoized popularity and trending, patched by counter updates, against a fresh computation --

counter_batches = st.lists(
    st.lists(st.tuples(st.integers(0, 23), st.floats(0.0, 50.0), st.floats(0.0, 20.0)), max_size=4),
    min_size=1,
    max_size=6,
)


@given(batches=counter_batches)
@settings(max_examples=60, deadline=None)
def test_patched_popularity_and_trending_equal_fresh_scores(
    batches: list[list[tuple[int, float, float]]],
) -> None:
    cat = CatalogIndex.build(media_items())
    rng = np.random.default_rng(0)
    cat.interactions[:] = rng.integers(0, 30, cat.size)
    cat.trend[:] = rng.random(cat.size) * 10
    cat.trend_ts[:] = NOW - rng.random(cat.size) * DAY
    ctx = ScoringContext(catalog=cat, now=NOW, tag_vector=np.zeros(len(cat.tag_ids)))
    kept = [PopularityScorer(), TrendingScorer()]
    for scorer in kept:
        scorer.score(ctx)
    for batch in batches:
        cat.apply_stats([ItemStat(cat.item_ids[p], n, trend, NOW - DAY) for p, n, trend in batch])
        for scorer, fresh in zip(kept, [PopularityScorer(), TrendingScorer()], strict=True):
            assert np.array_equal(scorer.score(ctx), fresh.score(ctx))


def test_counter_changes_are_told_apart_from_a_lost_history() -> None:
    cat = CatalogIndex.build(media_items())
    start = cat.stats_epoch
    cat.apply_stats([ItemStat(cat.item_ids[3], 5.0, 1.0, NOW)])
    cat.apply_stats([ItemStat(cat.item_ids[7], 2.0, 1.0, NOW)])
    changed = cat.changed_since(start)
    assert changed is not None and sorted(changed.tolist()) == [3, 7]
    assert cat.changed_since(cat.stats_epoch) is not None and cat.changed_since(cat.stats_epoch).size == 0
    for _ in range(CHANGE_LOG):
        cat.apply_stats([ItemStat(cat.item_ids[1], 1.0, 1.0, NOW)])
    assert cat.changed_since(start) is None  # forgotten: memoized scores are recomputed whole


@given(
    start=st.lists(st.integers(0, 6), min_size=1, max_size=40),
    updates=st.lists(st.lists(st.tuples(st.integers(0, 39), st.integers(0, 8)), max_size=5), max_size=6),
    quantile=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
)
@settings(max_examples=80, deadline=None)
def test_a_patched_exposure_ranking_equals_a_fresh_one(
    start: list[int], updates: list[list[tuple[int, int]]], quantile: float
) -> None:
    counts = np.array(start, dtype=float)
    kept = ExposureRanking.of(0, counts)
    for epoch, batch in enumerate(updates, start=1):
        moved = [p % counts.size for p, _ in batch]
        for (_, value), pos in zip(batch, moved, strict=True):
            counts[pos] = value
        kept = kept.patched(epoch, np.array(moved, dtype=np.int64), counts)
        fresh = ExposureRanking.of(epoch, counts)
        for name in ("quality", "order", "key"):
            assert np.array_equal(getattr(kept, name), getattr(fresh, name)), name
        band = fresh.band(quantile)
        quality = np.log1p(counts)
        head = float(np.quantile(quality, quantile))
        want = [p for p in np.argsort(-quality, kind="stable") if 0 < quality[p] <= head]
        assert np.isclose(fresh.head(quantile), head) and band.tolist() == want
