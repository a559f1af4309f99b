"""The storage protocol every backend implements."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from tactful.domain.event import Event
from tactful.domain.item import Item, TagMeta
from tactful.domain.person import Consent, Person
from tactful.domain.stats import ItemStat
from tactful.signals.profile import Profile, ProfileDelta


@dataclass(frozen=True, slots=True)
class ServedList:
    """A recommendation list as served, for attribution."""

    rec_id: str
    user_id: str
    surface: str
    at: float
    item_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ItemStateRow:
    """One person's stored state for one item, as training reads it."""

    user_id: str
    item_id: str
    scores: dict[str, list[float]]
    last_engaged: float | None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: resolved timestamp (epoch seconds) and provenance."""

    seq: int
    event_id: str | None
    user_id: str
    item_id: str | None
    type: str
    value: float | None
    ts: float
    provenance: str


class UnitOfWork(Protocol):
    """One all-or-nothing write transaction."""

    def known_event_ids(self, ids: Sequence[str]) -> set[str]: ...

    def load_profiles(self, user_ids: Sequence[str]) -> dict[str, Profile]: ...

    def load_profile_rows(
        self, wanted: Mapping[str, tuple[Collection[str], Collection[str]]]
    ) -> dict[str, Profile]:
        """Per person only the given ``(tags, items)`` rows, the counters and the version."""
        ...

    def create_persons(self, persons: Sequence[Person], now: float) -> None: ...

    def load_persons(self, user_ids: Sequence[str]) -> dict[str, Person]: ...

    def load_item_stats(self, item_ids: Sequence[str]) -> dict[str, ItemStat]: ...

    def write_events(self, events: Sequence[Event]) -> None: ...

    def save_profiles(self, profiles: Sequence[Profile]) -> None: ...

    def save_persons(self, persons: Sequence[Person]) -> None: ...

    def save_item_stats(self, stats: Sequence[ItemStat]) -> None: ...

    def versions(self, user_ids: Sequence[str]) -> dict[str, int]: ...


class Store(Protocol):
    """Durable state: catalog, people, events, profiles, aggregates."""

    url: str

    def migrate(self) -> None: ...

    def close(self) -> None: ...

    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]: ...

    def upsert_items(self, items: Sequence[Item], now: float) -> None: ...

    def delete_items(self, ids: Sequence[str]) -> int: ...

    def get_item(self, item_id: str) -> Item | None: ...

    def item_tags(self, ids: Sequence[str]) -> dict[str, list[str]]: ...

    def load_catalog(self) -> list[Item]: ...

    def item_ids(self) -> list[str]:
        """Every item id, in the catalog's order (by id)."""
        ...

    def catalog_version(self) -> int: ...

    def upsert_tag_meta(self, metas: Sequence[TagMeta]) -> None: ...

    def load_tag_meta(self) -> list[TagMeta]: ...

    def load_all_item_stats(self) -> list[ItemStat]: ...

    def get_person(self, user_id: str) -> Person | None: ...

    def save_person(self, person: Person) -> None: ...

    def load_profile(self, user_id: str) -> Profile: ...

    def load_person_state(self, user_id: str) -> tuple[Person | None, Profile, int | None]: ...

    def load_person_delta(self, user_id: str, since: int) -> tuple[Person, ProfileDelta] | None:
        """The person and the profile rows written after ``since``; None if rows were deleted since."""
        ...

    def sample_person_ids(self, limit: int) -> list[str]: ...

    def schema_version(self) -> str | None: ...

    def save_recommendations(self, served: Sequence[ServedList]) -> None: ...

    def iter_events(self, batch_size: int = 50_000) -> Iterator[list[StoredEvent]]: ...

    def iter_item_states(self, batch_size: int = 50_000) -> Iterator[list[ItemStateRow]]: ...

    def consents(self) -> dict[str, Consent]: ...

    def last_event_seq(self) -> int: ...

    def count(self, table: str) -> int: ...

    def stats(self) -> dict[str, Any]: ...
