"""Recommendations: lists for a person and surface, re-ranking a caller's list, similar, popular.

Every request runs under a :class:`RunConfig` (the engine's base config unless the caller
passes overrides) through plan and pipeline; nothing here reads global settings.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tactful.clock import Clock, to_epoch
from tactful.config.run import RunConfig
from tactful.domain.recommendation import Reason, Recommendations, RecommendedItem
from tactful.errors import NotFound, UnknownItem, ValidationError
from tactful.ids import token_hex
from tactful.index.catalog import CatalogIndex
from tactful.metrics import metrics
from tactful.pipeline.pipeline import Pipeline, PipelineResult, top_k
from tactful.pipeline.plan import ListPlan
from tactful.policy.hints import BackoffCounter
from tactful.policy.respect import respect_mask
from tactful.scoring.content import tag_similarity
from tactful.scoring.trending import trend_now
from tactful.services.answers import AnswerCache, Stamp
from tactful.services.experiments import ExperimentService
from tactful.services.model_registry import ModelRegistry
from tactful.services.planner import PolicyLayer
from tactful.services.served_log import RecommendationLog
from tactful.services.state import PersonStates
from tactful.storage.protocol import Freshness

MAX_N = 200
MAX_RERANK = 500


@dataclass(frozen=True)
class Answer:
    """A computed list and the plan it was served under (what back-off counting needs)."""

    plan: ListPlan
    result: PipelineResult


class RecommendService:
    """Ranks for people; records what was served (for attribution, caps and back-off)."""

    def __init__(
        self,
        states: PersonStates,
        planner: PolicyLayer,
        pipeline: Pipeline,
        served: RecommendationLog,
        models: ModelRegistry,
        clock: Clock,
        base: RunConfig,
        answers: AnswerCache[Answer] | None = None,
        experiments: ExperimentService | None = None,
    ) -> None:
        self.experiments = experiments
        self.answers: AnswerCache[Answer] = AnswerCache(0, 0.0) if answers is None else answers
        self.states = states
        self.planner = planner
        self.pipeline = pipeline
        self.served = served
        self.models = models
        self.clock = clock
        self.base = base

    def config(self, overrides: RunConfig | Mapping[str, Any] | None = None) -> RunConfig:
        """The run config for a request: the base, a given config, or the base with overrides."""
        if overrides is None:
            return self.base
        if isinstance(overrides, RunConfig):
            return overrides.check_scorers(self.pipeline.scorer_names)
        return self.base.with_overrides(overrides, self.pipeline.scorer_names)

    def check_n(self, n: int | None, config: RunConfig | None = None) -> int:
        n = (config or self.base).default_n if n is None else n
        if not isinstance(n, int) or not 1 <= n <= MAX_N:
            raise ValidationError(f"n must be between 1 and {MAX_N}", field="n")
        return n

    # -- lists for a person ------------------------------------------------------------------
    def recommend(
        self,
        user_id: str,
        surface: str = "home",
        n: int | None = None,
        explain: bool = False,
        config: RunConfig | Mapping[str, Any] | None = None,
        record: bool = True,
        count_backoff: bool = True,
    ) -> Recommendations:
        """A list for a person and surface; ``record=False`` (a dry run) leaves no served list,
        and ``count_backoff=False`` (a digest: messages back off by cadence) records it for
        attribution without counting its slots toward the back-off of P7."""
        cfg = self.config(config)
        n = self.check_n(cfg.surface(surface).n if n is None else n, cfg)
        return self._serve(user_id, surface, n, explain, cfg, None, record, count_backoff)

    def preview(
        self,
        user_id: str,
        surface: str = "home",
        n: int | None = None,
        explain: bool = True,
        config: RunConfig | Mapping[str, Any] | None = None,
    ) -> Recommendations:
        """The list the person would get now, computed afresh and **not recorded**.

        For an operator looking at someone (the dashboard's person lookup): nothing is
        logged as served, so the look counts no impression, no back-off slot and no
        promotion exposure, and it is attributed to nothing (its id is ``preview_…``).
        """
        cfg = self.config(config)
        n = self.check_n(cfg.surface(surface).n if n is None else n, cfg)
        now_dt = self.clock.now()
        now = to_epoch(now_dt)
        pending = self.served.pending_backoff(user_id)
        fresh = self.states.freshness(user_id)
        backoff = fresh.backoff if pending is None else pending
        state = self.states.state(user_id, now, cfg, fresh)
        plan = self.planner.plan(state, surface, cfg, backoff, fresh.promotions_version)
        result = self.pipeline.run(plan.state, surface, n, plan, cfg, explain_full=explain, only=None)
        return Recommendations(
            recommendation_id="preview_" + secrets.token_hex(6),
            user_id=user_id,
            surface=surface,
            engagement=plan.reported_engagement.value,
            generated_at=now_dt,
            items=list(result.items),
            excluded=None if result.excluded is None else list(result.excluded),
            notes=plan.list_notes(explain),
            model_version=self.models.version,
        )

    def rerank(
        self,
        user_id: str,
        item_ids: Sequence[str],
        surface: str = "home",
        explain: bool = False,
        config: RunConfig | Mapping[str, Any] | None = None,
    ) -> Recommendations:
        """The caller's candidates ordered for the person, through policy, diversity and reasons.

        Candidates the policy excludes (disliked, muted, sensitive…) are left out; with
        ``explain`` they are listed with their reasons. Unknown ids are refused, all at once.
        """
        cfg = self.config(config)
        if not item_ids:
            raise ValidationError("give at least one candidate", field="items")
        if len(item_ids) > MAX_RERANK:
            raise ValidationError(f"at most {MAX_RERANK} candidates", field="items")
        catalog = self.states.catalog()
        unknown = [i for i in dict.fromkeys(item_ids) if i not in catalog.index]
        if unknown:
            shown = ", ".join(repr(i) for i in unknown[:10]) + (" …" if len(unknown) > 10 else "")
            raise UnknownItem(f"unknown item(s) {shown}", field="items")
        positions = np.array(sorted({catalog.index[i] for i in item_ids}), dtype=np.int64)
        return self._serve(user_id, surface, len(positions), explain, cfg, positions)

    def _serve(
        self,
        user_id: str,
        surface: str,
        n: int,
        explain: bool,
        cfg: RunConfig,
        only: np.ndarray | None,
        record: bool = True,
        count_backoff: bool = True,
    ) -> Recommendations:
        now_dt = self.clock.now()
        now = to_epoch(now_dt)
        pending = self.served.pending_backoff(user_id)  # before the store: see RecommendationLog
        fresh = self.states.freshness(user_id)
        backoff = fresh.backoff if pending is None else pending
        assignment = None
        if cfg is self.base and self.experiments is not None:  # a caller's overrides win over experiments
            assignment = self.experiments.assign(
                user_id, surface, lambda: self.states.state(user_id, now, self.base, fresh).engagement
            )
            if assignment is not None:
                cfg = assignment.config
        key = (surface, n, explain)
        keep = only is None and cfg is self.base and self.answers.enabled
        stamp = self._stamp(fresh, backoff) if keep else None
        answer = self.answers.get(user_id, key, stamp, now) if stamp is not None else None
        m = metrics()
        if stamp is not None:
            m.answer_cache.labels("miss" if answer is None else "hit").inc()
        if answer is None:
            state = self.states.state(user_id, now, cfg, fresh)
            plan = self.planner.plan(state, surface, cfg, backoff, fresh.promotions_version)
            result = self.pipeline.run(plan.state, surface, n, plan, cfg, explain_full=explain, only=only)
            if stamp is not None and not plan.promos.positions:  # caps are decided per request
                until = self.planner.next_promotion_change(fresh.promotions_version, now)
                catalog = state.context.catalog
                self.answers.put(user_id, key, stamp, now, catalog, Answer(plan, result), until)
            for rule, count in result.denials.items():  # counted where the list was decided
                m.policy_denials.labels(rule).inc(count)
        else:
            plan, result = answer.plan, answer.result
        rec_id = "r_" + token_hex(10)
        if record:
            counter = self.planner.served(plan, rec_id, result.items)
            if not count_backoff:
                counter = None
            self.served.record(rec_id, user_id, surface, now, [i.item_id for i in result.items], counter)
            m.recommendations_served.labels(surface if surface in cfg.surfaces else "other").inc()
            if assignment is not None and self.experiments is not None:
                self.experiments.served(rec_id, user_id, surface, now, len(result.items), assignment)
        return Recommendations(
            recommendation_id=rec_id,
            user_id=user_id,
            surface=surface,
            engagement=plan.reported_engagement.value,
            generated_at=now_dt,
            items=list(result.items),
            excluded=None if result.excluded is None else list(result.excluded),
            notes=plan.list_notes(explain),
            model_version=self.models.version,
        )

    def _stamp(self, fresh: Freshness, backoff: BackoffCounter) -> Stamp:
        """The versions a kept answer must match (a newly published model is a new stamp)."""
        self.models.get()
        f = fresh
        return Stamp(f.person_version, f.catalog_version, f.promotions_version, self.models.version, backoff)

    # -- lists for everyone ------------------------------------------------------------------
    def popular(self, n: int | None = None, kind: str = "popular") -> list[RecommendedItem]:
        n = self.check_n(n)
        catalog = self.states.catalog()
        now = to_epoch(self.clock.now())
        if kind == "trending":
            scores = trend_now(catalog.trend, catalog.trend_ts, now, self.base.trending_half_life_days)
            reason = Reason(code="trending", message="trending right now")
        elif kind == "popular":
            scores = catalog.interactions.astype(float)
            reason = Reason(code="popular", message="popular with others")
        else:
            raise ValidationError("kind must be 'popular' or 'trending'", field="kind")
        scores = np.where(catalog.available(now), scores, -np.inf)
        return [plain_item(catalog, int(p), float(scores[p]), [reason]) for p in top_k(scores, n)]

    def similar(
        self, item_id: str, n: int | None = None, user_id: str | None = None
    ) -> list[RecommendedItem]:
        n = self.check_n(n)
        catalog = self.states.catalog()
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
            entry = self.states.cached(user_id)[1]
            if self.base.policy.enabled:  # muted and non-opted-in sensitive items stay hidden (P8)
                scores = np.where(respect_mask(catalog, entry.person, now), -np.inf, scores)
            for iid in entry.profile.hard_negatives():
                if iid in catalog.index:
                    scores[catalog.index[iid]] = -np.inf
        out = []
        source = catalog.items[pos].title or item_id
        source_tags = set(catalog.items[pos].tags)
        for p in top_k(scores, n):
            shared = [t for t in catalog.items[p].tags if t in source_tags]
            reason = Reason(
                code="similar_item",
                message=f"shares {', '.join(shared[:3]) or 'audience'} with {source}",
                item_id=item_id,
                weight=round(float(sim[p]), 4),
            )
            out.append(plain_item(catalog, int(p), float(scores[p]), [reason]))
        return out


def plain_item(catalog: CatalogIndex, pos: int, score: float, reasons: list[Reason]) -> RecommendedItem:
    return RecommendedItem(
        item_id=catalog.item_ids[pos],
        title=catalog.items[pos].title,
        score=round(score, 6),
        tags=list(catalog.items[pos].tags),
        reasons=reasons,
    )
