"""What the respect benchmark measures, from ground truth and the simulation's own event log.

Every figure is computed from what the simulated people were actually served and what the
simulation knows about them, never from the engine's own view of itself, so the engine with
policies on and the plain baseline are judged by the same yardstick.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from tactful.domain.recommendation import Recommendations
from tactful.policy.hints import PERSONAL_CODES
from tactful.signals.profile import DAY
from tactful.simulation.world import Persona, World

PHASE_KEYS = ("stale_item_reasons", "self_reasons", "reload_backoff", "contradictory_reasons")
"""Phases and hints: 'because you liked' on an item liked before the retargeting window or on
the item itself; lists backed off although the person was shown fewer ignored personalized
items than the threshold since their last positive signal (each item once per visit, however
often the visit's page was reloaded); cards giving both an interest in a tag and a dislike
of something sharing that tag as reasons."""

KEYS = (
    "sensitive_exposures",
    "disliked_reshown",
    "muted_exposures",
    "cap_violations",
    "retarget_after_window",
    "premature_interest_actions",
    "opt_out_residue",
    *PHASE_KEYS,
    "drift_adapt_days",
    "exploration_share",
    "coverage",
    "hidden_hit_rate",
)
DRIFT_SLOTS = 2
INTEREST_CODES = frozenset({"matches_interest", "stated_interest"})
"""A drifter has adapted on the first day their list holds this many items of the new topic, or
one recommended because of it (reason ``matches_interest`` on the new topic); never adapting
counts as the days left in the run."""


@dataclass
class Tracker:
    """Accumulates one engine's figures over a simulation run."""

    world: World
    evidence_threshold: int = 3
    retarget_window_days: float = 30.0
    disliked: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    sessions: dict[str, dict[str, set[str]]] = field(default_factory=lambda: defaultdict(dict))
    last_positive: dict[tuple[str, str], float] = field(default_factory=dict)
    placements: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    adapted: dict[str, int] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    served_items: set[str] = field(default_factory=set)
    backoff_after_ignored: int = 40
    item_positive: dict[tuple[str, str], float] = field(default_factory=dict)
    ignored_seen: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    visit_personal: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    # -- what the person did -----------------------------------------------------------------
    def positive(self, person: Persona, item_id: str, session: str, at: float) -> None:
        self._phase_positive(person, item_id, at)
        for tag in self._tags(item_id):
            self.sessions[person.id].setdefault(tag, set()).add(session)
            self.last_positive[(person.id, tag)] = at

    def dislike(self, person: Persona, item_id: str) -> None:
        self.disliked[person.id].add(item_id)

    def _tags(self, item_id: str) -> list[str]:
        return self._item_tags.get(item_id, [])

    def __post_init__(self) -> None:
        self._item_tags = {i.id: list(i.tags) for i in self.world.items}
        self._sensitive = {i.id: set(i.sensitive) for i in self.world.items}
        counts: dict[str, int] = defaultdict(int)
        for _, item_id in self.world.crowd:
            counts[item_id] += 1
        ranked = sorted(counts, key=lambda i: -counts[i])
        self._head = set(ranked[: max(1, len(self.world.items) // 10)])

    # -- what the person was shown -----------------------------------------------------------
    def served(self, person: Persona, recs: Recommendations, day: int, at: float) -> None:
        c = self.counts
        ids = [i.item_id for i in recs.items]
        self.served_items.update(ids)
        c["slots"] += len(ids)
        c["lists"] += 1
        self._phase_list(person, recs, at, first=True)
        muted = person.mute_tag if person.mute_day is not None and day >= person.mute_day else None
        known = self._known_interests(person)
        hidden = person.hidden_on(day)
        hits = 0
        for item in recs.items:
            tags = self._tags(item.item_id)
            topic = self.world.item_topic.get(item.item_id)
            if self._sensitive.get(item.item_id) and not person.opted_in_on(day):
                c["sensitive_exposures"] += 1
            if item.item_id in self.disliked[person.id]:
                c["disliked_reshown"] += 1
            if muted is not None and muted in tags:
                c["muted_exposures"] += 1
            if topic in hidden:
                hits += 1
            if known:
                c["explore_base"] += 1
                c["explore_slots"] += not (set(tags) & known) and item.item_id not in self._head
            for reason in item.reasons:
                if reason.code == "promoted":
                    self._placement(person, item.item_id, at)
                if reason.code == "matches_interest" and reason.tag:
                    self._interest_action(person, reason.tag, at)
        if not person.ignorer and hidden:
            c["hit_lists"] += 1
            c["hit_any"] += hits > 0
            c["hit_slots"] += hits
            c["hit_denominator"] += len(ids)
        if person.drift_day is not None and day >= person.drift_day and person.id not in self.adapted:
            new_topic = sum(1 for i in ids if self.world.item_topic.get(i) == person.drift_to)
            learned = any(
                r.code == "matches_interest" and r.tag == person.drift_to
                for i in recs.items
                for r in i.reasons
            )
            if new_topic >= DRIFT_SLOTS or learned:
                self.adapted[person.id] = day - person.drift_day

    def _known_interests(self, person: Persona) -> set[str]:
        """Topics the person has shown enough evidence of (or stated): 'inside their interests'.

        A slot explores when its item is outside these and outside the popularity head (the
        most-engaged tenth of the catalog): good but under-exposed, as P10 asks.
        """
        known = set(person.stated)
        for tag, sessions in self.sessions[person.id].items():
            if tag.startswith("topic:") and len(sessions) >= self.evidence_threshold:
                known.add(tag)
        return known

    def _placement(self, person: Persona, item_id: str, at: float) -> None:
        for promo in self.world.promotions:
            topic = self.world.item_topic.get(item_id)
            if item_id in promo.items or topic in promo.tags:
                times = self.placements[(person.id, promo.id)]
                times.append(at)
                recent = [t for t in times if t > at - promo.window_days * DAY]
                if len(recent) > promo.cap:
                    self.counts["cap_violations"] += 1
                return

    def _interest_action(self, person: Persona, tag: str, at: float) -> None:
        sessions = self.sessions[person.id].get(tag, set())
        if len(sessions) < self.evidence_threshold and tag not in person.stated:
            self.counts["premature_interest_actions"] += 1
        last = self.last_positive.get((person.id, tag))
        if tag not in person.stated and (last is None or at - last > self.retarget_window_days * DAY):
            self.counts["retarget_after_window"] += 1

    # -- phases and hints (P7, P9) ----------------------------------------------------------
    def stated(self, person: Persona) -> None:
        """A statement is a positive signal: the person shows an interest."""
        self.ignored_seen[person.id] = 0

    def reloaded(self, person: Persona, recs: Recommendations, at: float) -> None:
        """The same visit's list served again (a page reload): nothing new was shown."""
        self.counts["reloads"] += 1
        self._phase_list(person, recs, at, first=False)

    def _phase_positive(self, person: Persona, item_id: str, at: float) -> None:
        self.item_positive[(person.id, item_id)] = at
        self.ignored_seen[person.id] = 0

    def _phase_list(self, person: Persona, recs: Recommendations, at: float, first: bool) -> None:
        c = self.counts
        window = self.retarget_window_days * DAY
        for item in recs.items:
            liked_tags = {r.tag for r in item.reasons if r.code in INTEREST_CODES and r.tag}
            if any(r.code == "similar_to_disliked" and r.tag in liked_tags for r in item.reasons):
                c["contradictory_reasons"] += 1
            for reason in item.reasons:
                if reason.code != "because_you_liked" or reason.item_id is None:
                    continue
                if reason.item_id == item.item_id:
                    c["self_reasons"] += 1
                liked = self.item_positive.get((person.id, reason.item_id))
                if liked is None or at - liked > window:
                    c["stale_item_reasons"] += 1
        backing_off = any(n.code == "backing_off" for n in recs.notes or [])
        if backing_off and self.ignored_seen[person.id] < self.backoff_after_ignored:
            c["reload_backoff"] += 1
        # what the person was shown: each personalized item once per visit, however often reloaded
        personal = {i.item_id for i in recs.items if any(r.code in PERSONAL_CODES for r in i.reasons)}
        if first:
            self.visit_personal[person.id] = set()
        fresh = personal - self.visit_personal[person.id]
        self.visit_personal[person.id] |= fresh
        self.ignored_seen[person.id] += len(fresh)

    def _phase_figures(self) -> dict[str, float]:
        return {key: int(self.counts[key]) for key in PHASE_KEYS}

    # -- the figures -------------------------------------------------------------------------
    def result(self) -> dict[str, float]:
        c = self.counts
        drifters = [p for p in self.world.people if p.drift_day is not None and not p.ignorer]
        waits = [
            self.adapted.get(p.id, self.world.days - (p.drift_day or 0)) for p in drifters if p.drift_day
        ]
        catalog = len(self.world.items)
        return {
            "sensitive_exposures": int(c["sensitive_exposures"]),
            "disliked_reshown": int(c["disliked_reshown"]),
            "muted_exposures": int(c["muted_exposures"]),
            "cap_violations": int(c["cap_violations"]),
            "retarget_after_window": int(c["retarget_after_window"]),
            "premature_interest_actions": int(c["premature_interest_actions"]),
            **self._phase_figures(),
            "drift_adapt_days": round(sum(waits) / len(waits), 2) if waits else 0.0,
            "exploration_share": round(c["explore_slots"] / c["explore_base"], 4)
            if c["explore_base"]
            else 0.0,
            "coverage": round(len(self.served_items) / catalog, 4) if catalog else 0.0,
            "hidden_hit_rate": round(c["hit_any"] / c["hit_lists"], 4) if c["hit_lists"] else 0.0,
        }
