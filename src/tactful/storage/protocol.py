"""The storage protocols every backend implements.

Everything outside :mod:`tactful.storage` is typed against these protocols and sees only
plain data: domain objects (:class:`~tactful.domain.item.Item`, :class:`Person`,
:class:`Profile`, :class:`Promotion`, ...) and the frozen dataclasses below. No table,
row or connection crosses this boundary.

One concern per protocol:

- :class:`Store`: catalog, people, events, profiles and aggregates, plus :meth:`Store.unit_of_work`
  (one all-or-nothing :class:`UnitOfWork`). It also *is* each protocol below: a backend is
  one object that implements them all on the same connections.
- :class:`PolicyStore`: the per-request freshness check, promotions, promoted exposures and
  back-off counters.
- :class:`KeyStore`: API keys (hashes only; hashing and scopes live in ``security``).
- :class:`AuditStore`: the append-only audit log (validation lives in ``security``).
- :class:`PrivacyStore`: export snapshots, erasure (one :class:`Erasure` transaction) and
  retention (the decisions live in ``privacy``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

from tactful.domain.event import Event
from tactful.domain.item import Item, TagMeta
from tactful.domain.person import Consent, Person
from tactful.domain.stats import ItemStat
from tactful.policy.hints import BackoffCounter
from tactful.policy.promotions import ActivePromotion, Promotion
from tactful.signals.profile import Profile, ProfileDelta

# -- plain data crossing the boundary ------------------------------------------------------


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
    context: str | None = None
    """The event's context as stored (JSON), where a reader asks for it (:meth:`UnitOfWork.item_events`)."""


@dataclass(frozen=True, slots=True)
class Activity:
    """What people did in a window, for the operator's dashboard (counts only, no one named)."""

    since: float
    bucket_seconds: int
    buckets: list[int]
    """Events per bucket, oldest first (``len == ceil(window / bucket_seconds)``)."""
    by_type: dict[str, int]
    active_people: int


@dataclass(frozen=True, slots=True)
class ErasureCheck:
    """Lets a delayed write skip the rows of people erased after the rows were produced.

    A worker buffers served lists and back-off counters and writes them later; meanwhile
    another worker (or host) may erase the person. Erasure leaves a tombstone (the person's
    keyed hash and the time); a write given this check looks the tombstones up *inside its
    own transaction*, serialized with erasures, and drops every row produced at or before
    ``erased_at + margin`` (``margin`` allows for clocks of several hosts differing).
    """

    subjects: Mapping[str, str]
    """person id → the keyed hash their tombstone is stored under (never the id itself)"""
    margin: float = 0.0


@dataclass(frozen=True, slots=True)
class KnownEvent:
    """What a stored event with a client id said: a retry must say the same (else 409)."""

    item_id: str | None
    type: str
    value: float | None


@dataclass(frozen=True)
class Freshness:
    """What a request checks before trusting this worker's caches, read in one round trip.

    The catalog version, the person's version (None: no such person yet), the promotions
    version and the person's stored back-off counter.
    """

    catalog_version: int
    person_version: int | None
    promotions_version: int
    backoff: BackoffCounter


class PromotionFields(TypedDict):
    """Every stored field of a new promotion (times in epoch seconds)."""

    id: str
    name: str
    items: list[str]
    tags: list[str]
    target_tags: list[str]
    surfaces: list[str]
    cap: int
    window_days: float
    starts_at: float
    ends_at: float | None
    ended_at: float | None
    created_at: float
    updated_at: float


PROMOTION_FIELDS = frozenset(PromotionFields.__annotations__)
"""The keys :meth:`PolicyStore.update_promotion` accepts (``id`` excepted)."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An API key as stored: its id, the SHA-256 of its secret, never the secret itself."""

    id: str
    name: str
    secret_hash: str
    scopes: tuple[str, ...]
    rate_per_second: float | None
    created_at: float
    revoked_at: float | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit entry to append; ``details`` is JSON-ready (``security.audit`` bounds its size)."""

    at: float
    actor: str
    action: str
    subject: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredAuditRecord(AuditRecord):
    """An appended audit entry with its sequence number (increasing in append order)."""

    seq: int = 0


@dataclass(frozen=True, slots=True)
class DroppedEvents:
    """What a retention pass removed (or, on a dry run, would remove) and what is left."""

    deleted: int
    kept: int


# -- protocols -----------------------------------------------------------------------------


class UnitOfWork(Protocol):
    """One all-or-nothing write transaction."""

    def known_events(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], KnownEvent]:
        """The stored events among these ``(user_id, event_id)`` keys (ids are per person)."""
        ...

    def load_profiles(self, user_ids: Sequence[str]) -> dict[str, Profile]: ...

    def load_profile_rows(
        self, wanted: Mapping[str, tuple[Collection[str], Collection[str]]]
    ) -> dict[str, Profile]:
        """Per person only the given ``(tags, items)`` rows, the counters and the version."""
        ...

    def create_persons(self, persons: Sequence[Person], now: float) -> None: ...

    def load_persons(self, user_ids: Sequence[str]) -> dict[str, Person]:
        """The stored persons among these; their rows stay locked until the transaction ends,
        so two transactions writing for one person (two retries of a batch, say) run one
        after the other, and the second sees what the first stored."""
        ...

    def load_item_stats(self, item_ids: Sequence[str]) -> dict[str, ItemStat]: ...

    def write_events(self, events: Sequence[Event]) -> int:
        """Append events; one whose ``(user_id, id)`` is already stored is skipped (never an
        error). Returns how many were written."""
        ...

    def save_profiles(self, profiles: Sequence[Profile]) -> None: ...

    def item_events(self, user_id: str, item_id: str) -> list[StoredEvent]:
        """One person's stored events on one item, oldest first, with their context."""
        ...

    def delete_events(self, user_id: str, seqs: Sequence[int]) -> int:
        """Delete these events of this person from the log; returns how many went."""
        ...

    def save_persons(self, persons: Sequence[Person]) -> None: ...

    def save_item_stats(self, stats: Sequence[ItemStat]) -> None: ...

    def versions(self, user_ids: Sequence[str]) -> dict[str, int]: ...


class PolicyStore(Protocol):
    """Durable state of the policy layer: promotions, promoted placements served, back-off counters."""

    def freshness(self, user_id: str) -> Freshness:
        """Catalog, person and promotions versions and the back-off counter, in one round trip."""
        ...

    def insert_promotion(self, values: PromotionFields, now: float) -> Promotion:
        """Store a new promotion (``Conflict`` if its id exists); bumps the promotions version."""
        ...

    def update_promotion(self, promotion_id: str, values: Mapping[str, Any], now: float) -> Promotion | None:
        """Change some :data:`PROMOTION_FIELDS`; None when there is no such promotion."""
        ...

    def get_promotion(self, promotion_id: str, now: float) -> Promotion | None: ...

    def list_promotions(self, now: float, include_ended: bool = True) -> list[Promotion]:
        """Every promotion, oldest first (status as of ``now``)."""
        ...

    def active_promotions(self, now: float | None = None) -> list[ActivePromotion]:
        """Promotions not ended (scheduled ones included; ``live`` checks the time).

        With ``now`` None, also those whose ``ends_at`` passed (for caching across requests).
        """
        ...

    def exposures(self, user_id: str, promotion_ids: Sequence[str], since: float) -> dict[str, list[float]]:
        """Times of the person's promoted placements per promotion, after ``since``."""
        ...

    def record_served(
        self,
        user_id: str,
        rec_id: str,
        placements: Sequence[tuple[str, str]],
        counter: BackoffCounter | None,
        now: float,
        check: ErasureCheck | None = None,
    ) -> None:
        """Promoted placements ``(promotion_id, item_id)`` and (optionally) the person's new
        back-off counter, in one transaction."""
        ...

    def save_backoff(
        self, counters: Sequence[tuple[str, BackoffCounter, float]], check: ErasureCheck | None = None
    ) -> int:
        """Back-off counters ``(user_id, counter, updated_at)``, in one transaction; with
        ``check``, those of people erased since are dropped. Returns how many were written."""
        ...

    def backoff(self, user_id: str) -> BackoffCounter:
        """The person's stored counter (a fresh one when none is stored)."""
        ...


class KeyStore(Protocol):
    """API keys, stored by id with the hash of their secret."""

    def insert_key(self, key: KeyRecord) -> None: ...

    def get_key(self, key_id: str) -> KeyRecord | None: ...

    def list_keys(self, include_revoked: bool = False) -> list[KeyRecord]:
        """Keys by creation time (then id); revoked ones only when asked."""
        ...

    def revoke_key(self, key_id: str, at: float) -> KeyRecord | None:
        """Mark the key revoked at ``at`` (a revoked key keeps its first revocation time);
        None when there is no such key."""
        ...


class TokenStore(Protocol):
    """How end-user tokens are refused before they expire, by ``subject`` (a keyed hash of
    the person id): a generation per person (tokens from an older one are void) and the ids
    of single revoked tokens (kept until the token would have expired)."""

    def token_state(self, subject: str, token_id: str | None) -> tuple[int, bool]:
        """The subject's current generation (0 if never bumped) and whether ``token_id`` is revoked."""
        ...

    def bump_token_generation(self, subject: str, at: float) -> int:
        """Void every token issued so far for ``subject``; the new generation."""
        ...

    def revoke_token(self, token_id: str, subject: str, expires_at: float, at: float) -> bool:
        """Revoke one token id of ``subject``: True if newly revoked, False if it already was.
        Entries whose tokens have expired by ``at`` are dropped on the way."""
        ...


class AuditStore(Protocol):
    """The append-only audit log."""

    def append_audit(self, record: AuditRecord) -> None: ...

    def audit_records(
        self, limit: int, before: int | None = None, action: str | None = None
    ) -> list[StoredAuditRecord]:
        """At most ``limit`` entries, newest first, with ``seq < before`` and the given action."""
        ...


class Erasure(Protocol):
    """One person's erasure: a single write transaction, all of it or none of it."""

    def events(self) -> list[StoredEvent]:
        """The person's stored events, in ingest order."""
        ...

    def lock_item_stats(self, item_ids: Sequence[str]) -> dict[str, ItemStat]:
        """Item counters, locked against concurrent ingest until the erasure commits."""
        ...

    def save_item_stats(self, stats: Sequence[ItemStat]) -> None: ...

    def delete_item_stats(self, item_ids: Sequence[str]) -> None: ...

    def erase_person_rows(self) -> dict[str, int]:
        """Delete every row keyed by the person, in every person table; rows deleted per table."""
        ...

    def bump_catalog_version(self) -> None:
        """Make every worker reload the catalog and item counters (and drop cached profiles)."""
        ...

    def count_erasure(self) -> None:
        """Move the store's erasure sequence (:meth:`PrivacyStore.erasure_seq`) on by one."""
        ...

    def append_audit(self, record: AuditRecord) -> None:
        """Audit the erasure inside its own transaction."""
        ...

    def add_tombstone(self, subject: str, erased_at: float, forget_before: float) -> None:
        """Record that the person (by keyed hash) was erased at ``erased_at``, so writes
        checked with :class:`ErasureCheck` drop their older rows; tombstones older than
        ``forget_before`` are removed. The erasure transaction excludes every checked write
        until it commits (PostgreSQL: an advisory lock; SQLite: the write lock)."""
        ...


class PrivacyStore(Protocol):
    """What export, erasure and retention need."""

    def person_tables(self) -> tuple[str, ...]:
        """Names of the tables holding rows keyed by a person's id."""
        ...

    def person_rows(self, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """Every row keyed by the person, per person table (all of them, empty ones too),
        read from one consistent snapshot; JSON columns decoded, times as epoch seconds."""
        ...

    def erasure(self, user_id: str) -> AbstractContextManager[Erasure]:
        """Open the erasure transaction for one person (committed when the block exits cleanly)."""
        ...

    def erasure_seq(self) -> int:
        """How many erasures have committed (a training run compares it before and after)."""
        ...

    def scrub_disk(self) -> bool:
        """After an erasure: leave no copy of deleted rows in the database files; True when done."""
        ...

    def drop_events_before(self, cutoff: float, dry_run: bool = False) -> DroppedEvents:
        """Delete raw events with ``ts < cutoff`` in short batches; with ``dry_run`` only count them."""
        ...


class Store(PolicyStore, KeyStore, TokenStore, AuditStore, PrivacyStore, Protocol):
    """Durable state: catalog, people, events, profiles, aggregates, and every concern above."""

    url: str

    def migrate(self) -> None: ...

    def schema_version(self) -> str | None:
        """The schema revision the database is at (None before the first migration)."""
        ...

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

    def sample_person_ids(self, limit: int) -> list[str]:
        """A few person ids, most active first (for the demo page)."""
        ...

    def load_profile(self, user_id: str) -> Profile: ...

    def load_person_state(self, user_id: str) -> tuple[Person | None, Profile, int | None]: ...

    def load_person_delta(self, user_id: str, since: int) -> tuple[Person, ProfileDelta] | None:
        """The person and the profile rows written after ``since``; None if rows were deleted since."""
        ...

    def save_recommendations(self, served: Sequence[ServedList], check: ErasureCheck | None = None) -> int:
        """Served lists, in one transaction (a list already stored is skipped); with ``check``,
        those of people erased since are dropped. Returns how many were kept."""
        ...

    def iter_events(self, batch_size: int = 50_000) -> Iterator[list[StoredEvent]]: ...

    def iter_item_states(self, batch_size: int = 50_000) -> Iterator[list[ItemStateRow]]: ...

    def consents(self) -> dict[str, Consent]: ...

    def last_event_seq(self) -> int: ...

    def count(self, table: str) -> int: ...

    def stats(self) -> dict[str, Any]: ...

    def activity(self, since: float, until: float, bucket_seconds: int) -> Activity:
        """Event counts per time bucket and per type, and distinct people, in ``[since, until)``."""
        ...


__all__ = [
    "PROMOTION_FIELDS",
    "AuditRecord",
    "AuditStore",
    "DroppedEvents",
    "Erasure",
    "Freshness",
    "ItemStat",
    "ItemStateRow",
    "KeyRecord",
    "KeyStore",
    "PolicyStore",
    "PrivacyStore",
    "PromotionFields",
    "ServedList",
    "Store",
    "StoredAuditRecord",
    "StoredEvent",
    "UnitOfWork",
]
