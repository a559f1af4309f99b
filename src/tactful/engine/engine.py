"""``tactful.Engine``: the in-process Python API, a thin facade over the services.

The engine builds each service once, with explicit constructor dependencies, and forwards
calls to it; it holds no logic of its own. The services:

- :class:`~tactful.services.ingest.IngestService`: events in (P1);
- :class:`~tactful.services.recommend.RecommendService`: lists, re-ranking, similar, popular;
- :class:`~tactful.services.people.PeopleService`: the person record, profile and preferences;
- :class:`~tactful.services.promotions.PromotionService`: business promotions;
- :class:`~tactful.services.privacy.PrivacyService`: export, erasure, retention, tokens;
- :class:`~tactful.services.training.ModelService`: training and the served model;
- :class:`~tactful.services.messaging.MessagingService`: message preferences, the digest
  planner, unsubscribe and feedback (P13), with
  :class:`~tactful.services.delivery.DeliveryService` for the webhook and SMTP workers.
- :class:`~tactful.services.experiments.ExperimentService`: experiments, the holdout,
  exposures, guardrails and rollouts (``engine.experiments``).

Every request runs under a validated :class:`~tactful.config.run.RunConfig`: the base one
built from settings at start-up (an unknown scorer or a missing engagement level fails
here), or the caller's overrides of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from tactful.clock import Clock, SystemClock, to_epoch
from tactful.config.run import RunConfig
from tactful.config.settings import Settings
from tactful.domain.event import Event, IngestResult
from tactful.domain.item import Item, TagMeta
from tactful.domain.messages import (
    Channel,
    MessageFeedback,
    OutboxMessage,
    PreferencesUpdate,
    PreferencesView,
    RequiredMessage,
)
from tactful.domain.person import Consent, Person
from tactful.domain.recommendation import ProfileView, Recommendations, RecommendedItem
from tactful.errors import NotFound, ValidationError
from tactful.index.catalog import CatalogIndex
from tactful.index.person_state import PersonState
from tactful.models.spark_als import SparkAlsParams
from tactful.models.store import ModelStore
from tactful.pipeline.pipeline import Pipeline
from tactful.policy.decision import PolicyRule
from tactful.policy.promotions import Promotion, PromotionSpec, PromotionUpdate
from tactful.privacy.erasure import ErasureReport
from tactful.privacy.export import PersonExport
from tactful.privacy.retention import RetentionReport
from tactful.scoring.collaborative import CollaborativeScorer
from tactful.scoring.content import ContentScorer
from tactful.scoring.context import Scorer
from tactful.scoring.popularity import PopularityScorer
from tactful.scoring.trending import TrendingScorer
from tactful.security.audit import AuditLog
from tactful.security.tokens import TokenSigner, UserToken
from tactful.services.answers import AnswerCache
from tactful.services.delivery import DeliveryReport, DeliveryService, Transport
from tactful.services.event_export import ExportReport
from tactful.services.experiments import ExperimentService
from tactful.services.ingest import IngestService, Retraction
from tactful.services.messaging import FeedbackResult, MessagingService, PlanReport
from tactful.services.model_registry import ModelRegistry
from tactful.services.models import ModelService
from tactful.services.people import PeopleService
from tactful.services.planner import PolicyLayer
from tactful.services.privacy import PrivacyService, TokenRevocation
from tactful.services.promotions import PromotionService
from tactful.services.recommend import Answer, RecommendService
from tactful.services.served_log import RecommendationLog
from tactful.services.shared import SharedState
from tactful.services.state import PersonStates
from tactful.services.tombstones import Tombstones
from tactful.services.training import TrainReport
from tactful.signals.rules import SignalRules
from tactful.storage import open_store
from tactful.storage.protocol import Activity, PolicyStore, Store

RunOverrides = RunConfig | Mapping[str, Any] | None


class Engine:
    """Everything tactful does, in process. Thread-safe; durable state lives in the store."""

    def __init__(
        self,
        settings: Settings | None = None,
        store: Store | None = None,
        clock: Clock | None = None,
        extra_scorers: Sequence[Scorer] = (),
        extra_rules: Sequence[PolicyRule] = (),
    ) -> None:
        self.settings = settings or Settings()
        self.clock = clock or SystemClock()
        self.store: Store = store or open_store(
            self.settings.resolved_database_url, create_empty=self.settings.create_schema
        )
        half_lives = dict(self.settings.signals.half_life_days)
        self.rules = SignalRules(self.settings.signals.rules, self.settings.signals.short_play_seconds)
        self.model_store = ModelStore(self.settings.model_store_url)
        self.models = ModelRegistry(self.model_store, self.settings.models.reload_check_seconds)
        self.collaborative = CollaborativeScorer(
            self.models.get, self.settings.models.fold_cache_size, self.settings.models.fold_tolerance
        )
        scorers: list[Scorer] = [
            PopularityScorer(),
            TrendingScorer(self.settings.scoring.trending_half_life_days),
            ContentScorer(),
            self.collaborative,
            *extra_scorers,
        ]
        self.config = RunConfig.from_settings(self.settings).check_scorers([s.name for s in scorers])
        self.pipeline = Pipeline(scorers, self.config, half_lives, extra_rules)
        self.policy_store: PolicyStore = self.store
        serving = self.settings.serving
        self.answers: AnswerCache[Answer] = AnswerCache(
            serving.answer_cache_size, serving.answer_cache_seconds
        )
        # Redis, when configured: what every worker shares at once (never needed for correctness)
        self.shared: SharedState | None = (
            SharedState(self.settings.redis_url) if self.settings.redis_url else None
        )
        self.states = PersonStates(
            self.store,
            self.policy_store.freshness,
            half_lives,
            on_catalog_change=[self.collaborative.clear, self.answers.clear]
            + ([] if self.shared is None else [self.shared.clear_counters]),
            on_people_change=[] if self.shared is None else [self.shared.publish_people],
        )
        # keyed like the audit log's subjects; read lazily (the signer loads the secret once)
        tombstones = Tombstones(
            lambda user_id: self.privacy.signer.subject_hash(user_id),
            self.settings.serving.erasure_clock_margin_seconds,
        )
        self.planner = PolicyLayer(self.policy_store, half_lives, tombstones)
        self.served = RecommendationLog(
            self.store, save_backoff=self.policy_store.save_backoff, tombstones=tombstones, shared=self.shared
        )
        self.audit = AuditLog(self.store, self.clock)
        self.experiments = ExperimentService(
            self.store,
            self.clock,
            self.audit,
            self.config,
            [s.name for s in scorers],
            self.settings.experiments,
            tombstones,
        )
        self.ingestion = IngestService(self.store, self.states, self.settings, self.rules, self.clock)
        self.recommender = RecommendService(
            self.states,
            self.planner,
            self.pipeline,
            self.served,
            self.models,
            self.clock,
            self.config,
            self.answers,
            self.experiments,
        )
        self.people = PeopleService(
            self.store,
            self.states,
            self.planner,
            self.clock,
            self.config,
            half_lives,
            self.ingestion.profile_rules,
            respect=self.settings.policy.enabled,
        )
        self.promotion_service = PromotionService(
            self.store, self.policy_store, self.clock, self.settings.policy.promotions, self.audit
        )
        self.privacy = PrivacyService(
            self.store, self.settings, self.clock, self.rules, self.served, self._forget, self.audit
        )
        self.training = ModelService(
            self.store,
            self.models,
            half_lives,
            self.model_store,
            self.clock,
            self.rules,
            on_published=[] if self.shared is None else [lambda: self._publish("model")],
        )
        self.messaging = MessagingService(
            self.store,
            self.recommender,
            self.states,
            self.planner,
            self.ingestion.ingest,
            lambda: self.privacy.signer.link_mac,
            self.clock,
            self.settings.messaging,
            self.config,
            respect=self.settings.policy.enabled,
        )
        self.delivery = DeliveryService(
            self.messaging, self.settings.messaging, self.clock, respect=self.settings.policy.enabled
        )
        if self.shared is not None:
            self.shared.listen(self._on_change)

    def _publish(self, kind: str) -> None:
        if self.shared is not None:
            self.shared.publish(kind)

    def _on_change(self, change: Mapping[str, Any]) -> None:
        """Another worker stored a change: drop what it makes stale here now (the freshness
        check would catch it on the next request anyway), load a new model at once."""
        people = change.get("people")
        if isinstance(people, dict):
            for user_id in people:
                self.answers.drop(str(user_id))
        if change.get("kind") == "model":
            self.models.reload(wait=False)

    def _forget(self, user_id: str) -> None:
        """Nothing derived from an erased person stays in this worker's memory."""
        self.states.drop(user_id)
        self.answers.drop(user_id)
        self.collaborative.forget(user_id)
        self.served.forget(user_id)
        self.experiments.forget(user_id)

    # -- catalog -----------------------------------------------------------------------------
    def catalog(self, version: int | None = None) -> CatalogIndex:
        return self.states.catalog(version)

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
        return self.training.train(progress)

    def export_events(
        self,
        url: str | None = None,
        overwrite: bool = False,
        progress: Callable[[int], None] = lambda _: None,
    ) -> ExportReport:
        """Write every stored event as Parquet partitioned by day (default ``spark.export_url``)."""
        return self.training.export_events(url or self.settings.resolved_export_url, overwrite, progress)

    def train_spark(
        self,
        export_url: str | None = None,
        params: SparkAlsParams | None = None,
        spark: Any = None,
        progress: Callable[[str], None] = lambda _: None,
    ) -> TrainReport:
        """Train MLlib ALS on Spark from an export (``spark.master``) and serve it at once."""
        return self.training.train_spark(
            export_url or self.settings.resolved_export_url,
            params,
            self.settings.spark.master,
            self.settings.spark.conf,
            spark,
            progress,
        )

    # -- events ------------------------------------------------------------------------------
    def ingest(self, events: Sequence[Event]) -> IngestResult:
        """Validate and apply a batch atomically; the next recommendation reflects it (P1)."""
        return self.ingestion.ingest(events)

    def track(self, event: Event) -> IngestResult:
        return self.ingestion.ingest([event])

    def undo_dislike(self, user_id: str, item_id: str, types: Sequence[str] | None = None) -> Retraction:
        """Take back the person's thumbs-down on an item, as if it never came (an undo)."""
        return self.ingestion.retract(user_id, item_id, types)

    def activity(self, minutes: int = 60, bucket_seconds: int = 60) -> Activity:
        """Events per bucket, per type and distinct people over the last ``minutes`` (dashboard)."""
        if not 1 <= minutes <= 7 * 24 * 60 or not 1 <= bucket_seconds <= 86_400:
            raise ValidationError("minutes must be 1..10080 and bucket_seconds 1..86400", field="minutes")
        until = to_epoch(self.clock.now())
        return self.store.activity(until - minutes * 60, until, bucket_seconds)

    # -- recommendations ---------------------------------------------------------------------
    def recommend(
        self,
        user_id: str,
        surface: str = "home",
        n: int | None = None,
        explain: bool = False,
        config: RunOverrides = None,
    ) -> Recommendations:
        """A list for a person on a surface, each item with its reasons (P12)."""
        return self.recommender.recommend(user_id, surface, n, explain, config)

    def preview(
        self, user_id: str, surface: str = "home", n: int | None = None, explain: bool = True
    ) -> Recommendations:
        """The list the person would get now, with every reason, recorded nowhere (operators)."""
        return self.recommender.preview(user_id, surface, n, explain)

    def rerank(
        self,
        user_id: str,
        item_ids: Sequence[str],
        surface: str = "home",
        explain: bool = False,
        config: RunOverrides = None,
    ) -> Recommendations:
        """The caller's candidates ordered for the person (SPEC §4 re-rank)."""
        return self.recommender.rerank(user_id, item_ids, surface, explain, config)

    def popular(self, n: int | None = None, kind: str = "popular") -> list[RecommendedItem]:
        return self.recommender.popular(n, kind)

    def similar(
        self, item_id: str, n: int | None = None, user_id: str | None = None
    ) -> list[RecommendedItem]:
        return self.recommender.similar(item_id, n, user_id)

    def person_state(self, user_id: str, config: RunOverrides = None) -> PersonState:
        """The person as scorers see them now (for inspection and tests)."""
        return self.states.state(user_id, to_epoch(self.clock.now()), self.recommender.config(config))

    # -- people ------------------------------------------------------------------------------
    def person(self, user_id: str) -> Person:
        return self.people.person(user_id)

    def save_person(self, person: Person) -> Person:
        """Create or update a person record: only the fields set change (see ``people.update_person``)."""
        return self.people.update_person(person)

    def profile(self, user_id: str) -> ProfileView:
        return self.people.profile(user_id)

    def state_interest(self, user_id: str, tag: str) -> ProfileView:
        return self.people.state_interest(user_id, tag)

    def remove_interest(self, user_id: str, tag: str) -> ProfileView:
        return self.people.remove_interest(user_id, tag)

    def mute_topic(self, user_id: str, tag: str) -> ProfileView:
        return self.people.mute_topic(user_id, tag)

    def unmute_topic(self, user_id: str, tag: str) -> ProfileView:
        return self.people.unmute_topic(user_id, tag)

    def set_consent(self, user_id: str, consent: Consent | dict[str, Any]) -> ProfileView:
        return self.people.set_consent(user_id, consent)

    # -- messages (P13) ---------------------------------------------------------------------
    def message_preferences(self, user_id: str) -> PreferencesView:
        """A person's message preferences as the preference center shows them."""
        return self.messaging.preferences(user_id)

    def update_message_preferences(
        self, user_id: str, update: PreferencesUpdate | Mapping[str, Any]
    ) -> PreferencesView:
        """Change message preferences (partial); effective at once."""
        return self.messaging.update_preferences(user_id, update)

    def unsubscribe(self, user_id: str, topic: str | None = None) -> PreferencesView:
        """Opt out of a topic (None: every digest topic); required topics stay."""
        return self.messaging.unsubscribe(user_id, topic)

    def restore_cadence(self, user_id: str) -> PreferencesView:
        return self.messaging.restore_cadence(user_id)

    def plan_messages(
        self, now: datetime | None = None, user_ids: Sequence[str] | None = None, dry_run: bool = False
    ) -> PlanReport:
        """Plan every digest due at ``now`` into the outbox (idempotent)."""
        return self.messaging.plan(now, user_ids, dry_run)

    def send_required_message(
        self, user_id: str, body: RequiredMessage | Mapping[str, Any]
    ) -> tuple[OutboxMessage, bool]:
        """Queue a one-off message on a required topic (a password reset); idempotent by its key.

        Returns the message and whether it is new; the next delivery pass sends it."""
        return self.messaging.send_required(user_id, body)

    def send_messages(self, now: datetime | None = None, limit: int = 500) -> DeliveryReport:
        """One delivery pass over the outbox."""
        return self.delivery.send(now, limit)

    def set_transports(self, transports: Mapping[Channel, Transport]) -> None:
        """Replace the delivery transports (tests, simulations, custom senders)."""
        self.delivery.transports = dict(transports)

    def outbox(
        self, user_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[OutboxMessage]:
        return self.messaging.outbox(user_id, status, limit)

    def message(self, message_id: str) -> OutboxMessage:
        return self.messaging.message(message_id)

    def message_feedback(self, body: MessageFeedback | Mapping[str, Any]) -> FeedbackResult:
        """Report an open, click, unsubscribe, complaint or bounce on a message."""
        return self.messaging.feedback(body)

    def message_status(self) -> dict[str, int]:
        return self.messaging.status()

    # -- promotions --------------------------------------------------------------------------
    def create_promotion(self, body: PromotionSpec | dict[str, Any], actor: str = "python") -> Promotion:
        return self.promotion_service.create_promotion(body, actor)

    def update_promotion(
        self, promotion_id: str, body: PromotionUpdate | dict[str, Any], actor: str = "python"
    ) -> Promotion:
        return self.promotion_service.update_promotion(promotion_id, body, actor)

    def end_promotion(self, promotion_id: str, actor: str = "python") -> Promotion:
        return self.promotion_service.end_promotion(promotion_id, actor)

    def get_promotion(self, promotion_id: str) -> Promotion:
        return self.promotion_service.get_promotion(promotion_id)

    def promotions(self, include_ended: bool = True) -> list[Promotion]:
        return self.promotion_service.promotions(include_ended)

    # -- privacy -----------------------------------------------------------------------------
    @property
    def signer(self) -> TokenSigner:
        return self.privacy.signer

    def issue_user_token(self, user_id: str, ttl_seconds: int | None = None) -> str:
        return self.privacy.issue_user_token(user_id, ttl_seconds)

    def verify_user_token(self, token: str) -> UserToken:
        return self.privacy.verify_user_token(token)

    def revoke_user_token(
        self, token: str, user_id: str | None = None, actor: str = "python"
    ) -> TokenRevocation:
        return self.privacy.revoke_user_token(token, user_id, actor)

    def revoke_user_tokens(self, user_id: str, actor: str = "python") -> TokenRevocation:
        return self.privacy.revoke_user_tokens(user_id, actor)

    def export_person(self, user_id: str, actor: str = "python") -> PersonExport:
        return self.privacy.export_person(user_id, actor)

    def erase_person(self, user_id: str, actor: str = "python") -> ErasureReport:
        return self.privacy.erase_person(user_id, actor)

    def drop_events_older_than(
        self, days: float, actor: str = "python", dry_run: bool = False
    ) -> RetentionReport:
        return self.privacy.drop_events_older_than(days, actor, dry_run)

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Write the buffered served lists and back-off counters, then release the database."""
        try:
            try:
                self.served.close()
            finally:
                self.experiments.close()
        finally:
            if self.shared is not None:
                self.shared.close()
            self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
