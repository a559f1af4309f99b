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

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypedDict

import orjson

from tactful.domain.event import Event
from tactful.domain.item import Item, TagMeta
from tactful.domain.messages import Channel, MessagePreferences, MessageState, OutboxMessage
from tactful.domain.person import Consent, Person
from tactful.domain.stats import ItemStat
from tactful.experiments.analysis import ExperimentData
from tactful.experiments.model import Experiment
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


EXPORT_FIELDS = (
    "seq",
    "event_id",
    "user_id",
    "item_id",
    "type",
    "value",
    "ts",
    "provenance",
    "surface",
    "recommendation_id",
)


@dataclass(frozen=True, slots=True)
class EventColumns:
    """A page of stored events as columns (one tuple per field, in ``seq`` order): what a
    columnar export writes without building an object per event."""

    seq: tuple[int, ...]
    event_id: tuple[str | None, ...]
    user_id: tuple[str, ...]
    item_id: tuple[str | None, ...]
    type: tuple[str, ...]
    value: tuple[float | None, ...]
    ts: tuple[float, ...]
    provenance: tuple[str, ...]
    surface: tuple[str | None, ...]
    recommendation_id: tuple[str | None, ...]

    def __len__(self) -> int:
        return len(self.seq)


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


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands against the migrations this code knows.

    ``current`` is the database's revision (None: never migrated), ``head`` the newest this
    code knows, ``known`` every revision oldest first, ``has_tables`` whether an unmigrated
    database holds tables anyway (someone else's database: never touched implicitly).
    """

    current: str | None
    head: str
    known: tuple[str, ...]
    has_tables: bool = False

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def empty(self) -> bool:
        """Nothing there yet: creating the schema is safe."""
        return self.current is None and not self.has_tables

    @property
    def behind(self) -> bool:
        """At an older revision this code can upgrade from."""
        return self.current is not None and self.current in self.known and self.current != self.head

    @property
    def pending(self) -> tuple[str, ...]:
        """The revisions an upgrade would apply, oldest first."""
        if self.current is None:
            return self.known
        if self.current not in self.known:
            return ()
        return self.known[self.known.index(self.current) + 1 :]


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


@dataclass(frozen=True, slots=True)
class ExposureRecord:
    """A person's first exposure to an experiment's variant (stored once per person and experiment)."""

    experiment_id: str
    user_id: str
    variant: str
    at: float
    surface: str
    rec_id: str


@dataclass(frozen=True, slots=True)
class ExperimentServedRecord:
    """A list served under an experiment's variant: events carrying its id are attributed to it."""

    rec_id: str
    experiment_id: str
    user_id: str
    variant: str
    at: float
    items: int


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

    def write_events(
        self,
        events: Sequence[Event],
        times: Sequence[float] | None = None,
        provenances: Sequence[str] | None = None,
    ) -> int:
        """Append events; one whose ``(user_id, id)`` is already stored is skipped (never an
        error). Returns how many were written.

        ``times`` (epoch seconds) and ``provenances``, one per event in order, are the
        resolved values to store when the events leave theirs unset (ingest resolves them
        without copying each event); without them, the events' own are stored."""
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


class StoredPreferences:
    """One person's message preferences as stored, with the person's own time zone.

    A backend may hand over the stored JSON documents instead of models: they are then
    validated on first access to :attr:`prefs` or :attr:`state`, while the due check reads
    the plain document (:meth:`document`) and :attr:`since`, so a planner tick over many
    people parses fully only those who are due.
    """

    __slots__ = ("user_id", "last_period", "person_zone", "_prefs", "_state", "_doc", "_state_doc")

    def __init__(
        self,
        user_id: str,
        prefs: MessagePreferences | str,
        state: MessageState | str,
        last_period: str | None,
        person_zone: str,
    ) -> None:
        self.user_id = user_id
        self.last_period = last_period
        self.person_zone = person_zone
        self._prefs: MessagePreferences | None = prefs if isinstance(prefs, MessagePreferences) else None
        self._state: MessageState | None = state if isinstance(state, MessageState) else None
        self._doc: str | None = prefs if isinstance(prefs, str) else None
        self._state_doc: str | None = state if isinstance(state, str) else None

    @property
    def prefs(self) -> MessagePreferences:
        if self._prefs is None:
            self._prefs = MessagePreferences.model_validate_json(self._doc or "{}")
        return self._prefs

    @property
    def state(self) -> MessageState:
        if self._state is None:
            self._state = MessageState.model_validate_json(self._state_doc or "{}")
        return self._state

    def document(self) -> dict[str, Any] | None:
        """The stored preference document as plain JSON data (None when built from models)."""
        return None if self._doc is None or self._prefs is not None else dict(orjson.loads(self._doc))

    @property
    def since(self) -> datetime | None:
        if self._state is not None or self._state_doc is None:
            return self.state.since
        raw = orjson.loads(self._state_doc).get("since")
        return None if raw is None else datetime.fromisoformat(raw)

    def _key(self) -> tuple[object, ...]:
        return (self.user_id, self.prefs, self.state, self.last_period, self.person_zone)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoredPreferences) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.user_id, self.last_period))

    def __repr__(self) -> str:
        return f"StoredPreferences({self.user_id!r}, last_period={self.last_period!r})"


@dataclass(frozen=True, slots=True)
class Counted:
    """A message that counts against caps: its channel and the local day it counts on."""

    channel: Channel
    local_day: int


class MessageStore(Protocol):
    """Message preferences, the outbox and delivery feedback (P13)."""

    def load_message_prefs(self, user_ids: Sequence[str]) -> dict[str, StoredPreferences]:
        """The stored preferences of those people (people without a record are absent)."""
        ...

    def iter_message_prefs(self, batch_size: int = 5_000) -> Iterator[list[StoredPreferences]]:
        """Everyone with a preference record that names at least one channel, in id order."""
        ...

    def update_message_prefs(
        self,
        user_id: str,
        change: Callable[[StoredPreferences], tuple[MessagePreferences, MessageState]],
        now: float,
    ) -> StoredPreferences:
        """Read-modify-write one person's record in one transaction (created with defaults)."""
        ...

    def put_message_prefs(self, rows: Sequence[StoredPreferences], now: float) -> None:
        """Create or replace many people's records at once (imports, benchmarks)."""
        ...

    def enqueue_messages(
        self,
        user_ids: Sequence[str],
        since_day: int,
        decide: Callable[[dict[str, list[Counted]]], list[OutboxMessage]],
        periods: Mapping[str, str],
    ) -> list[OutboxMessage]:
        """Plan messages atomically, idempotently and safely beside other planners.

        In one transaction: lock the people's preference rows (PostgreSQL ``FOR UPDATE``
        in id order; SQLite writes are serial), read their counted messages (queued or
        sent digests and notices; required messages never count) on local days from
        ``since_day``, call ``decide`` with them, insert what it
        returns unless its key exists (``ON CONFLICT DO NOTHING``), and record each
        person's newest planned period from ``periods``. Returns the rows inserted.
        """
        ...

    def enqueue_message(self, message: OutboxMessage) -> tuple[OutboxMessage, bool]:
        """Queue one message unless its key exists; the stored message and whether it was added."""
        ...

    def get_message(self, message_id: str) -> OutboxMessage | None: ...

    def list_messages(
        self, user_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[OutboxMessage]:
        """Newest first."""
        ...

    def messages_since(self, user_ids: Sequence[str], since_day: int) -> dict[str, list[OutboxMessage]]:
        """Those people's queued and sent digests and notices on local days from ``since_day``,
        newest first (required messages are left out)."""
        ...

    def claim_messages(self, now: float, limit: int, lease_seconds: float) -> list[OutboxMessage]:
        """Queued messages whose attempt is due, leased to the caller (next attempt pushed back
        by ``lease_seconds``), so two workers never take the same one (PostgreSQL skips
        locked rows)."""
        ...

    def save_message(self, message: OutboxMessage) -> None:
        """Write an outbox row's new state (status, attempts, next attempt, items)."""
        ...

    def cancel_queued(self, user_id: str, reason: str, channel: str | None = None) -> int:
        """Cancel a person's queued messages (all, or one channel's); returns how many."""
        ...

    def record_message_feedback(
        self, message_id: str, user_id: str, type: str, at: float, detail: Mapping[str, Any]
    ) -> None: ...

    def message_counts(self) -> dict[str, int]:
        """Outbox rows by status."""
        ...


class ExperimentStore(Protocol):
    """Experiments, their exposures and the lists served under them."""

    def insert_experiment(self, experiment: Experiment) -> None:
        """Store a new experiment (``Conflict`` if its id exists)."""
        ...

    def update_experiment(self, experiment: Experiment, expected_version: int) -> bool:
        """Replace the experiment if its stored version is still ``expected_version``
        (``experiment.version`` is stored); False when another writer got there first."""
        ...

    def get_experiment(self, experiment_id: str) -> Experiment | None: ...

    def list_experiments(self, namespace: str | None = None) -> list[Experiment]:
        """Every experiment (of one namespace), oldest id first."""
        ...

    def save_exposures(
        self,
        exposures: Sequence[ExposureRecord],
        served: Sequence[ExperimentServedRecord],
        check: ErasureCheck | None = None,
    ) -> int:
        """In one transaction: exposures (one per person and experiment; a later one for the
        same pair is ignored, whichever worker sends it) and served lists (idempotent);
        with ``check``, rows of people erased since are dropped. Returns the new exposures."""
        ...

    def experiment_data(
        self,
        experiment_id: str,
        window_seconds: float,
        event_types: Collection[str],
        until: float,
        prior: bool = False,
    ) -> ExperimentData:
        """Exposures, served lists up to ``until`` and the events of ``event_types``
        attributed to them: same person, carrying the list's recommendation id, at most
        ``window_seconds`` after the list (and up to ``until``). With ``prior``, each exposed
        person's count of events before their first exposure."""
        ...


class Store(
    PolicyStore, KeyStore, TokenStore, AuditStore, PrivacyStore, MessageStore, ExperimentStore, Protocol
):
    """Durable state: catalog, people, events, profiles, aggregates, and every concern above."""

    url: str

    def migrate(self) -> None:
        """Apply every pending migration (``tactful db upgrade``; never implicit on a schema in use)."""
        ...

    def schema_version(self) -> str | None:
        """The schema revision the database is at (None before the first migration)."""
        ...

    def schema_state(self) -> SchemaState:
        """The database's revision against this code's migrations, read without changing anything."""
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

    def iter_event_columns(self, batch_size: int = 50_000, after_seq: int = 0) -> Iterator[EventColumns]:
        """Every stored event with ``seq > after_seq``, in ``seq`` order, a page of columns at
        a time (no page is empty)."""
        ...

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
    "ExperimentServedRecord",
    "ExperimentStore",
    "ExposureRecord",
    "Freshness",
    "ItemStat",
    "ItemStateRow",
    "KeyRecord",
    "KeyStore",
    "PolicyStore",
    "PrivacyStore",
    "PromotionFields",
    "SchemaState",
    "ServedList",
    "Store",
    "StoredAuditRecord",
    "StoredEvent",
    "UnitOfWork",
]
