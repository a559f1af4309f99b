"""``tactful.Engine``: the in-process Python API for catalog, events, recommendations and profiles."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Sequence

import numpy as np

from tactful.clock import Clock, SystemClock, from_epoch, to_epoch
from tactful.config.settings import Settings
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
from tactful.errors import NotFound, ValidationError
from tactful.index.catalog import CatalogIndex
from tactful.index.compiled_profile import CompiledProfile
from tactful.index.person_state import PersonState, person_state
from tactful.index.profile_cache import CachedPerson, ProfileCache
from tactful.pipeline.pipeline import Pipeline, top_k
from tactful.policy.decision import PolicyRule
from tactful.policy.exclusions import AvailabilityRule, ConsumedRule, DislikedRule, SimilarToDislikedRule
from tactful.policy.interests import unlearnable_tags
from tactful.policy.respect import respect_mask
from tactful.scoring.collaborative import CollaborativeScorer
from tactful.scoring.content import ContentScorer, tag_similarity
from tactful.scoring.context import Scorer
from tactful.scoring.popularity import PopularityScorer
from tactful.scoring.trending import TrendingScorer, trend_now
from tactful.services.ingest import Ingestor
from tactful.services.model_registry import ModelRegistry
from tactful.services.people import ProfileControls
from tactful.services.planner import PolicyLayer, interest_status
from tactful.services.privacy import TrustOperations
from tactful.services.promotions import PromotionOperations
from tactful.services.served_log import RecommendationLog
from tactful.services.training import TrainReport, train_model
from tactful.signals.profile import Engagement, Profile
from tactful.signals.rules import SignalRules
from tactful.storage import SqlStore, open_store
from tactful.storage.policy_store import Freshness, PolicyStore

MAX_N = 200


class Engine(TrustOperations, ProfileControls, PromotionOperations):
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
        self.models = ModelRegistry(self.settings.model_dir, self.settings.models.reload_check_seconds)
        self.collaborative = CollaborativeScorer(
            self.models.get, self.settings.models.fold_cache_size, self.settings.models.fold_tolerance
        )
        self.pipeline = Pipeline(
            scorers=[
                PopularityScorer(),
                TrendingScorer(scoring.trending_half_life_days),
                ContentScorer(),
                self.collaborative,
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
        self.policy_layer = PolicyLayer(self.settings, PolicyStore(self.store), self.half_lives)
        self.profiles = ProfileCache()
        self.served = RecommendationLog(self.store, save_backoff=self.policy_layer.store.save_backoff)
        self._lock = threading.Lock()

    # -- catalog -----------------------------------------------------------------------------
    def catalog(self, version: int | None = None) -> CatalogIndex:
        """The current catalog index, rebuilt when any worker changed the catalog."""
        if version is None:
            version = self.store.catalog_version()
        current = self._catalog
        if current is not None and current.version == version:
            return current
        with self._lock:
            if self._catalog is None or self._catalog.version != version:
                # Erasure bumps the catalog version too: dropping cached profiles here means no
                # worker can serve an erased person's state, even if the id returns later.
                self.profiles.clear()
                self.collaborative.clear()
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

    # -- models ------------------------------------------------------------------------------
    def train(self, progress: Callable[[str], None] = lambda _: None) -> TrainReport:
        """Train the collaborative model from stored profiles and serve it at once."""
        report = train_model(
            self.store,
            self.store.item_ids(),  # the catalog's order, without building the catalog index
            self.half_lives,
            self.settings.model_dir,
            to_epoch(self.clock.now()),
            progress,
        )
        self.models.reload(wait=True)
        return report

    # -- events ------------------------------------------------------------------------------
    def ingest(self, events: Sequence[Event]) -> IngestResult:
        """Validate and apply a batch atomically; the next recommendation reflects it (P1)."""
        self._policy_learning()
        outcome = self.ingestor.ingest(events)
        catalog = self._catalog
        if catalog is not None and outcome.stats:
            catalog.apply_stats(outcome.stats)
        for user_id, profile in outcome.profiles.items():
            version = outcome.versions.get(user_id)
            compiled = self._compiled_after(user_id, version, profile, catalog, outcome.touched.get(user_id))
            self.profiles.put(user_id, CachedPerson(version, outcome.persons[user_id], profile, compiled))
        return outcome.result

    def _compiled_after(
        self,
        user_id: str,
        version: int | None,
        profile: Profile,
        catalog: CatalogIndex | None,
        touched: tuple[frozenset[str], frozenset[str]] | None,
    ) -> CompiledProfile | None:
        """The cached layout moved forward by this batch's rows, when it is exactly one write behind.

        Any other write in between (another worker, a preference change) means the cached
        layout may miss changes, so the next request builds it afresh instead.
        """
        before = self.profiles.peek(user_id)
        if before is None or before.compiled is None or catalog is None or touched is None:
            return None
        if version is None or before.version is None or version != before.version + 1:
            return None
        if before.compiled.catalog_version != catalog.version:
            return None
        return before.compiled.updated(profile, catalog, *touched)

    def _policy_learning(self) -> None:
        """What ingest must not learn: muted, removed and non-opted-in sensitive tags (P8, P11)."""
        if not self.settings.policy.enabled:
            self.ingestor.unlearnable = lambda person, item_id, tags: frozenset()
            return
        catalog = self.catalog()
        self.ingestor.unlearnable = lambda person, item, tags: unlearnable_tags(person, catalog, item, tags)

    def track(self, event: Event) -> IngestResult:
        return self.ingest([event])

    # -- people ------------------------------------------------------------------------------
    def person(self, user_id: str) -> Person:
        return self.store.get_person(user_id) or Person(id=user_id)

    def save_person(self, person: Person) -> Person:
        self.store.save_person(person)
        self.profiles.drop(person.id)
        return person

    def _cached(self, user_id: str, fresh: Freshness | None = None) -> tuple[CatalogIndex, CachedPerson]:
        """The catalog and the person's cached state, both checked against the store."""
        fresh = fresh or self.policy_layer.store.freshness(user_id)
        version = fresh.person_version
        catalog = self.catalog(fresh.catalog_version)
        entry = self.profiles.get(user_id, version)
        if entry is None:
            person, profile, version = self.store.load_person_state(user_id)
            entry = CachedPerson(version, person or Person(id=user_id), profile)
        if entry.compiled is None or entry.compiled.catalog_version != catalog.version:
            entry.compiled = CompiledProfile.build(entry.profile, catalog)
        self.profiles.put(user_id, entry)
        return catalog, entry

    def _state(self, user_id: str, now: float, fresh: Freshness | None = None) -> PersonState:
        catalog, entry = self._cached(user_id, fresh)
        p = self.settings.profile
        level = entry.profile.engagement(p.warming_after, p.engaged_after, p.engaged_min_days)
        return person_state(catalog, entry.person, entry.profile, now, self.half_lives, level, entry.compiled)

    # -- recommendations ---------------------------------------------------------------------
    def recommend(
        self, user_id: str, surface: str = "home", n: int | None = None, explain: bool = False
    ) -> Recommendations:
        n = self._check_n(self.policy_layer.surface(surface).n if n is None else n)
        now_dt = self.clock.now()
        now = to_epoch(now_dt)
        pending = self.served.pending_backoff(user_id)  # before the store: see RecommendationLog
        fresh = self.policy_layer.store.freshness(user_id)
        backoff = fresh.backoff if pending is None else pending
        state = self._state(user_id, now, fresh)
        plan = self.policy_layer.plan(state, surface, backoff, fresh.promotions_version)
        result = self.pipeline.run(plan.state, surface, n, explain_full=explain, plan=plan)
        rec_id = "r_" + secrets.token_hex(10)
        counter = self.policy_layer.served(plan, rec_id, result.items)
        self.served.record(rec_id, user_id, surface, now, [i.item_id for i in result.items], counter)
        return Recommendations(
            recommendation_id=rec_id,
            user_id=user_id,
            surface=surface,
            engagement=plan.state.engagement.value,
            generated_at=now_dt,
            items=result.items,
            excluded=result.excluded,
            notes=plan.list_notes(explain),
            model_version=self.models.version,
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
            entry = self._cached(user_id)[1]
            hidden = entry.profile.hard_negatives()
            if self.settings.policy.enabled:  # muted and non-opted-in sensitive items stay hidden (P8)
                scores = np.where(respect_mask(catalog, entry.person, now), -np.inf, scores)
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
        now = to_epoch(self.clock.now())
        state = self._state(user_id, now)
        catalog = state.context.catalog
        profile: Profile = state.profile
        p = self.settings.profile
        interests = []
        status = interest_status(self.policy_layer, state)
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
                    status=status.get(tag),
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
            removed_interests=list(state.person.blocked_interests),
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
        """Write the buffered served lists and back-off counters, then release the database."""
        try:
            self.served.close()
        finally:
            self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
