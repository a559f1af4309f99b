"""Served recommendation lists and back-off counters, written in the background so serving never waits.

Back-off counters (P7) count personalized slots a person was served without responding.
Writing one per request would cost every request a write transaction, so the counter a
request produces is kept here, in memory, and written with the next batch. The trade-off:

- **This worker** always sees its own newest counter: :meth:`RecommendationLog.pending_backoff`
  returns it until the write has committed (read it *before* the database, so the moment a
  counter leaves the buffer its row is already visible). The next request on this worker
  therefore counts exactly as if the write had been synchronous.
- **Other workers** see it after the next flush (``interval`` seconds at most). Counters
  were already last-writer-wins across workers (read, count, write, without a lock), so a
  person served by several workers at once may be counted a little late or short; back-off
  is a soft signal and this never shows anything the person asked not to see.
- A crash loses at most ``interval`` seconds of counts (the person backs off a little later).
- Export and erasure call :meth:`flush` first, so pending counters are part of an export
  and cannot be written after an erasure.

Promotion caps are *not* handled here: a promoted placement is written synchronously,
before the list is returned, so caps stay exact.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from tactful.policy.hints import BackoffCounter
from tactful.storage.protocol import ServedList, Store

log = logging.getLogger("tactful.engine")

BackoffWriter = Callable[[Sequence[tuple[str, BackoffCounter, float]]], None]


class RecommendationLog:
    """Buffers served lists (and back-off counters) and flushes them in batches.

    A flush runs every ``interval`` s or once ``batch`` lists are waiting. Counters are
    kept only when a ``save_backoff`` writer is given.
    """

    def __init__(
        self,
        store: Store,
        interval: float = 0.25,
        batch: int = 500,
        save_backoff: BackoffWriter | None = None,
    ) -> None:
        self.store = store
        self.interval = interval
        self.batch = batch
        self.save_backoff = save_backoff
        self._pending: list[ServedList] = []
        self._counters: dict[str, tuple[BackoffCounter, float]] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tactful-reclog", daemon=True)
        self._thread.start()

    def record(
        self,
        rec_id: str,
        user_id: str,
        surface: str,
        at: float,
        item_ids: Sequence[str],
        backoff: BackoffCounter | None = None,
    ) -> None:
        """Buffer a served list and, when it changed, the person's new back-off counter."""
        with self._lock:
            self._pending.append(ServedList(rec_id, user_id, surface, at, tuple(item_ids)))
            if backoff is not None and self.save_backoff is not None:
                self._counters[user_id] = (backoff, at)
            full = len(self._pending) >= self.batch or len(self._counters) >= self.batch
        if full:
            self._wake.set()

    def pending_backoff(self, user_id: str) -> BackoffCounter | None:
        """The person's newest counter not yet written, if any (takes precedence over the store)."""
        entry = self._counters.get(user_id)
        return None if entry is None else entry[0]

    def flush(self) -> int:
        """Write what is buffered; returns the number of served lists written."""
        with self._flush_lock:  # one flush at a time, so an older counter never overwrites a newer one
            with self._lock:
                pending, self._pending = self._pending, []
                counters = dict(self._counters)
            if pending:
                try:
                    self.store.save_recommendations(pending)
                except Exception:
                    log.exception("could not write %d served lists", len(pending))
            if counters and self.save_backoff is not None:
                try:
                    self.save_backoff([(user, c, at) for user, (c, at) in counters.items()])
                except Exception:  # kept, so reads still see them and the next flush retries
                    log.exception("could not write %d back-off counters", len(counters))
                else:
                    with self._lock:
                        for user, entry in counters.items():
                            if self._counters.get(user) is entry:
                                del self._counters[user]
        return len(pending)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self.flush()
