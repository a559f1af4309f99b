"""This worker's recent answers, reused while nothing they depend on has changed.

A list depends on the person's stored state, the catalog, the promotions, the served model,
the person's back-off counter, the run config, the surface and length asked for, and the
time (decay, trending, availability windows, the day's exploration seed). An answer is kept
with a *stamp* of every versioned input and the moment it stops being valid:

- the versions come from the request's freshness check (one query that every request makes
  anyway, so a change through any worker is seen on the next request, P1) and from the
  model registry;
- the expiry is the earliest of ``ttl`` seconds, the end of the day (exploration is seeded
  per day) and the next moment an item's availability window opens or closes.

A request whose stamp matches and whose time is before the expiry gets the same items,
notes and engagement level under a new recommendation id; it is still recorded in the
served log and still counts for back-off exactly as a fresh answer would (the caller does
that). Lists with promotions are never kept: caps and placements are decided per request.
Only requests under the base run config are kept; overrides and re-ranks always run.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tactful.index.catalog import CatalogIndex

DAY = 86_400.0
V = TypeVar("V")


@dataclass(frozen=True)
class Stamp:
    """Every versioned input of one answer."""

    person_version: int | None
    catalog_version: int
    promotions_version: int
    model_version: str | None
    backoff: Hashable


class AnswerCache(Generic[V]):
    """A bounded, thread-safe map of request keys to answers with their stamp and expiry."""

    def __init__(self, capacity: int, ttl_seconds: float) -> None:
        self.capacity = capacity
        self.ttl = ttl_seconds
        self._entries: OrderedDict[tuple[str, Hashable], tuple[Stamp, float, float, V]] = OrderedDict()
        self._by_person: dict[str, set[tuple[str, Hashable]]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.capacity > 0 and self.ttl > 0

    def get(self, user_id: str, key: Hashable, stamp: Stamp, now: float) -> V | None:
        """The kept answer for ``key`` if its stamp is ``stamp`` and it has not expired."""
        if not self.enabled:
            return None
        with self._lock:
            found = self._entries.get((user_id, key))
            if found is None or found[0] != stamp or not found[1] <= now < found[2]:
                self.misses += 1
                return None
            self._entries.move_to_end((user_id, key))
            self.hits += 1
            return found[3]

    def put(
        self,
        user_id: str,
        key: Hashable,
        stamp: Stamp,
        now: float,
        catalog: CatalogIndex,
        value: V,
        until: float = float("inf"),
    ) -> None:
        """Keep ``value``; it expires at the earliest of :func:`valid_until` and ``until``."""
        if not self.enabled:
            return
        expires = min(valid_until(now, self.ttl, catalog), until)
        full = (user_id, key)
        with self._lock:
            self._entries[full] = (stamp, now, expires, value)
            self._entries.move_to_end(full)
            self._by_person.setdefault(user_id, set()).add(full)
            while len(self._entries) > self.capacity:
                oldest, _ = self._entries.popitem(last=False)
                keys = self._by_person.get(oldest[0], set())
                keys.discard(oldest)
                if not keys:
                    self._by_person.pop(oldest[0], None)

    def drop(self, user_id: str) -> None:
        """Forget every answer for one person (erasure, or a change made on this worker)."""
        with self._lock:
            for full in self._by_person.pop(user_id, set()):
                self._entries.pop(full, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_person.clear()

    def __len__(self) -> int:
        return len(self._entries)


def valid_until(now: float, ttl: float, catalog: CatalogIndex) -> float:
    """The earliest of ``now + ttl``, the next day boundary and the next availability change."""
    return min(now + ttl, (now // DAY + 1) * DAY, catalog.next_availability_change(now))
