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
from typing import TYPE_CHECKING, Any

import pydantic

from tactful.clock import Clock, to_epoch
from tactful.config.settings import Settings
from tactful.domain.identifiers import ID_PATTERN, check_tag
from tactful.domain.person import Consent, Person
from tactful.domain.recommendation import ProfileView
from tactful.errors import ValidationError
from tactful.index.catalog import CatalogIndex
from tactful.signals.profile import Profile, forget_tag
from tactful.storage.protocol import Store

if TYPE_CHECKING:
    from tactful.index.profile_cache import ProfileCache

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


class ProfileControls:
    """State, remove, mute and unmute interests; change consent."""

    settings: Settings
    store: Store
    clock: Clock
    profiles: ProfileCache

    if TYPE_CHECKING:  # provided by Engine

        def catalog(self, version: int | None = None) -> CatalogIndex: ...

        def profile(self, user_id: str) -> ProfileView: ...

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
        self.profiles.drop(user_id)
        return self.profile(user_id)

    def state_interest(self, user_id: str, tag: str) -> ProfileView:
        """The person says they like ``tag``: an explicit signal that overrides inference (P11)."""
        tag = valid_tag(tag)
        category = self.catalog().tag_sensitive.get(tag)

        def change(person: Person, profile: Profile) -> None:
            if category is not None and category not in person.consent.sensitive_opt_in:
                raise ValidationError(
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
