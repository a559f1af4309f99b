"""Event ingest: validate a batch, then fold it into profiles and counters in one transaction (P1)."""

from __future__ import annotations

from collections import Counter as CountBy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from tactful.clock import Clock, from_epoch, to_epoch
from tactful.config.settings import Settings
from tactful.domain.event import Event, EventContext, IngestResult, Provenance
from tactful.domain.person import Person
from tactful.errors import BatchTooLarge, Conflict, StorageError, UnknownItem, ValidationError
from tactful.gcpause import paused_gc
from tactful.index.catalog import CatalogIndex
from tactful.metrics import metrics
from tactful.policy.interests import hidden_tags, item_learnable, signal_gate, unlearnable_tags
from tactful.services.state import PersonStates
from tactful.signals.profile import Profile, ProfileDelta, ProfileRules, apply_signal, decay, forget_items
from tactful.signals.rules import Signal, SignalRules
from tactful.storage.protocol import ItemStat, Store, StoredEvent

FUTURE_SLACK = timedelta(days=1)


def _replayed(stored: StoredEvent) -> Event:
    """A stored event as ingest first saw it (resolved time and provenance, its context)."""
    context = EventContext.model_validate_json(stored.context) if stored.context else None
    return Event(
        id=stored.event_id,
        user_id=stored.user_id,
        item_id=stored.item_id,
        type=stored.type,
        value=stored.value,
        timestamp=from_epoch(stored.ts),
        provenance=Provenance(stored.provenance),
        context=context,
    )


def _content(event: Event) -> tuple[str | None, str, float | None]:
    """What a retry of an event must repeat: the item, the type and the value.

    The timestamp is not compared (a retry without one is stamped anew by the server), nor
    the context, surface or attribution.
    """
    return (event.item_id, event.type, event.value)


@dataclass(frozen=True)
class PersonChange:
    """What one batch did to one person: versions before and after, and the rows it wrote.

    ``rows`` holds only the touched rows (whole, as stored after the batch) and the
    counters, so a worker whose cache is at ``before`` moves to ``after`` by replacing them.
    """

    user_id: str
    before: int
    after: int
    person: Person
    rows: Profile
    items: frozenset[str]
    tags: frozenset[str]

    def delta(self) -> ProfileDelta:
        return ProfileDelta(
            self.after,
            self.rows.positive_signals,
            self.rows.active_days,
            {t: self.rows.interests[t] for t in self.tags if t in self.rows.interests},
            {i: self.rows.items[i] for i in self.items if i in self.rows.items},
            self.rows.direct,
        )


@dataclass(frozen=True)
class Retraction:
    """What taking back a person's thumbs-down on an item did."""

    user_id: str
    item_id: str
    removed: int
    """Events taken back (0: there was nothing to undo, and nothing changed)."""
    replayed: int
    """The person's other events on the item, folded in again."""
    types: tuple[str, ...]


@dataclass(frozen=True)
class IngestOutcome:
    result: IngestResult
    stats: list[ItemStat]
    people: list[PersonChange] = field(default_factory=list)


class IngestService:
    """Turns events into signals and applies them synchronously (P1).

    An event reads and writes only the rows it touches (its item's row, its tags' rows,
    the person's counters and the item's aggregates), so its cost does not grow with the
    person's history; this worker's cached state then moves forward by those rows.
    """

    def __init__(
        self,
        store: Store,
        states: PersonStates,
        settings: Settings,
        rules: SignalRules,
        clock: Clock,
    ) -> None:
        self.store = store
        self.states = states
        self.rules = rules
        self.clock = clock
        self.max_batch_events = settings.max_batch_events
        self.trend_half_life = settings.scoring.trending_half_life_days
        self.respect = settings.policy.enabled
        self.profile_rules = ProfileRules(
            half_lives=dict(settings.signals.half_life_days),
            evidence_threshold=settings.profile.evidence_threshold,
            max_evidence_keys=settings.profile.max_evidence_keys,
        )

    def ingest(self, events: Sequence[Event]) -> IngestResult:
        """Validate and apply a batch atomically; the next recommendation reflects it (P1)."""
        with paused_gc():
            outcome = self.apply(events)
            self.states.apply_stats(outcome.stats)
            for change in outcome.people:
                self.states.after_write(change.user_id, change.before, change.person, change.delta)
            result, versions = outcome.result, {c.user_id: c.after for c in outcome.people}
            # The batch's rows are freed by reference counting here, before cycle collection
            # resumes: else its first young collection walks every one of them (about 200k
            # objects per 10k events) only to find them all alive.
            del outcome
        if versions:
            self.states.announce(versions)
        return result

    def retract(self, user_id: str, item_id: str, types: Sequence[str] | None = None) -> Retraction:
        """Take back a person's thumbs-down on an item (an undo): as if it had never come.

        ``types`` are the hard-negative event types to take back (default: every type whose
        rule is a hard negative, e.g. ``dislike``, ``dismiss``). Their events leave the log;
        what the item taught (its share of every tag, evidence, recency, counters, the
        dislike mark) is forgotten through its trace, then the person's remaining events
        on the item are folded in again in time order, under today's consent and mutes. So
        the person's state equals that of someone who never sent those events. One
        transaction; a person with nothing to undo is left untouched.
        """
        hard = sorted(name for name, rule in self.rules.rules.items() if rule.hard_negative)
        wanted = tuple(hard if types is None else dict.fromkeys(types))
        for name in wanted:
            if name not in hard:
                raise ValidationError(f"only a thumbs-down can be undone; {name!r} is not one", field="types")
        catalog = self.states.catalog()
        pos = catalog.index.get(item_id)
        if pos is None:
            raise UnknownItem(f"unknown item {item_id!r}", field="item_id")
        item_tags = list(catalog.items[pos].tags)
        unlearnable = self.unlearnable(catalog)
        learnable = self.learnable(catalog)
        now = to_epoch(self.clock.now())
        with self.store.unit_of_work() as uow:
            uow.create_persons([Person(id=user_id)], now)
            person = uow.load_persons([user_id])[user_id]
            events = uow.item_events(user_id, item_id)
            taken = [e for e in events if e.type in wanted]
            if not taken:
                return Retraction(user_id, item_id, 0, 0, wanted)
            kept = [e for e in events if e.type not in wanted]
            profile = uow.load_profiles([user_id])[user_id]
            forget_items(profile, [item_id], self.profile_rules)
            if profile.items.pop(item_id, None) is not None:
                profile.dirty_items.add(item_id)
            muted = unlearnable(person, item_id, item_tags)
            learn = learnable(person, item_id, item_tags)
            for stored in kept:
                event = _replayed(stored)
                apply_signal(
                    profile,
                    self.rules.interpret(event),
                    item_id,
                    item_tags,
                    stored.ts,
                    self.profile_rules,
                    session=event.context.session if event.context else None,
                    muted=muted,
                    learn=learn,
                )
            uow.delete_events(user_id, [e.seq for e in taken])
            uow.save_profiles([profile])
        self.states.drop(user_id)
        return Retraction(user_id, item_id, len(taken), len(kept), wanted)

    def unlearnable(self, catalog: CatalogIndex) -> Callable[[Person, str | None, list[str]], frozenset[str]]:
        """What a signal must not teach: muted, removed and non-opted-in sensitive tags (P8, P11)."""
        if not self.respect:
            return lambda person, item_id, tags: frozenset()
        hidden: dict[str, frozenset[str]] = {}  # per person: the part that does not depend on the item

        def unlearnable(person: Person, item_id: str | None, tags: list[str]) -> frozenset[str]:
            if person.id not in hidden:
                hidden[person.id] = hidden_tags(person, catalog)
            return unlearnable_tags(person, catalog, item_id, tags, hidden[person.id])

        return unlearnable

    def learnable(self, catalog: CatalogIndex) -> Callable[[Person, str | None, list[str]], bool]:
        """Whether a signal on an item may teach anything at all (P8, see :func:`item_learnable`)."""
        if not self.respect:
            return lambda person, item_id, tags: True
        return lambda person, item_id, tags: item_learnable(person, catalog, item_id, tags)

    def validate(self, events: Sequence[Event]) -> tuple[list[float], list[str]]:
        """Check every event against the rules; raise on the first bad one. Nothing is written.

        Returns each event's resolved time (epoch seconds; now when it has none) and
        provenance (the rule's when it says none), in batch order: the events themselves
        are not copied.
        """
        total = len(events)
        if total > self.max_batch_events:
            raise BatchTooLarge(
                f"a batch holds at most {self.max_batch_events} events, got {total}",
                field="events",
            )
        now = self.clock.now()
        now_epoch, latest = to_epoch(now), now + FUTURE_SLACK
        times: list[float] = []
        provenances: list[str] = []
        rule_of = self.rules.rule
        for n, event in enumerate(events):
            try:
                rule = rule_of(event.type)
            except ValidationError as exc:
                exc.field = f"{self._where(n, total)}.type"
                raise
            if rule.needs_item and event.item_id is None:
                raise ValidationError(
                    f"event type {event.type!r} needs an item_id", field=f"{self._where(n, total)}.item_id"
                )
            at = event.timestamp
            if at is None:
                times.append(now_epoch)
            elif at > latest:
                where = self._where(n, total)
                raise ValidationError("timestamp is in the future", field=f"{where}.timestamp")
            else:
                times.append(to_epoch(at))
            provenances.append((event.provenance or rule.provenance).value)
        return times, provenances

    @staticmethod
    def _where(n: int, total: int) -> str:
        return f"events[{n}]" if total > 1 else "event"

    @classmethod
    def _dedupe(cls, events: Sequence[Event]) -> tuple[list[int], dict[tuple[str, str], int]]:
        """The positions of the batch without repeats of one ``(user_id, id)``, and those keys
        with the position of their first event.

        An id names one event of one person; a repeat is a retry and must say the same
        thing (item, type, value), else the batch is a :class:`Conflict`.
        """
        unique: list[int] = []
        keyed: dict[tuple[str, str], int] = {}
        for n, event in enumerate(events):
            if event.id is not None:
                key = (event.user_id, event.id)
                first = keyed.get(key)
                if first is not None:
                    if _content(events[first]) != _content(event):
                        raise Conflict(
                            f"event id {event.id!r} is used twice in this batch for different events",
                            field=cls._where(n, len(events)) + ".id",
                        )
                    continue
                keyed[key] = n
            unique.append(n)
        return unique, keyed

    @staticmethod
    def _check_items(catalog: CatalogIndex, events: Sequence[Event], total: int) -> dict[str, list[str]]:
        """The tags of the events' items, from the current catalog index (no query)."""
        tags: dict[str, list[str]] = {}
        for n, event in enumerate(events):
            if event.item_id is None or event.item_id in tags:
                continue
            pos = catalog.index.get(event.item_id)
            if pos is None:
                where = f"events[{n}]" if total > 1 else "event"
                raise UnknownItem(f"unknown item {event.item_id!r}", field=f"{where}.item_id")
            tags[event.item_id] = catalog.items[pos].tags  # read only
        return tags

    def _fold(
        self,
        fresh: Sequence[Event],
        signals: Sequence[Signal],
        times: Sequence[float],
        tags: Mapping[str, list[str]],
        persons: Mapping[str, Person],
        profiles: Mapping[str, Profile],
        catalog: CatalogIndex,
    ) -> None:
        """Fold the batch into the loaded rows, one person at a time (P1, P3, P8).

        Each person's events go in batch order through :func:`apply_signal`, the very fold
        a single event gets, so a batch leaves exactly the state its events sent one by one
        would; what depends only on the person (hidden tags, opt-ins, mutes) is worked out
        once per person, not per event. People are independent, so their order is free.
        """
        by_person: dict[str, list[int]] = {}
        for n, event in enumerate(fresh):
            by_person.setdefault(event.user_id, []).append(n)
        rules = self.profile_rules
        no_tags: list[str] = []
        for user_id, positions in by_person.items():
            profile = profiles[user_id]
            gate = signal_gate(persons[user_id], catalog) if self.respect else None
            for n in positions:
                event = fresh[n]
                item_id = event.item_id
                item_tags = tags.get(item_id, no_tags) if item_id else no_tags
                muted, learn = gate(item_id, item_tags) if gate is not None else (frozenset(), True)
                context = event.context
                apply_signal(
                    profile,
                    signals[n],
                    item_id,
                    item_tags,
                    times[n],
                    rules,
                    session=context.session if context else None,
                    muted=muted,
                    learn=learn,
                )

    def _count(
        self,
        fresh: Sequence[Event],
        signals: Sequence[Signal],
        times: Sequence[float],
        stats: dict[str, ItemStat],
    ) -> None:
        """Item aggregates (interactions, trend) from the batch's positive, non-inferred signals,
        in batch order."""
        half_life = self.trend_half_life
        inferred = Provenance.inferred
        for event, signal, at in zip(fresh, signals, times, strict=True):
            item_id = event.item_id
            if item_id is None or signal.weight <= 0 or signal.provenance == inferred:
                continue
            stat = stats.get(item_id)
            if stat is None:
                stat = stats[item_id] = ItemStat(item_id, 0.0, 0.0, at)
            stat.interactions += 1.0
            if at >= stat.trend_ts:
                stat.trend = decay(stat.trend, stat.trend_ts, at, half_life) + 1.0
                stat.trend_ts = at
            else:
                stat.trend += decay(1.0, at, stat.trend_ts, half_life)

    def apply(self, events: Sequence[Event]) -> IngestOutcome:
        """Apply a batch atomically, reading and writing only the rows it touches."""
        at, provenances = self.validate(events)
        catalog = self.states.catalog()  # checked against the stored catalog version
        tags = self._check_items(catalog, events, len(events))
        unique, keyed = self._dedupe(events)
        now = to_epoch(self.clock.now())
        with self.store.unit_of_work() as uow:
            users = sorted({events[n].user_id for n in unique})
            # locked (PostgreSQL) before looking for duplicates: a concurrent retry of this
            # batch waits here, then finds what the first one stored
            uow.create_persons([Person(id=u) for u in users], now)
            persons = uow.load_persons(users)
            known = uow.known_events(sorted(keyed))
            for key, stored in known.items():
                n = keyed[key]
                if (stored.item_id, stored.type, stored.value) != _content(events[n]):
                    raise Conflict(
                        f"event id {events[n].id!r} of this person was already used for another event",
                        field=self._where(n, len(events)) + ".id",
                    )
            if known:
                unique = [n for n in unique if (events[n].user_id, events[n].id) not in known]
            if not unique:
                return IngestOutcome(IngestResult(accepted=0, duplicates=len(events)), [])
            fresh = [events[n] for n in unique]
            times = [at[n] for n in unique]
            signals = [self.rules.interpret(e) for e in fresh]
            wanted: dict[str, tuple[set[str], set[str]]] = {}
            for event, signal in zip(fresh, signals, strict=True):
                want_tags, want_items = wanted.setdefault(event.user_id, (set(), set()))
                if event.item_id is not None:
                    want_items.add(event.item_id)
                    want_tags.update(tags.get(event.item_id, ()))
                want_tags.update(signal.context_tags)
            profiles = uow.load_profile_rows(wanted)
            before = {u: p.version for u, p in profiles.items()}
            item_ids = sorted({e.item_id for e in fresh if e.item_id is not None})
            stats = uow.load_item_stats(item_ids)
            self._fold(fresh, signals, times, tags, persons, profiles, catalog)
            self._count(fresh, signals, times, stats)
            written = uow.write_events(fresh, times, [provenances[n] for n in unique])
            if written != len(fresh):  # cannot happen while persons are locked
                raise StorageError("a concurrent write stored some of these events first; retry the batch")
            touched = {u: (frozenset(p.dirty_items), frozenset(p.dirty_tags)) for u, p in profiles.items()}
            uow.save_profiles(list(profiles.values()))
            changed = list(stats.values())
            uow.save_item_stats(changed)
        counted = metrics().events_ingested  # committed: count what was stored, by type
        for kind, number in CountBy(e.type for e in fresh).items():
            counted.labels(kind).inc(number)
        return IngestOutcome(
            IngestResult(accepted=len(fresh), duplicates=len(events) - len(fresh)),
            changed,
            [PersonChange(u, before[u], p.version, persons[u], p, *touched[u]) for u, p in profiles.items()],
        )
