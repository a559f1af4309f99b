"""Profile control (P8, P11, P12): a person states, removes and mutes interests and changes consent.

Used by :class:`tactful.Engine`, every route and the pages. Every change is one transaction
on the person record and their profile, bumps the person's version (so every worker sees it
on the next request) and takes effect at once. Removing or muting a topic deletes the
inferred interest and keeps it from being re-learned; muting a topic or opting out of a
sensitive category forgets everything learned *through* it (see
:func:`~tactful.signals.profile.forget_items`). Bad input raises a :mod:`tactful.errors`
exception and changes nothing.
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
from tactful.signals.profile import Engagement, Profile, ProfileRules, forget_items, forget_tag, mark_stated
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


def items_in_categories(catalog: CatalogIndex, profile: Profile, categories: set[str]) -> set[str]:
    """The person's items in any of the sensitive ``categories`` (what an opt-out forgets)."""
    out: set[str] = set()
    for item_id in profile.items:
        pos = catalog.index.get(item_id)
        if pos is not None and catalog.sensitive[pos] & categories:
            out.add(item_id)
    return out


def items_through_tag(catalog: CatalogIndex, profile: Profile, tag: str) -> set[str]:
    """The person's items carrying ``tag`` (in the catalog, or when they taught it: what a mute forgets)."""
    out: set[str] = set()
    for item_id, state in profile.items.items():
        pos = catalog.index.get(item_id)
        if tag in state.trace.tags or (pos is not None and tag in catalog.items[pos].tags):
            out.add(item_id)
    return out


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
        rules: ProfileRules,
        respect: bool = True,
    ) -> None:
        self.rules = rules
        self.respect = respect
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
    # Every change to a person's preferences goes through :meth:`_change` and the rules below,
    # whichever door it comes in by (the Python API, the dedicated routes, ``PUT /v1/users/{id}``).
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
        self.states.announce({user_id: profile.version})
        return self.profile(user_id)

    def _state(self, person: Person, profile: Profile, tag: str, catalog: CatalogIndex) -> None:
        category = catalog.tag_sensitive.get(tag)
        if category is not None and category not in person.consent.sensitive_opt_in:
            raise Conflict(  # well-formed, but the person's consent does not allow it yet
                f"{tag} is in the sensitive category {category!r}: opt in to it first",
                field="tag",
            )
        _add(person.stated_interests, tag, "stated interests")
        _drop(person.blocked_interests, tag)
        _drop(person.muted_topics, tag)
        mark_stated(profile, tag, to_epoch(self.clock.now()))

    def _remove(self, person: Person, profile: Profile, tag: str) -> None:
        _drop(person.stated_interests, tag)
        _add(person.blocked_interests, tag, "removed interests")
        forget_tag(profile, tag)

    def _mute(self, person: Person, profile: Profile, tag: str, catalog: CatalogIndex) -> None:
        _add(person.muted_topics, tag, "muted topics")
        _drop(person.stated_interests, tag)
        if self.respect:
            forget_items(profile, items_through_tag(catalog, profile, tag), self.rules)
        forget_tag(profile, tag)

    def _consent(self, person: Person, profile: Profile, new: Consent, catalog: CatalogIndex) -> None:
        dropped = set(person.consent.sensitive_opt_in) - set(new.sensitive_opt_in)
        person.consent = new.model_copy(deep=True)
        if dropped:
            if self.respect:
                forget_items(profile, items_in_categories(catalog, profile, dropped), self.rules)
            gone = tags_in_categories(catalog, dropped)
            for tag in gone & set(profile.interests):
                forget_tag(profile, tag)
            person.stated_interests = [t for t in person.stated_interests if t not in gone]

    def state_interest(self, user_id: str, tag: str) -> ProfileView:
        """The person says they like ``tag``: an explicit signal that overrides inference (P11).

        A statement is a positive signal, now: it ends a back-off (P7: general content lasts
        until they show a new interest) and restarts the tag's retargeting window.
        """
        tag = valid_tag(tag)
        catalog = self.catalog()
        return self._change(user_id, lambda person, profile: self._state(person, profile, tag, catalog))

    def remove_interest(self, user_id: str, tag: str) -> ProfileView:
        """Forget ``tag`` (stated or inferred) and do not learn it again until it is stated."""
        tag = valid_tag(tag)
        return self._change(user_id, lambda person, profile: self._remove(person, profile, tag))

    def mute_topic(self, user_id: str, tag: str) -> ProfileView:
        """Hide ``tag`` everywhere at once and forget everything learned through it (P8).

        Its interest is deleted, and so is what items carrying it taught: their share of
        other tags' scores, evidence and recency, and their item history. Nothing about it
        is learned again until it is unmuted.
        """
        tag = valid_tag(tag)
        catalog = self.catalog()
        return self._change(user_id, lambda person, profile: self._mute(person, profile, tag, catalog))

    def unmute_topic(self, user_id: str, tag: str) -> ProfileView:
        """Show ``tag`` again; it is learned afresh from new signals only."""
        tag = valid_tag(tag)
        return self._change(user_id, lambda person, profile: _drop(person.muted_topics, tag))

    def set_consent(self, user_id: str, consent: Consent | dict[str, Any]) -> ProfileView:
        """Replace the person's consent; an opt-out forgets what was learned through the category."""
        new = _valid_consent(consent)
        catalog = self.catalog()
        return self._change(user_id, lambda person, profile: self._consent(person, profile, new, catalog))

    def update_person(self, person: Person) -> Person:
        """Apply a person record (``PUT /v1/users/{id}``) under the same rules as the dedicated changes.

        Partial: only fields set in ``person`` change (a body of just ``{id}`` changes nothing).
        ``consent`` merges the consent fields given; the lists (``stated_interests``,
        ``muted_topics``, ``blocked_interests``) replace the current ones, and each tag that
        comes or goes is applied as the dedicated change would: a new mute or removal
        forgets what was learned through the tag, a new stated interest in a sensitive
        category needs the opt-in (given before or in the same body), a dropped mute is an
        unmute, and a tag dropped from ``stated_interests`` is no longer stated (it is not
        blocked). A tag may not be both stated and muted or removed. Anything refused raises
        and nothing changes.
        """
        user_id = valid_user(person.id)
        given = person.model_fields_set
        catalog = self.catalog()
        stated = _tags(person.stated_interests) if "stated_interests" in given else None
        muted = _tags(person.muted_topics) if "muted_topics" in given else None
        blocked = _tags(person.blocked_interests) if "blocked_interests" in given else None
        clash = set(stated or ()) & (set(muted or ()) | set(blocked or ()))
        if clash:
            raise ValidationError(
                f"{sorted(clash)[0]} cannot be stated and muted or removed at once", field="stated_interests"
            )

        def change(current: Person, profile: Profile) -> None:
            if "timezone" in given:
                current.timezone = person.timezone
            if "consent" in given:
                fields = person.consent.model_fields_set
                merged = current.consent.model_copy(
                    update={f: getattr(person.consent, f) for f in fields}, deep=True
                )
                self._consent(current, profile, _valid_consent(merged.model_dump()), catalog)
            if muted is not None:
                for tag in [t for t in current.muted_topics if t not in muted]:
                    _drop(current.muted_topics, tag)
                for tag in muted:
                    if tag not in current.muted_topics:
                        self._mute(current, profile, tag, catalog)
            if blocked is not None:
                for tag in [t for t in current.blocked_interests if t not in blocked]:
                    _drop(current.blocked_interests, tag)
                for tag in blocked:
                    if tag not in current.blocked_interests:
                        self._remove(current, profile, tag)
            if stated is not None:
                for tag in [t for t in current.stated_interests if t not in stated]:
                    _drop(current.stated_interests, tag)
                for tag in stated:
                    self._state(current, profile, tag, catalog)

        self._change(user_id, change)
        return self.person(user_id)


def _tags(values: list[str]) -> list[str]:
    return list(dict.fromkeys(valid_tag(t) for t in values))


def _valid_consent(consent: Consent | dict[str, Any]) -> Consent:
    if isinstance(consent, Consent):
        return consent
    try:
        return Consent.model_validate(consent)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or None
        raise ValidationError(str(first.get("msg", "invalid consent")), field=field) from None
