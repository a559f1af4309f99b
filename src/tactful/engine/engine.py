"""``tactful.Engine``: the in-process Python API for catalog, events, recommendations and profiles."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence

import numpy as np

from tactful.clock import Clock, SystemClock, from_epoch, to_epoch
from tactful.domain.event import Event, IngestResult
from tactful.domain.item import Item, TagMeta
from tactful.domain.person import Person
from tactful.domain.recommendation import (
    InterestView,
    ProfileView,
    Reason,
    Recommendations,
    RecommendedItem,
)
from tactful.engine.catalog import CatalogIndex
from tactful.engine.ingestor import Ingestor
from tactful.engine.person_state import PersonState, person_state
from tactful.engine.pipeline import Pipeline, top_k
from tactful.errors import NotFound, ValidationError
from tactful.policy.decision import PolicyRule
from tactful.policy.exclusions import AvailabilityRule, ConsumedRule, DislikedRule, SimilarToDislikedRule
from tactful.scoring.content import ContentScorer, tag_similarity
from tactful.scoring.context import Scorer
from tactful.scoring.popularity import PopularityScorer
from tactful.scoring.trending import TrendingScorer, trend_now
from tactful.settings import Settings
from tactful.signals.profile import Engagement, Profile
from tactful.signals.rules import SignalRules
from tactful.storage import SqlStore, open_store

MAX_N = 200


class Engine:
    """Everything tactful does, in process. Thread-safe; state lives in the store."""

    def __init__(
        self,
        settings: Settings | None = None,
        store: SqlStore | None = None,
        clock: Clock | None = None,
        extra_scorers: Sequence[Scorer] = (),
        extra_rules: Sequence[PolicyRule] = (),
    ) -> None:
        self.settings = settings or Settings()
        self.clock = clock or SystemClock()
        self.store = store or open_store(self.settings.resolved_database_url)
        self.rules = SignalRules(self.settings.signals.rules, self.settings.signals.short_play_seconds)
        self.ingestor = Ingestor(self.store, self.settings, self.rules, self.clock)
        self.half_lives = dict(self.settings.signals.half_life_days)
        scoring = self.settings.scoring
        self.pipeline = Pipeline(
            scorers=[
                PopularityScorer(),
                TrendingScorer(scoring.trending_half_life_days),
                ContentScorer(),
                *extra_scorers,
            ],
            rules=[
                AvailabilityRule(),
                DislikedRule(),
                ConsumedRule(),
                SimilarToDislikedRule(scoring.similar_tag_penalty),
                *extra_rules,
            ],
            blend_weights=scoring.blend,
            half_lives=self.half_lives,
        )
        self._catalog: CatalogIndex | None = None
        self._lock = threading.Lock()

    # -- catalog -----------------------------------------------------------------------------
    def catalog(self) -> CatalogIndex:
        """The current catalog index, rebuilt when any worker changed the catalog."""
        version = self.store.catalog_version()
        current = self._catalog
        if current is not None and current.version == version:
            return current
        with self._lock:
            if self._catalog is None or self._catalog.version != version:
                self._catalog = CatalogIndex.build(
                    self.store.load_catalog(),
                    self.store.load_tag_meta(),
                    self.store.load_all_item_stats(),
                    version,
                )
            return self._catalog

    def upsert_items(self, items: Sequence[Item]) -> int:
        self.store.upsert_items(items, to_epoch(self.clock.now()))
        return len(items)

    def delete_items(self, ids: Sequence[str]) -> int:
        return self.store.delete_items(ids)

    def get_item(self, item_id: str) -> Item:
        item = self.store.get_item(item_id)
        if item is None:
            raise NotFound(f"no item {item_id!r}", field="item_id")
        return item

    def declare_tags(self, metas: Sequence[TagMeta]) -> int:
        self.store.upsert_tag_meta(metas)
        return len(metas)

    # -- events ------------------------------------------------------------------------------
    def ingest(self, events: Sequence[Event]) -> IngestResult:
        """Validate and apply a batch atomically; the next recommendation reflects it (P1)."""
        outcome = self.ingestor.ingest(events)
        catalog = self._catalog
        if catalog is not None and outcome.stats:
            catalog.apply_stats(outcome.stats)
        return outcome.result

    def track(self, event: Event) -> IngestResult:
        return self.ingest([event])

    # -- people ------------------------------------------------------------------------------
    def person(self, user_id: str) -> Person:
        return self.store.get_person(user_id) or Person(id=user_id)

    def save_person(self, person: Person) -> Person:
        self.store.save_person(person)
        return person

    def _state(self, user_id: str, catalog: CatalogIndex, now: float) -> PersonState:
        person = self.person(user_id)
        profile = self.store.load_profile(user_id)
        p = self.settings.profile
        level = profile.engagement(p.warming_after, p.engaged_after, p.engaged_min_days)
        return person_state(catalog, person, profile, now, self.half_lives, level)

    # -- recommendations ---------------------------------------------------------------------
    def recommend(
        self, user_id: str, surface: str = "home", n: int | None = None, explain: bool = False
    ) -> Recommendations:
        n = self._check_n(n)
        now_dt = self.clock.now()
        now = to_epoch(now_dt)
        catalog = self.catalog()
        state = self._state(user_id, catalog, now)
        result = self.pipeline.run(state, surface, n, explain_full=explain)
        rec_id = "r_" + secrets.token_hex(10)
        self.store.save_recommendation(rec_id, user_id, surface, now, [i.item_id for i in result.items])
        return Recommendations(
            recommendation_id=rec_id,
            user_id=user_id,
            surface=surface,
            engagement=state.engagement.value,
            generated_at=now_dt,
            items=result.items,
            excluded=result.excluded,
        )

    def popular(self, n: int | None = None, kind: str = "popular") -> list[RecommendedItem]:
        n = self._check_n(n)
        catalog = self.catalog()
        now = to_epoch(self.clock.now())
        if kind == "trending":
            hl = self.settings.scoring.trending_half_life_days
            scores = trend_now(catalog.trend, catalog.trend_ts, now, hl)
            reason = Reason(code="trending", message="trending right now")
        elif kind == "popular":
            scores = catalog.interactions.astype(float)
            reason = Reason(code="popular", message="popular with others")
        else:
            raise ValidationError("kind must be 'popular' or 'trending'", field="kind")
        scores = np.where(catalog.available(now), scores, -np.inf)
        return [self._plain_item(catalog, int(p), float(scores[p]), [reason]) for p in top_k(scores, n)]

    def similar(
        self, item_id: str, n: int | None = None, user_id: str | None = None
    ) -> list[RecommendedItem]:
        n = self._check_n(n)
        catalog = self.catalog()
        pos = catalog.index.get(item_id)
        if pos is None:
            raise NotFound(f"no item {item_id!r}", field="item_id")
        now = to_epoch(self.clock.now())
        sim = tag_similarity(catalog.item_tag_norm, pos)
        pop = np.log1p(catalog.interactions)
        scores = sim + 0.01 * pop / max(float(pop.max()), 1.0)
        scores[pos] = -np.inf
        scores = np.where(catalog.available(now), scores, -np.inf)
        if user_id is not None:
            hidden = self.store.load_profile(user_id).hard_negatives()
            for iid in hidden:
                if iid in catalog.index:
                    scores[catalog.index[iid]] = -np.inf
        out = []
        source = catalog.items[pos].title or item_id
        for p in top_k(scores, n):
            shared = [t for t in catalog.items[p].tags if t in set(catalog.items[pos].tags)]
            reason = Reason(
                code="similar_item",
                message=f"shares {', '.join(shared[:3]) or 'audience'} with {source}",
                item_id=item_id,
                weight=round(float(sim[p]), 4),
            )
            out.append(self._plain_item(catalog, int(p), float(scores[p]), [reason]))
        return out

    # -- profile -----------------------------------------------------------------------------
    def profile(self, user_id: str) -> ProfileView:
        """What the engine believes about a person, with evidence and provenance (P12)."""
        catalog = self.catalog()
        now = to_epoch(self.clock.now())
        state = self._state(user_id, catalog, now)
        profile: Profile = state.profile
        p = self.settings.profile
        interests = []
        for tag, interest in profile.interests.items():
            by_prov = interest.scores.by_provenance(now, self.half_lives)
            interests.append(
                InterestView(
                    tag=tag,
                    score=round(sum(by_prov.values()), 4),
                    evidence=len(interest.evidence),
                    established=interest.established,
                    stated=tag in state.person.stated_interests,
                    last_positive=from_epoch(interest.last_positive) if interest.last_positive else None,
                    provenance={k: round(v, 4) for k, v in by_prov.items()},
                    sensitive_category=catalog.tag_sensitive.get(tag),
                )
            )
        interests.sort(key=lambda i: -i.score)
        return ProfileView(
            user_id=user_id,
            engagement=profile.engagement(p.warming_after, p.engaged_after, p.engaged_min_days).value
            if state.engagement is not Engagement.new or profile.positive_signals
            else Engagement.new.value,
            positive_signals=profile.positive_signals,
            active_days=len(profile.active_days),
            interests=interests,
            disliked_items=sorted(profile.hard_negatives()),
            consumed_items=sorted(profile.consumed()),
            stated_interests=list(state.person.stated_interests),
            muted_topics=list(state.person.muted_topics),
            consent=state.person.consent.model_dump(mode="json"),
        )

    # -- helpers -----------------------------------------------------------------------------
    def _check_n(self, n: int | None) -> int:
        n = self.settings.default_n if n is None else n
        if not 1 <= n <= MAX_N:
            raise ValidationError(f"n must be between 1 and {MAX_N}", field="n")
        return n

    @staticmethod
    def _plain_item(catalog: CatalogIndex, pos: int, score: float, reasons: list[Reason]) -> RecommendedItem:
        return RecommendedItem(
            item_id=catalog.item_ids[pos],
            title=catalog.items[pos].title,
            score=round(score, 6),
            tags=list(catalog.items[pos].tags),
            reasons=reasons,
        )

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
