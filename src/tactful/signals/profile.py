"""A person's learned state, and the pure function that folds a signal into it (P1, P3, P6, P9)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache

from tactful.signals.rules import Signal

DAY = 86_400.0
RESIDUE = 1e-12


class Engagement(StrEnum):
    new = "new"
    warming = "warming"
    engaged = "engaged"


def decay(score: float, since: float, now: float, half_life_days: float) -> float:
    """``score`` recorded at ``since`` seen from ``now``, halving every ``half_life_days``."""
    if now <= since:
        return score
    return score * math.pow(0.5, (now - since) / (half_life_days * DAY))


@dataclass(slots=True)
class DecayedScores:
    """One decayed score per provenance, each with the epoch time it was last brought to."""

    parts: dict[str, list[float]] = field(default_factory=dict)

    def add(self, provenance: str, weight: float, at: float, half_life_days: float) -> None:
        current = self.parts.get(provenance)
        if current is None:
            self.parts[provenance] = [weight, at]
            return
        score, since = current
        if at >= since:
            self.parts[provenance] = [decay(score, since, at, half_life_days) + weight, at]
        else:
            self.parts[provenance] = [score + decay(weight, at, since, half_life_days), since]

    def value(self, now: float, half_lives: dict[str, float], allowed: Iterable[str] | None = None) -> float:
        keep = None if allowed is None else set(allowed)
        return sum(
            decay(score, since, now, half_lives.get(prov, 30.0))
            for prov, (score, since) in self.parts.items()
            if keep is None or prov in keep
        )

    def subtract(self, other: DecayedScores, half_lives: dict[str, float]) -> None:
        """Take ``other`` (a part of these scores) back out; exact, since decay is linear."""
        for prov, (score, since) in other.parts.items():
            current = self.parts.get(prov)
            if current is None:
                continue
            mine, at = current
            half_life = half_lives.get(prov, 30.0)
            if at >= since:
                left, when = mine - decay(score, since, at, half_life), at
            else:
                left, when = decay(mine, at, since, half_life) - score, since
            if abs(left) <= RESIDUE * max(abs(mine), abs(score)):
                del self.parts[prov]  # all of it taken back: rounding leaves no phantom score
            else:
                self.parts[prov] = [left, when]

    def by_provenance(self, now: float, half_lives: dict[str, float]) -> dict[str, float]:
        return {
            prov: decay(score, since, now, half_lives.get(prov, 30.0))
            for prov, (score, since) in self.parts.items()
        }


@dataclass(slots=True)
class TagInterest:
    """Interest in one tag: decayed scores, distinct evidence keys, last positive time."""

    scores: DecayedScores = field(default_factory=DecayedScores)
    evidence: list[str] = field(default_factory=list)
    last_positive: float | None = None
    established: bool = False


@dataclass(slots=True)
class Held:
    """The statement an item state holds (P3: a like is a state, not a counter).

    Enough to take the statement back exactly: what was said, its weight, provenance and
    time, and the share it gave each of the tags it was learned on.
    """

    statement: str
    weight: float
    provenance: str
    at: float
    share: float = 0.0
    tags: list[str] = field(default_factory=list)
    hard_negative: bool = False

    @property
    def positive(self) -> bool:
        return self.weight > 0


@dataclass(slots=True)
class Trace:
    """What the signals through one source (an item, or no item) taught, kept so it can be taken back.

    Per tag: the decayed score share, the evidence keys and the last positive time those
    signals gave it; and the person counters they moved (positive signals, active days).
    Opting out of a category or muting a topic subtracts the traces of the items it covers
    (P8), so no tag keeps weight, evidence or recency that came through them.
    """

    tags: dict[str, TagInterest] = field(default_factory=dict)
    positives: int = 0
    days: list[int] = field(default_factory=list)
    held: dict[str, Held] = field(default_factory=dict)
    """Per item state (``EventRule.state``), the statement that holds it."""

    def teach(
        self,
        tags: list[str],
        share: float,
        prov: str,
        at: float,
        half_life: float,
        positive: bool,
        key: str | None,
        cap: int,
    ) -> None:
        """Record that one signal gave each of ``tags`` ``share`` (and ``key``, recency).

        Tags taught by the same signals share one part object (an item's tags usually are),
        so a signal updates each distinct part once; a part shared with tags this signal did
        not teach is split off first (copy on write).
        """
        for part in self._parts_for(tags):
            part.scores.add(prov, share, at, half_life)
            if positive:
                part.last_positive = max(part.last_positive or at, at)
            if key is not None and key not in part.evidence:
                part.evidence.append(key)
                del part.evidence[:-cap]

    def untaught(self, tags: list[str], taken: DecayedScores, half_lives: dict[str, float]) -> None:
        """Subtract ``taken`` from what each of ``tags`` was taught (each part once)."""
        for part in self._parts_for([t for t in tags if t in self.tags]):
            part.scores.subtract(taken, half_lives)

    def _parts_for(self, tags: list[str]) -> list[TagInterest]:
        mine = self.tags
        fresh = [t for t in tags if t not in mine]
        if len(fresh) == len(tags):
            if not tags:
                return []
            new = TagInterest()
            for tag in tags:
                mine[tag] = new
            return [new]
        wanted = set(tags)
        found: dict[int, TagInterest] = {}
        for tag in tags:
            have = mine.get(tag)
            if have is not None:
                found.setdefault(id(have), have)
        members: dict[int, list[str]] = {}
        for tag, part in mine.items():
            if id(part) in found:
                members.setdefault(id(part), []).append(tag)
        out: list[TagInterest] = []
        for pid, part in found.items():
            if all(m in wanted for m in members[pid]):
                out.append(part)
                continue
            clone = TagInterest(
                DecayedScores({k: list(v) for k, v in part.scores.parts.items()}),
                list(part.evidence),
                part.last_positive,
            )
            for tag in members[pid]:
                if tag in wanted:
                    mine[tag] = clone
            out.append(clone)
        if fresh:
            part = TagInterest()
            for tag in fresh:
                mine[tag] = part
            out.append(part)
        return out

    def count_positive(self, day: int, max_days: int) -> None:
        self.positives += 1
        if day not in self.days:
            self.days.append(day)
            self.days.sort()
            del self.days[:-max_days]


@dataclass(slots=True)
class ItemState:
    """What one person did with one item, and what it taught (its :class:`Trace`)."""

    scores: DecayedScores = field(default_factory=DecayedScores)
    disliked: bool = False
    consumed: bool = False
    impressions: int = 0
    last_impression: float | None = None
    last_engaged: float | None = None
    unengaged: int = 0  # impressions since the last positive signal on this item (P7)
    trace: Trace = field(default_factory=Trace)


@dataclass(slots=True)
class Profile:
    """Everything learned about a person; mutated only by :func:`apply_signal`."""

    user_id: str
    interests: dict[str, TagInterest] = field(default_factory=dict)
    items: dict[str, ItemState] = field(default_factory=dict)
    positive_signals: int = 0
    active_days: list[int] = field(default_factory=list)
    dirty_tags: set[str] = field(default_factory=set)
    dirty_items: set[str] = field(default_factory=set)
    direct: Trace = field(default_factory=Trace)
    """What signals without an item (searches, complaints) taught: the rest is in item traces."""
    version: int = 0
    """The person version this state was read at (the store bumps it on every write)."""

    def engagement(self, warming_after: int, engaged_after: int, engaged_min_days: int) -> Engagement:
        if self.positive_signals < warming_after:
            return Engagement.new
        if self.positive_signals >= engaged_after and len(self.active_days) >= engaged_min_days:
            return Engagement.engaged
        return Engagement.warming

    def hard_negatives(self) -> set[str]:
        return {item for item, state in self.items.items() if state.disliked}

    def consumed(self) -> set[str]:
        return {item for item, state in self.items.items() if state.consumed}


@dataclass(frozen=True, slots=True)
class ProfileRules:
    """The thresholds :func:`apply_signal` needs, copied from settings."""

    half_lives: dict[str, float]
    evidence_threshold: int = 3
    max_evidence_keys: int = 32
    max_active_days: int = 366


def evidence_key(at: float, session: str | None) -> str:
    """Distinct evidence is counted per session when known, else per UTC day."""
    if session:
        return f"s:{session}"
    return _day_key(int(at // DAY))


@lru_cache(maxsize=4096)
def _day_key(day: int) -> str:
    return "d:" + datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%d")


def apply_signal(
    profile: Profile,
    signal: Signal,
    item_id: str | None,
    item_tags: Iterable[str],
    at: float,
    rules: ProfileRules,
    session: str | None = None,
    muted: frozenset[str] = frozenset(),
    learn: bool = True,
) -> None:
    """Fold one signal into the profile. Muted tags are never learned (P8).

    With ``learn`` false (the item carries a muted topic, or is in a sensitive category the
    person has not opted in to) the signal teaches nothing: no tag, no item history, no
    counter. Only a dislike is kept, so a thumbs-down stays final (P2), and an undo of one.
    Everything a signal teaches is also recorded in the trace of its source (its item, or
    :attr:`Profile.direct`), so it can be taken back whole by :func:`forget_items`.

    A signal that sets an item state (a like, a save, a rating, a dislike) is a state, not a
    counter (P3): the latest statement in a state holds, whatever order the statements
    arrive in. Saying the same again moves only its time (no new evidence, no new count);
    saying something else takes the earlier statement back first; a retraction takes it back
    and, for a dislike, lets the item return.
    """
    slot = signal.state or signal.retracts
    if item_id is not None and slot is not None:
        state = profile.items.get(item_id)
        held = state.trace.held.get(slot) if state is not None else None
        if held is not None and at < held.at:
            return  # a later statement in this state already holds
        if signal.retracts is not None:  # kept even with nothing to take back: an older statement
            _retract(profile, _item(profile, item_id), item_id, slot, at, rules)  # arriving later stays out
            return
        if not learn:
            if signal.hard_negative:
                state = _item(profile, item_id)
                if held is not None:
                    _take_back(profile, state, held, rules)
                state.trace.held[slot] = Held(
                    signal.statement, 0.0, signal.provenance.value, at, hard_negative=True
                )
                state.disliked = True
                profile.dirty_items.add(item_id)
            return
        if held is not None:
            if state is not None:
                _take_back(profile, state, held, rules)
                state.disliked = any(h.hard_negative for s, h in state.trace.held.items() if s != slot)
            _learn(profile, signal, item_id, item_tags, at, rules, session, muted, repeat=held.positive)
            return
    if not learn:
        if item_id is not None and signal.hard_negative:
            state = _item(profile, item_id)
            if not state.disliked:
                state.disliked = True
                profile.dirty_items.add(item_id)
        return
    _learn(profile, signal, item_id, item_tags, at, rules, session, muted, repeat=False)


def _item(profile: Profile, item_id: str) -> ItemState:
    state = profile.items.get(item_id)
    if state is None:
        state = profile.items[item_id] = ItemState()
    return state


def _learn(
    profile: Profile,
    signal: Signal,
    item_id: str | None,
    item_tags: Iterable[str],
    at: float,
    rules: ProfileRules,
    session: str | None,
    muted: frozenset[str],
    repeat: bool,
) -> None:
    """What :func:`apply_signal` teaches. ``repeat``: a positive statement held this item
    state before (it was just taken back): the new one counts no new evidence or signal.

    This is the hot loop of ingest (every event, every tag of its item): the score update of
    :meth:`DecayedScores.add` is written out inline here, with the same arithmetic in the
    same order, so the result is bit for bit what calling it would give.
    """
    prov = signal.provenance.value
    half_life = rules.half_lives.get(prov, 30.0)
    weight = signal.weight
    positive = weight > 0
    trace = profile.direct
    state: ItemState | None = None
    if item_id is not None:
        state = profile.items.get(item_id)
        if state is None:
            state = profile.items[item_id] = ItemState()
        trace = state.trace
        if signal.impression:
            state.impressions += 1
            state.last_impression = max(state.last_impression or at, at)
            state.unengaged += 1
        if weight != 0.0:
            state.scores.add(prov, weight, at, half_life)
        if positive:
            state.last_engaged = max(state.last_engaged or at, at)
            state.unengaged = 0
        state.disliked = state.disliked or signal.hard_negative
        state.consumed = state.consumed or signal.consumed
        profile.dirty_items.add(item_id)
    if weight:
        if muted:
            tags = [t for t in (*item_tags, *signal.context_tags) if t not in muted]
        else:
            tags = [*item_tags, *signal.context_tags]
    else:
        tags = []
    share = weight / math.sqrt(len(tags)) if tags else 0.0
    if state is not None and signal.state is not None:
        state.trace.held[signal.state] = Held(
            signal.statement, weight, prov, at, share, tags, signal.hard_negative
        )
    if weight == 0.0:
        return
    key = evidence_key(at, session) if positive and not repeat else None
    span = half_life * DAY
    interests = profile.interests
    cap = rules.max_evidence_keys
    threshold = rules.evidence_threshold
    for tag in tags:
        interest = interests.get(tag)
        if interest is None:
            interest = interests[tag] = TagInterest()
        parts = interest.scores.parts  # DecayedScores.add, inline
        current = parts.get(prov)
        if current is None:
            parts[prov] = [share, at]
        else:
            score, since = current
            if at >= since:
                if at > since:
                    score = score * math.pow(0.5, (at - since) / span)
                parts[prov] = [score + share, at]
            else:
                parts[prov] = [score + share * math.pow(0.5, (since - at) / span), since]
        if positive:
            interest.last_positive = max(interest.last_positive or at, at)
        if key is not None:
            evidence = interest.evidence
            if key not in evidence:
                evidence.append(key)
                if len(evidence) > cap:
                    evidence.pop(0)
                    interest.established = True
            if len(evidence) >= threshold:
                interest.established = True
    if tags:
        profile.dirty_tags.update(tags)
        trace.teach(tags, share, prov, at, half_life, positive, key, cap)
    if positive:
        profile.positive_signals += 1
        day = int(at // DAY)
        if day not in profile.active_days:
            profile.active_days.append(day)
            profile.active_days.sort()
            del profile.active_days[: -rules.max_active_days]
        trace.count_positive(day, rules.max_active_days)


def _take_back(profile: Profile, state: ItemState, held: Held, rules: ProfileRules) -> None:
    """Remove what the statement ``held`` added to the item's and its tags' scores and to
    the positive-signal count (exact, since decay is linear). Its evidence day stays: the
    person did engage that day."""
    if held.weight == 0.0:
        return
    state.scores.subtract(DecayedScores({held.provenance: [held.weight, held.at]}), rules.half_lives)
    if held.share:
        part = DecayedScores({held.provenance: [held.share, held.at]})
        for tag in held.tags:
            interest = profile.interests.get(tag)
            if interest is not None:
                interest.scores.subtract(part, rules.half_lives)
                profile.dirty_tags.add(tag)
        state.trace.untaught(held.tags, part, rules.half_lives)
    if held.positive:
        profile.positive_signals = max(0, profile.positive_signals - 1)
        state.trace.positives = max(0, state.trace.positives - 1)


def _retract(
    profile: Profile, state: ItemState, item_id: str, slot: str, at: float, rules: ProfileRules
) -> None:
    """Undo the statement in ``slot``; remember the retraction's time, so an older statement
    arriving later does not come back."""
    held = state.trace.held.get(slot)
    if held is not None:
        _take_back(profile, state, held, rules)
    state.trace.held[slot] = Held("retract", 0.0, held.provenance if held else "explicit", at)
    state.disliked = any(h.hard_negative for h in state.trace.held.values())
    profile.dirty_items.add(item_id)


def mark_stated(profile: Profile, tag: str, at: float) -> None:
    """A stated interest is a positive signal on its tag at ``at`` (it carries no score:
    the stated weight applies while the statement stands)."""
    interest = profile.interests.get(tag)
    if interest is None:
        interest = profile.interests[tag] = TagInterest()
    interest.last_positive = max(interest.last_positive or at, at)
    profile.dirty_tags.add(tag)


def forget_tag(profile: Profile, tag: str) -> None:
    """Delete an inferred interest (mute or removal, P8/P11), and its part in every trace."""
    if profile.interests.pop(tag, None) is not None:
        profile.dirty_tags.add(tag)
    for item_id, state in profile.items.items():
        if state.trace.tags.pop(tag, None) is not None:
            profile.dirty_items.add(item_id)
    profile.direct.tags.pop(tag, None)


def forget_items(profile: Profile, items: Iterable[str], rules: ProfileRules) -> set[str]:
    """Take back everything learned through ``items``, as if their signals never came (P8).

    Each tag loses the score share, evidence keys and recency that those items' traces gave
    it (a key or recency another source also gave stays); a tag nothing else taught is
    deleted. The person's positive-signal count and active days lose theirs too. The items'
    own rows go, except that a dislike is kept (P2: a thumbs-down is final). Returns the
    items forgotten.
    """
    gone = {i for i in items if i in profile.items}
    if not gone:
        return gone
    forgotten = [profile.items[i].trace for i in sorted(gone)]
    kept = [s.trace for i, s in profile.items.items() if i not in gone]
    kept.append(profile.direct)
    for tag in sorted({tag for trace in forgotten for tag in trace.tags}):
        interest = profile.interests.get(tag)
        if interest is None:
            continue
        profile.dirty_tags.add(tag)
        parts = [trace.tags[tag] for trace in forgotten if tag in trace.tags]
        others = [trace.tags[tag] for trace in kept if tag in trace.tags]
        if not others:
            del profile.interests[tag]
            continue
        interest.scores = _remaining(interest.scores, parts, others, rules.half_lives)
        removed = {k for part in parts for k in part.evidence}
        if removed:
            still = {k for part in others for k in part.evidence}
            evidence = [k for k in interest.evidence if k not in removed or k in still]
            if len(evidence) != len(interest.evidence):
                interest.evidence = evidence
                interest.established = len(evidence) >= rules.evidence_threshold
        lasts = [part.last_positive for part in parts if part.last_positive is not None]
        if lasts and interest.last_positive is not None and max(lasts) >= interest.last_positive:
            left = [part.last_positive for part in others if part.last_positive is not None]
            interest.last_positive = max(left) if left else None
    profile.positive_signals = max(0, profile.positive_signals - sum(t.positives for t in forgotten))
    days = {d for trace in forgotten for d in trace.days}
    if days:
        still_days = {d for trace in kept for d in trace.days}
        profile.active_days = [d for d in profile.active_days if d not in days or d in still_days]
    for item_id in gone:
        if profile.items[item_id].disliked:
            profile.items[item_id] = ItemState(disliked=True)
        else:
            del profile.items[item_id]
        profile.dirty_items.add(item_id)
    return gone


def _remaining(
    scores: DecayedScores, parts: list[TagInterest], others: list[TagInterest], half_lives: dict[str, float]
) -> DecayedScores:
    """A tag's scores without ``parts``: the sum of the ``others`` that taught it.

    Summed afresh from the traces (so tags taught by the same sources stay exactly equal,
    as they are for someone who never had the forgotten signals) when the traces account for
    the whole score; otherwise (rows written before traces were kept) ``parts`` are
    subtracted, which is exact up to rounding because decay is linear.
    """
    rebuilt = DecayedScores()
    for part in sorted(others, key=lambda p: max((s for _, s in p.scores.parts.values()), default=0.0)):
        for prov, (score, since) in part.scores.parts.items():
            rebuilt.add(prov, score, since, half_lives.get(prov, 30.0))
    whole = DecayedScores({k: list(v) for k, v in rebuilt.parts.items()})
    for part in parts:
        for prov, (score, since) in part.scores.parts.items():
            whole.add(prov, score, since, half_lives.get(prov, 30.0))
    at = max((s for _, s in scores.parts.values()), default=0.0)
    have = scores.by_provenance(at, half_lives)
    traced = whole.by_provenance(at, half_lives)
    if set(have) == set(traced) and all(
        abs(have[p] - traced[p]) <= 1e-9 * max(1.0, abs(have[p])) for p in have
    ):
        return rebuilt
    left = DecayedScores({k: list(v) for k, v in scores.parts.items()})
    for part in parts:
        left.subtract(part.scores, half_lives)
    return left


@dataclass(frozen=True, slots=True)
class ProfileDelta:
    """What changed in a person's profile after some version: the rows written since, whole.

    A cached profile at that version plus this delta equals the stored profile at
    ``version`` (rows are only ever replaced or added between resets; a write that deletes
    rows moves the person's reset version, and then no delta is offered).
    """

    version: int
    positive_signals: int
    active_days: list[int]
    interests: dict[str, TagInterest]
    items: dict[str, ItemState]
    direct: Trace = field(default_factory=Trace)

    def applied_to(self, profile: Profile) -> Profile:
        """A new profile: ``profile`` with these rows replaced (``profile`` is not changed)."""
        interests = dict(profile.interests)
        interests.update(self.interests)
        items = dict(profile.items)
        items.update(self.items)
        return Profile(
            profile.user_id,
            interests=interests,
            items=items,
            positive_signals=self.positive_signals,
            active_days=list(self.active_days),
            direct=self.direct,
            version=self.version,
        )
