"""This worker's serving state: the catalog index and people's cached profiles, kept current.

Every request reads the store's versions first (one small query, see
:class:`~tactful.storage.protocol.Freshness`). A cached person at the stored version is
used as is; one that is behind is brought forward by reading only the rows written after
the version it holds (:meth:`Store.load_person_delta`), and its array layout is patched at
those rows. Only when rows were deleted since (a mute, an opt-out) or the person is not
cached is the whole profile read. An ingest on this worker moves its own cache forward
from the rows the batch wrote, without reading anything.

So a change made through any worker is visible to the next request on every worker (P1),
and no step costs more than what changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from tactful.config.run import RunConfig
from tactful.domain.person import Person
from tactful.domain.stats import ItemStat
from tactful.index.catalog import CatalogIndex
from tactful.index.compiled_profile import CompiledProfile
from tactful.index.person_state import PersonState, person_state
from tactful.index.profile_cache import CachedPerson, ProfileCache
from tactful.signals.profile import Profile, ProfileDelta
from tactful.storage.protocol import Freshness, Store


class PersonStates:
    """The catalog index and a cache of people's profiles, validated per request."""

    def __init__(
        self,
        store: Store,
        freshness: Callable[[str], Freshness],
        half_lives: dict[str, float],
        capacity: int = 20_000,
        on_catalog_change: Sequence[Callable[[], None]] = (),
        on_people_change: Sequence[Callable[[Mapping[str, int | None]], None]] = (),
    ) -> None:
        self.store = store
        self.freshness = freshness
        self.half_lives = half_lives
        self.profiles = ProfileCache(capacity)
        self.on_catalog_change = list(on_catalog_change)
        self.on_people_change = list(on_people_change)
        self._catalog: CatalogIndex | None = None
        self._lock = threading.Lock()
        self.deltas = 0
        self.full_loads = 0

    # -- catalog ---------------------------------------------------------------------------
    def catalog(self, version: int | None = None) -> CatalogIndex:
        """The current catalog index, rebuilt when any worker changed the catalog."""
        if version is None:
            version = self.store.catalog_version()
        current = self._catalog
        if current is not None and current.version == version:
            return current
        with self._lock:
            if self._catalog is None or self._catalog.version != version:
                # Erasure bumps the catalog version too: dropping cached profiles here means no
                # worker can serve an erased person's state, even if the id returns later.
                self.profiles.clear()
                for callback in self.on_catalog_change:
                    callback()
                self._catalog = CatalogIndex.build(
                    self.store.load_catalog(),
                    self.store.load_tag_meta(),
                    self.store.load_all_item_stats(),
                    version,
                )
            return self._catalog

    def held_catalog(self) -> CatalogIndex | None:
        """The index this worker holds now, without checking the store."""
        return self._catalog

    def apply_stats(self, stats: Sequence[ItemStat]) -> None:
        catalog = self._catalog
        if catalog is not None and stats:
            catalog.apply_stats(list(stats))

    # -- people ----------------------------------------------------------------------------
    def cached(self, user_id: str, fresh: Freshness | None = None) -> tuple[CatalogIndex, CachedPerson]:
        """The catalog and the person's state at the stored version."""
        fresh = fresh or self.freshness(user_id)
        catalog = self.catalog(fresh.catalog_version)
        version = fresh.person_version
        entry = self.profiles.get(user_id, version)
        if entry is None:
            entry = self._forward(user_id, version, catalog)
        if entry.compiled is None or entry.compiled.catalog_version != catalog.version:
            compiled = CompiledProfile.build(entry.profile, catalog)
            entry = CachedPerson(entry.version, entry.person, entry.profile, compiled)
        self.profiles.put(user_id, entry)
        return catalog, entry

    def state(
        self, user_id: str, now: float, config: RunConfig, fresh: Freshness | None = None
    ) -> PersonState:
        """The person seen at ``now``, ready for scoring under ``config``."""
        catalog, entry = self.cached(user_id, fresh)
        r = config.ramp
        level = entry.profile.engagement(r.warming_after, r.engaged_after, r.engaged_min_days)
        return person_state(catalog, entry.person, entry.profile, now, self.half_lives, level, entry.compiled)

    def _forward(self, user_id: str, version: int | None, catalog: CatalogIndex) -> CachedPerson:
        """Bring a behind entry forward from the rows written since, or read the person whole."""
        held = self.profiles.peek(user_id)
        if held is not None and held.version is not None and version is not None and held.version < version:
            found = self.store.load_person_delta(user_id, held.version)
            if found is not None:
                person, delta = found
                self.deltas += 1
                return self.moved(held, person, delta, catalog)
        self.full_loads += 1
        person_row, profile, stored = self.store.load_person_state(user_id)
        return CachedPerson(stored, person_row or Person(id=user_id), profile)

    @staticmethod
    def moved(held: CachedPerson, person: Person, delta: ProfileDelta, catalog: CatalogIndex) -> CachedPerson:
        """``held`` with ``delta`` applied: a new entry (requests still reading ``held`` are safe)."""
        profile: Profile = delta.applied_to(held.profile)
        compiled = held.compiled
        if compiled is not None and compiled.catalog_version == catalog.version:
            compiled = compiled.updated(profile, catalog, delta.items.keys(), delta.interests.keys())
        else:
            compiled = None
        return CachedPerson(delta.version, person, profile, compiled)

    def after_write(
        self, user_id: str, before: int, person: Person, delta: ProfileDelta | Callable[[], ProfileDelta]
    ) -> None:
        """This worker wrote ``delta`` over version ``before``: move its entry along if it held that.

        ``delta`` may be given as a function making it, called only when the entry is held
        (most people in a batch are not cached on the worker that ingests it)."""
        held = self.profiles.peek(user_id)
        catalog = self._catalog
        if held is None or held.version != before or catalog is None:
            return  # the next request reads what changed since the version it holds
        rows = delta() if callable(delta) else delta
        self.profiles.put(user_id, self.moved(held, person, rows, catalog))

    def announce(self, versions: Mapping[str, int | None]) -> None:
        """This worker stored changes to these people (new versions, None if not known): tell
        whoever listens (the other workers, through Redis). Never needed for correctness: every
        request checks the stored version anyway."""
        for callback in self.on_people_change:
            callback(versions)

    def drop(self, user_id: str) -> None:
        self.profiles.drop(user_id)

    def clear(self) -> None:
        self.profiles.clear()
