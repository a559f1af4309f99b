"""A per-worker cache of people's profiles, validated against the stored version on every read.

Every profile write bumps ``persons.version`` in the same transaction, so a worker that
sees a different version reloads: changes made by any worker are visible to the next
request (P1), and the common case costs one tiny query instead of a profile load.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from tactful.domain.person import Person
from tactful.index.compiled_profile import CompiledProfile
from tactful.signals.profile import Profile


@dataclass
class CachedPerson:
    version: int | None
    person: Person
    profile: Profile
    compiled: CompiledProfile | None = None


class ProfileCache:
    """Least-recently-used entries keyed by person id."""

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, CachedPerson] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user_id: str, version: int | None) -> CachedPerson | None:
        with self._lock:
            entry = self._entries.get(user_id)
            if entry is None or entry.version != version:
                return None
            self._entries.move_to_end(user_id)
            return entry

    def peek(self, user_id: str) -> CachedPerson | None:
        """The entry whatever its version (to update it in place), without touching recency."""
        with self._lock:
            return self._entries.get(user_id)

    def put(self, user_id: str, entry: CachedPerson) -> None:
        with self._lock:
            current = self._entries.get(user_id)
            if current is not None and current.version is not None and entry.version is not None:
                if current.version > entry.version:
                    return
            self._entries[user_id] = entry
            self._entries.move_to_end(user_id)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def drop(self, user_id: str) -> None:
        with self._lock:
            self._entries.pop(user_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
