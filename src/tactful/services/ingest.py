"""Event ingest: validate a batch, then fold it into profiles and counters in one transaction (P1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from tactful.clock import Clock, to_epoch
from tactful.config.settings import Settings
from tactful.domain.event import Event, IngestResult, Provenance
from tactful.domain.person import Person
from tactful.errors import BatchTooLarge, UnknownItem, ValidationError
from tactful.signals.profile import Profile, ProfileRules, apply_signal, decay
from tactful.signals.rules import SignalRules
from tactful.storage.protocol import ItemStat, Store

FUTURE_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class IngestOutcome:
    result: IngestResult
    stats: list[ItemStat]
    profiles: dict[str, Profile] = field(default_factory=dict)
    persons: dict[str, Person] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    touched: dict[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)
    """Per person, the items and tags this batch changed (so cached layouts update in place)."""


class Ingestor:
    """Turns events into signals and applies them synchronously."""

    def __init__(self, store: Store, settings: Settings, rules: SignalRules, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.rules = rules
        self.clock = clock
        self.unlearnable: Callable[[Person, str | None, list[str]], frozenset[str]] = _muted_tags
        self.profile_rules = ProfileRules(
            half_lives=dict(settings.signals.half_life_days),
            evidence_threshold=settings.profile.evidence_threshold,
            max_evidence_keys=settings.profile.max_evidence_keys,
        )

    def validate(self, events: Sequence[Event]) -> list[Event]:
        """Check every event against the rules and the catalog; raise on the first bad one.

        Returns resolved copies (timestamp and provenance filled in). Nothing is written.
        """
        if len(events) > self.settings.max_batch_events:
            raise BatchTooLarge(
                f"a batch holds at most {self.settings.max_batch_events} events, got {len(events)}",
                field="events",
            )
        now = self.clock.now()
        resolved: list[Event] = []
        for n, event in enumerate(events):
            where = f"events[{n}]" if len(events) > 1 else "event"
            try:
                rule = self.rules.rule(event.type)
            except ValidationError as exc:
                exc.field = f"{where}.type"
                raise
            if rule.needs_item and event.item_id is None:
                raise ValidationError(f"event type {event.type!r} needs an item_id", field=f"{where}.item_id")
            if event.timestamp is not None and event.timestamp > now + FUTURE_SLACK:
                raise ValidationError("timestamp is in the future", field=f"{where}.timestamp")
            resolved.append(
                event.model_copy(
                    update={
                        "timestamp": event.timestamp or now,
                        "provenance": event.provenance or rule.provenance,
                    }
                )
            )
        return resolved

    def _check_items(self, events: Sequence[Event], total: int) -> dict[str, list[str]]:
        tags = self.store.item_tags([e.item_id for e in events if e.item_id is not None])
        for n, event in enumerate(events):
            if event.item_id is not None and event.item_id not in tags:
                where = f"events[{n}]" if total > 1 else "event"
                raise UnknownItem(f"unknown item {event.item_id!r}", field=f"{where}.item_id")
        return tags

    def ingest(self, events: Sequence[Event]) -> IngestOutcome:
        resolved = self.validate(events)
        tags = self._check_items(resolved, len(events))
        seen: set[str] = set()
        unique: list[Event] = []
        for event in resolved:
            if event.id is not None:
                if event.id in seen:
                    continue
                seen.add(event.id)
            unique.append(event)
        now = to_epoch(self.clock.now())
        with self.store.unit_of_work() as uow:
            known = uow.known_event_ids([e.id for e in unique if e.id is not None])
            fresh = [e for e in unique if e.id is None or e.id not in known]
            if not fresh:
                return IngestOutcome(IngestResult(accepted=0, duplicates=len(resolved)), [])
            users = sorted({e.user_id for e in fresh})
            uow.create_persons([Person.model_construct(id=u) for u in users], now)
            persons = uow.load_persons(users)
            profiles = uow.load_profiles(users)
            item_ids = sorted({e.item_id for e in fresh if e.item_id is not None})
            stats = uow.load_item_stats(item_ids)
            half_life = self.settings.scoring.trending_half_life_days
            for event in fresh:
                signal = self.rules.interpret(event)
                at = to_epoch(event.timestamp) if event.timestamp else now
                person = persons[event.user_id]
                apply_signal(
                    profiles[event.user_id],
                    signal,
                    event.item_id,
                    tags.get(event.item_id, ()) if event.item_id else (),
                    at,
                    self.profile_rules,
                    session=event.context.session if event.context else None,
                    muted=self.unlearnable(person, event.item_id, tags.get(event.item_id or "", [])),
                )
                if event.item_id is not None and signal.positive and signal.provenance != Provenance.inferred:
                    stat = stats.setdefault(event.item_id, ItemStat(event.item_id, 0.0, 0.0, at))
                    stat.interactions += 1.0
                    if at >= stat.trend_ts:
                        stat.trend = decay(stat.trend, stat.trend_ts, at, half_life) + 1.0
                        stat.trend_ts = at
                    else:
                        stat.trend += decay(1.0, at, stat.trend_ts, half_life)
            uow.write_events(fresh)
            touched = {u: (frozenset(p.dirty_items), frozenset(p.dirty_tags)) for u, p in profiles.items()}
            uow.save_profiles(list(profiles.values()))
            changed = list(stats.values())
            uow.save_item_stats(changed)
            versions = uow.versions(users)
        return IngestOutcome(
            IngestResult(accepted=len(fresh), duplicates=len(resolved) - len(fresh)),
            changed,
            profiles,
            persons,
            versions,
            touched,
        )


def _muted_tags(person: Person, item_id: str | None, item_tags: list[str]) -> frozenset[str]:
    """Tags never learned for this person: muted topics (the engine adds policy-specific ones)."""
    return frozenset(person.muted_topics)
