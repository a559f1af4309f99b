"""Profile control (P8, P11, P12): a person states, removes and mutes interests and changes consent.

Mixed into :class:`tactful.Engine`. Every change is one transaction on the person record
and their profile, bumps the person's version (so every worker sees it on the next request)
and takes effect at once. Removing or muting a topic deletes the inferred interest and
keeps it from being re-learned; opting out of a sensitive category deletes what was learned
in it. Bad input raises a :mod:`tactful.errors` exception and changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pydantic

from tactful.clock import Clock, from_epoch, to_epoch
from tactful.config.run import RunConfig
from tactful.domain.identifiers import ID_PATTERN, check_tag
from tactful.domain.person import Consent, Person
from tactful.domain.recommendation import InterestView, ProfileView
from tactful.errors import Conflict, ValidationError
from tactful.index.catalog import CatalogIndex
from tactful.services.planner import PolicyLayer, interest_status
from tactful.services.state import PersonStates
from tactful.signals.profile import Engagement, Profile, forget_tag
from tactful.storage.protocol import Store

_ID_RE = re.compile(ID_PATTERN)
MAX_LIST = 128


def valid_user(user_id: str) -> str:
    if not isinstance(user_id, str) or not _ID_RE.match(user_id):
        raise ValidationError("not a valid person id", field="user_id")
    return user_id


def valid_tag(tag: str) -> str:
    try:
        return check_tag(tag) if isinstance(tag, str) else check_tag(str(tag))
    except ValueError as exc:
        raise ValidationError(str(exc), field="tag") from None


def tags_in_categories(catalog: CatalogIndex, categories: set[str]) -> set[str]:
    """Tags belonging to sensitive ``categories``: declared so, or found only on items in them."""
    out = {t for t, c in catalog.tag_sensitive.items() if c in categories}
    seen_elsewhere: set[str] = set()
    only_sensitive: set[str] = set()
    for pos, item in enumerate(catalog.items):
        target = only_sensitive if catalog.sensitive[pos] & categories else seen_elsewhere
        target.update(item.tags)
    return out | (only_sensitive - seen_elsewhere)


def _add(values: list[str], tag: str, field: str) -> None:
    if tag not in values:
        if len(values) >= MAX_LIST:
            raise ValidationError(f"at most {MAX_LIST} {field}", field="tag")
        values.append(tag)


def _drop(values: list[str], tag: str) -> None:
    while tag in values:
        values.remove(tag)


class PeopleService:
    """The person record and what we believe about them; every preference change goes through here.

    Each change is one transaction on the person record and their profile, bumps the
    person's version (so every worker sees it on the next request) and takes effect at once.
    """

    def __init__(
        self,
        store: Store,
        states: PersonStates,
        planner: PolicyLayer,
        clock: Clock,
        base: RunConfig,
        half_lives: dict[str, float],
    ) -> None:
        self.store = store
        self.states = states
        self.planner = planner
        self.clock = clock
        self.base = base
        self.half_lives = half_lives

    def catalog(self) -> CatalogIndex:
        return self.states.catalog()

    # -- the record ----------------------------------------------------------------------------
    def person(self, user_id: str) -> Person:
        return self.store.get_person(valid_user(user_id)) or Person(id=user_id)

    def save_person(self, person: Person) -> Person:
        self.store.save_person(person)
        self.states.drop(person.id)
        return person

    # -- what we believe -----------------------------------------------------------------------
    def profile(self, user_id: str) -> ProfileView:
        """What the engine believes about a person, with evidence and provenance (P12)."""
        now = to_epoch(self.clock.now())
        config = self.base
        state = self.states.state(user_id, now, config)
        catalog = state.context.catalog
        profile: Profile = state.profile
        r = config.ramp
        interests = []
        status = interest_status(self.planner, state, config)
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
            engagement=profile.engagement(r.warming_after, r.engaged_after, r.engaged_min_days).value
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

    # -- changes -------------------------------------------------------------------------------
    def _change(self, user_id: str, change: Callable[[Person, Profile], None]) -> ProfileView:
        """Apply ``change`` to the person and their profile in one transaction."""
        valid_user(user_id)
        now = to_epoch(self.clock.now())
        with self.store.unit_of_work() as uow:
            uow.create_persons([Person(id=user_id)], now)
            person = uow.load_persons([user_id])[user_id].model_copy(deep=True)
            profile = uow.load_profiles([user_id])[user_id]
            change(person, profile)
            uow.save_persons([person])
            uow.save_profiles([profile])
        self.states.drop(user_id)
        return self.profile(user_id)

    def state_interest(self, user_id: str, tag: str) -> ProfileView:
        """The person says they like ``tag``: an explicit signal that overrides inference (P11)."""
        tag = valid_tag(tag)
        category = self.catalog().tag_sensitive.get(tag)

        def change(person: Person, profile: Profile) -> None:
            if category is not None and category not in person.consent.sensitive_opt_in:
                raise Conflict(  # well-formed, but the person's consent does not allow it yet
                    f"{tag} is in the sensitive category {category!r}: opt in to it first",
                    field="tag",
                )
            _add(person.stated_interests, tag, "stated interests")
            _drop(person.blocked_interests, tag)
            _drop(person.muted_topics, tag)

        return self._change(user_id, change)

    def remove_interest(self, user_id: str, tag: str) -> ProfileView:
        """Forget ``tag`` (stated or inferred) and do not learn it again until it is stated."""
        tag = valid_tag(tag)

        def change(person: Person, profile: Profile) -> None:
            _drop(person.stated_interests, tag)
            _add(person.blocked_interests, tag, "removed interests")
            forget_tag(profile, tag)

        return self._change(user_id, change)

    def mute_topic(self, user_id: str, tag: str) -> ProfileView:
        """Hide ``tag`` everywhere at once, delete its inferred interest, stop learning it (P8)."""
        tag = valid_tag(tag)

        def change(person: Person, profile: Profile) -> None:
            _add(person.muted_topics, tag, "muted topics")
            _drop(person.stated_interests, tag)
            forget_tag(profile, tag)

        return self._change(user_id, change)

    def unmute_topic(self, user_id: str, tag: str) -> ProfileView:
        """Show ``tag`` again; it is learned afresh from new signals only."""
        tag = valid_tag(tag)

        def change(person: Person, profile: Profile) -> None:
            _drop(person.muted_topics, tag)

        return self._change(user_id, change)

    def set_consent(self, user_id: str, consent: Consent | dict[str, Any]) -> ProfileView:
        """Replace the person's consent; opting out of a sensitive category deletes what was learned in it."""
        if not isinstance(consent, Consent):
            try:
                consent = Consent.model_validate(consent)
            except pydantic.ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first.get("loc", ())) or None
                raise ValidationError(str(first.get("msg", "invalid consent")), field=field) from None
        new = consent
        catalog = self.catalog()

        def change(person: Person, profile: Profile) -> None:
            dropped = set(person.consent.sensitive_opt_in) - set(new.sensitive_opt_in)
            person.consent = new.model_copy(deep=True)
            if dropped:
                for tag in tags_in_categories(catalog, dropped) & set(profile.interests):
                    forget_tag(profile, tag)
                gone = tags_in_categories(catalog, dropped)
                person.stated_interests = [t for t in person.stated_interests if t not in gone]

        return self._change(user_id, change)
