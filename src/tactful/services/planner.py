"""The policy layer around the pipeline: one :class:`ListPlan` per request, bookkeeping after serving.

``PolicyLayer.plan`` gates the person's interests, picks blend weights along the engagement
ramp, assembles the surface's rules and the select stage; ``PolicyLayer.served`` records
promoted placements (for caps) and personalized slots (for back-off). With
``settings.policy.enabled`` false the same engine behaves as a plain recommender: every
learned signal counts and only availability and consumption filter the list.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence

import numpy as np

from tactful.config.policy import DiversityMethod, SurfaceSettings
from tactful.config.run import RunConfig
from tactful.domain.recommendation import Reason, RecommendedItem
from tactful.index.catalog import CatalogIndex
from tactful.index.person_state import PersonState
from tactful.pipeline.plan import ListPlan
from tactful.policy.decision import PolicyRule
from tactful.policy.exclusions import OwnedRule
from tactful.policy.hints import (
    PERSONAL_CODES,
    BackoffCounter,
    ImpressionDiscountRule,
    backing_off,
    backoff_note,
    count_served,
    last_positive,
    refresh_backoff,
)
from tactful.policy.interests import GateConfig, gate_interests, item_may_drive, ungated_vector
from tactful.policy.promotions import (
    ActivePromotion,
    PromotionCandidates,
    eligible_promotions,
    promotion_positions,
)
from tactful.policy.respect import MutedRule, ProvenanceRule, SensitiveRule, SurfaceFilterRule
from tactful.policy.selection import SelectConfig
from tactful.services.tombstones import Tombstones
from tactful.signals.profile import DAY, Engagement
from tactful.storage.protocol import PolicyStore

BASELINE_OFF = frozenset({"disliked", "similar_to_disliked"})
"""Foundation rules the plain baseline drops (they are respect policies, P2)."""


class PolicyLayer:
    """Builds list plans and records what was served."""

    def __init__(
        self, store: PolicyStore, half_lives: dict[str, float], tombstones: Tombstones | None = None
    ) -> None:
        self.store = store
        self.half_lives = half_lives
        self.tombstones = tombstones
        self._active: tuple[int, list[ActivePromotion]] | None = None
        self._placed: tuple[tuple[int, int, int], dict[str, list[int]]] | None = None

    # -- before the pipeline -----------------------------------------------------------------
    def plan(
        self,
        state: PersonState,
        surface: str,
        config: RunConfig,
        backoff: BackoffCounter | None = None,
        promotions_version: int | None = None,
    ) -> ListPlan:
        """Plan one list. ``backoff`` is the person's stored counter and ``promotions_version``
        the version promotions are cached by (both from the request's freshness check); when
        not given they are read from the store.
        """
        if not config.policy.enabled:
            return self._baseline(state, surface, config, promotions_version)
        cfg = config.surface(surface)
        ctx = state.context
        person, profile, catalog = state.person, state.profile, ctx.catalog
        compiled = state.compiled
        gate = gate_interests(
            catalog, person, profile, ctx.now, self.half_lives, state.allowed, gate_config(config), compiled
        )
        keep = item_may_drive(person, catalog, ctx.item_positions)
        level = state.engagement
        notes: list[Reason] = []
        reported: Engagement | None = None  # set when the list runs below the person's level
        hints = config.policy.hints
        stored = self.store.backoff(person.id) if backoff is None else backoff
        latest = last_positive(profile) if compiled is None else compiled.last_positive
        counter = refresh_backoff(stored, latest)
        if not person.consent.personalization:
            notes.append(Reason(code="personalization_off", message="personalization is off at your request"))
        elif backing_off(counter, hints.backoff_after_ignored):
            reported, level = level, Engagement.new
            notes.append(backoff_note(counter, hints.backoff_after_ignored))
        elif level is Engagement.new and any(t in gate.used for t in person.stated_interests):
            level = Engagement.warming  # what a person told us is no guess (P11 over P5)
        weights, note = self._ramp(config, level, profile.positive_signals)
        if note is not None and reported is None:  # backing off says why itself
            notes.append(note)
        personal = level is not Engagement.new
        cite_after = ctx.now - hints.retarget_window_days * DAY
        stale_weight = config.policy.interests.stale_item_weight
        item_weights, fresh_share = fade_stale_items(
            ctx.item_weights[keep], ctx.item_times[keep], cite_after, stale_weight
        )
        if fresh_share < 1.0 and "collaborative" in weights:
            weights["collaborative"] *= fresh_share
        new_ctx = dataclasses.replace(
            ctx,
            tag_vector=gate.tag_vector if personal else np.minimum(gate.tag_vector, 0.0),
            item_positions=ctx.item_positions[keep],
            item_weights=item_weights,
            item_times=ctx.item_times[keep],
        )
        gated = dataclasses.replace(state, engagement=level, context=new_ctx)
        interests = {t for t, v in gate.used.items() if v > 0}
        promos = self._promotions(
            person.id, catalog, interests, ctx.now, surface, enforce=True, version=promotions_version
        )
        rules: list[PolicyRule] = [
            *surface_rules(cfg),
            ProvenanceRule(),
            SensitiveRule(),
            MutedRule(),
            SurfaceFilterRule(cfg.include_tags, cfg.exclude_tags),
            ImpressionDiscountRule(
                hints.impressions_before_cooldown, hints.cooldown_multiplier, hints.cooldown_days
            ),
        ]
        return ListPlan(
            state=gated,
            surface=surface,
            weights=weights,
            extra_rules=rules,
            disabled=frozenset(cfg.disabled_rules) | replay_off(cfg),
            select_cfg=SelectConfig(
                cfg.exploration_share if personal and interests else 0.0,
                cfg.diversity,
                cfg.diversity_lambda,
                cfg.percent_promoted,
                cfg.stated_share if personal else 0.0,
            ),
            interest_tags=interests,
            stated_tags=frozenset(t for t in person.stated_interests if t in gate.used),
            seen=self._seen(state),
            promos=promos,
            seed=_seed(person.id, surface, ctx.now),
            notes=notes,
            withheld=lambda: gate.withheld,
            counter=counter,
            cite_after=cite_after,
            backoff_threshold=hints.backoff_after_ignored,
            backoff_visit_seconds=hints.visit_minutes * 60.0,
            engagement=reported,
        )

    def _baseline(
        self, state: PersonState, surface: str, config: RunConfig, promotions_version: int | None
    ) -> ListPlan:
        """The plain recommender: all signals count, no respect rules, no limits."""
        ctx = state.context
        catalog, profile = ctx.catalog, state.profile
        positions, weights, times = [], [], []
        for item_id, item in profile.items.items():
            pos = catalog.index.get(item_id)
            value = item.scores.value(ctx.now, self.half_lives) if pos is not None else 0.0
            if pos is not None and value != 0.0:
                positions.append(pos)
                weights.append(value)
                times.append(item.last_engaged or item.last_impression or 0.0)
        new_ctx = dataclasses.replace(
            ctx,
            tag_vector=ungated_vector(catalog, state.person, profile, ctx.now, self.half_lives),
            item_positions=np.array(positions, dtype=np.int64),
            item_weights=np.array(weights),
            item_times=np.array(times),
        )
        level = Engagement.engaged
        plain = dataclasses.replace(
            state, engagement=level, allowed=frozenset(self.half_lives), context=new_ctx
        )
        cfg = config.surface(surface)
        promos = self._promotions(
            state.person.id, catalog, set(), ctx.now, surface, enforce=False, version=promotions_version
        )
        return ListPlan(
            state=plain,
            surface=surface,
            weights=dict(config.blend[level.value]),
            extra_rules=surface_rules(cfg),
            disabled=BASELINE_OFF | replay_off(cfg),
            select_cfg=SelectConfig(0.0, DiversityMethod.off, 1.0, cfg.percent_promoted),
            interest_tags=set(),
            seen=np.zeros(0, dtype=np.int64),
            promos=promos,
            seed=0,
            notes=[],
            withheld=list,
            counter=None,
        )

    @staticmethod
    def _ramp(config: RunConfig, level: Engagement, positive: int) -> tuple[dict[str, float], Reason | None]:
        """Blend weights along the engagement ramp (P5) and a note saying where the person is."""
        blend: dict[str, dict[str, float]] = dict(config.blend)
        p = config.ramp
        if level is Engagement.new:
            note = Reason(
                code="general_content",
                message="general content (popular, trending) until we learn what you like",
            )
            return dict(blend["new"]), note
        if level is Engagement.engaged:
            return dict(blend["engaged"]), None
        span = max(p.engaged_after - p.warming_after, 1)
        t = min(max((positive - p.warming_after) / span, 0.0), 1.0) if config.policy.smooth_ramp else 0.0
        names = set(blend["warming"]) | set(blend["engaged"])
        weights = {
            k: (1 - t) * blend["warming"].get(k, 0.0) + t * blend["engaged"].get(k, 0.0) for k in names
        }
        note = Reason(
            code="warming_up",
            message=f"personalizing gradually: {positive} of {p.engaged_after} signals so far",
            evidence=positive,
            weight=round(t, 3),
        )
        return weights, note

    def _promotions(
        self,
        user_id: str,
        catalog: CatalogIndex,
        interests: set[str],
        now: float,
        surface: str,
        enforce: bool,
        version: int | None = None,
    ) -> PromotionCandidates:
        active = [p for p in self._active_promotions(version, now) if p.live(now, surface)]
        if not active:
            return PromotionCandidates()
        longest = max(p.window_days for p in active)
        exposures = (
            self.store.exposures(user_id, [p.id for p in active], now - longest * DAY) if enforce else {}
        )
        placed = self._placed_positions(version, catalog, active)
        return eligible_promotions(active, catalog, interests, exposures, now, surface, enforce, placed)

    def next_promotion_change(self, version: int | None, now: float) -> float:
        """When a promotion next starts or ends after ``now`` (inf if none will)."""
        times = [
            t
            for p in self._active_promotions(version, now)
            for t in (p.starts_at, p.ends_at)
            if t is not None and t > now
        ]
        return min(times, default=float("inf"))

    def _active_promotions(self, version: int | None, now: float) -> list[ActivePromotion]:
        """Promotions not ended, cached per promotions version (read after the version, never staler)."""
        if version is None:
            return self.store.active_promotions(now)
        cached = self._active
        if cached is None or cached[0] != version:
            cached = self._active = (version, self.store.active_promotions())
        return [p for p in cached[1] if p.ends_at is None or p.ends_at > now]

    def _placed_positions(
        self, version: int | None, catalog: CatalogIndex, active: list[ActivePromotion]
    ) -> dict[str, list[int]]:
        """Catalog positions per promotion, cached per promotions and catalog version."""
        if version is None:
            return {p.id: promotion_positions(p, catalog) for p in active}
        key = (version, id(catalog), catalog.version)
        cached = self._placed
        if cached is None or cached[0] != key:
            cached = self._placed = (key, {})
        placed = cached[1]
        for p in active:
            if p.id not in placed:
                placed[p.id] = promotion_positions(p, catalog)
        return placed

    @staticmethod
    def _seen(state: PersonState) -> np.ndarray:
        """Catalog positions of items the person was shown or engaged with."""
        compiled = state.compiled
        if compiled is not None and compiled.catalog_version == state.context.catalog.version:
            return compiled.item_pos[compiled.item_seen]
        index = state.context.catalog.index
        seen = [
            index[i]
            for i, s in state.profile.items.items()
            if i in index and (s.impressions > 0 or s.last_engaged is not None)
        ]
        return np.array(seen, dtype=np.int64)

    # -- after serving -----------------------------------------------------------------------
    def served(self, plan: ListPlan, rec_id: str, items: Sequence[RecommendedItem]) -> BackoffCounter | None:
        """Record promoted placements (caps) now; return the back-off counter when it changed.

        Placements are written before the list is returned, so caps stay exact. The new
        counter goes to the engine's background :class:`RecommendationLog` (see there for
        why that is safe); callers without one write it with ``store.record_served``.
        """
        selection = plan.selection
        catalog = plan.state.context.catalog
        placements = (
            [(pid, catalog.item_ids[pos]) for pos, pid in selection.promoted.items()] if selection else []
        )
        counter = plan.counter
        if counter is not None:
            personal = sum(1 for i in items if any(r.code in PERSONAL_CODES for r in i.reasons))
            threshold = plan.backoff_threshold
            now = plan.state.context.now
            counter = count_served(counter, personal, threshold, now, plan.backoff_visit_seconds)
        if placements:
            user_id = plan.state.person.id
            check = None if self.tombstones is None else self.tombstones.check([user_id])
            self.store.record_served(user_id, rec_id, placements, None, plan.state.context.now, check)
        return counter if counter is not None and counter != plan.counter else None


def surface_rules(cfg: SurfaceSettings) -> list[PolicyRule]:
    """Rules a surface's shape asks for: without ``replay``, liked and saved items stay out."""
    return [] if cfg.replay else [OwnedRule()]


def replay_off(cfg: SurfaceSettings) -> frozenset[str]:
    """Foundation rules a replaying surface switches off: consumed items may come back there."""
    return frozenset({"consumed"}) if cfg.replay else frozenset()


def fade_stale_items(
    weights: np.ndarray, times: np.ndarray, fresh_after: float, stale_weight: float
) -> tuple[np.ndarray, float]:
    """Item history older than the retargeting window fades to ``stale_weight`` of itself (P7, P9).

    Returns the weights and the share of the positive history that is still fresh (stale
    weight counted at its faded value, and never below ``stale_weight``): the collaborative
    part of the blend is scaled by it, so an old phase informs similarity a little but never
    drives a list on its own. Negative weights (skips, dislikes) are kept as they are.
    """
    stale = (times < fresh_after) & (weights > 0)
    if not stale.any():
        return weights, 1.0
    faded = np.where(stale, weights * stale_weight, weights)
    fresh = float(faded[(weights > 0) & ~stale].sum())
    kept = float(faded[stale].sum())
    share = fresh / (fresh + kept) if fresh + kept > 0 else 0.0
    return faded, max(share, stale_weight)


def _seed(user_id: str, surface: str, now: float) -> int:
    """Exploration varies by person, surface and day, and is reproducible."""
    return zlib.crc32(f"{user_id}|{surface}|{int(now // DAY)}".encode())


def gate_config(config: RunConfig) -> GateConfig:
    """Which interests may drive anything, from a run config."""
    policy = config.policy
    return GateConfig(
        evidence_threshold=config.ramp.evidence_threshold,
        retarget_window_days=policy.hints.retarget_window_days,
        stale_below=policy.interests.stale_below,
        recency_half_life_days=policy.interests.recency_half_life_days,
        stated_weight=policy.interests.stated_weight,
    )


def interest_status(layer: PolicyLayer, state: PersonState, config: RunConfig) -> dict[str, str]:
    """Per tag: 'used' or the code of the reason it is withheld (for the profile view)."""
    if not config.policy.enabled:
        return {tag: "used" for tag in state.profile.interests}
    ctx = state.context
    gate = gate_interests(
        ctx.catalog,
        state.person,
        state.profile,
        ctx.now,
        layer.half_lives,
        state.allowed,
        gate_config(config),
        state.compiled,
    )
    out = {tag: "used" for tag in gate.used}
    out.update((r.tag, r.code) for r in gate.withheld if r.tag is not None)
    return out
