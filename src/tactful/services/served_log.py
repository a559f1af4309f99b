"""Served recommendation lists and back-off counters, written in the background so serving never waits.

Back-off counters (P7) count personalized slots a person was served without responding.
Writing one per request would cost every request a write transaction, so the counter a
request produces is kept here, in memory, and written with the next batch. The trade-off:

- **This worker** always sees its own newest counter: :meth:`RecommendationLog.pending_backoff`
  returns it until the write has committed (read it *before* the database, so the moment a
  counter leaves the buffer its row is already visible). The next request on this worker
  therefore counts exactly as if the write had been synchronous.
- **Other workers** see it at once when Redis is configured (the counter is also put there,
  see :mod:`tactful.services.shared`), else after the next flush (``interval`` seconds at
  most while the database keeps up). Counters were already last-writer-wins across workers (read, count,
  write, without a lock), so a person served by several workers at once may be counted a
  little late or short; back-off is a soft signal and this never shows anything the person
  asked not to see.
- Export and erasure call :meth:`flush` first, so pending counters are part of an export;
  when the database cannot take them, the export or erasure fails (503) instead of going
  on without them.
- An erasure on *another* worker cannot flush this one's buffer. Each write therefore
  carries a :class:`~tactful.services.tombstones.Tombstones` check: inside its own
  transaction the store looks up erasure tombstones and drops every buffered row of a
  person erased after the row was produced, so nothing buffered outlives an erasure.

Nothing buffered is dropped. A write that fails (a busy or unavailable database) is retried
with back-off, and what it carried stays buffered until a write succeeds. The buffer is
bounded (``max_pending`` lists, and as many counters): when it is full, :meth:`record`
refuses with :class:`~tactful.errors.Overloaded`, so the recommendation request gets a 503
with ``Retry-After`` rather than a list that would never be stored. :meth:`close` (called
when the server shuts down) writes what is left, retrying for up to ``close_seconds``.

Promotion caps are *not* handled here: a promoted placement is written synchronously,
before the list is returned, so caps stay exact.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential, wait_random

from tactful.errors import Overloaded, StorageError
from tactful.policy.hints import BackoffCounter
from tactful.services.shared import SharedState
from tactful.services.tombstones import Tombstones
from tactful.storage.protocol import ErasureCheck, ServedList, Store

log = logging.getLogger("tactful.engine")

T = TypeVar("T")
BackoffWriter = Callable[..., int]
"""``(counters, check=ErasureCheck | None) -> written``: writes back-off counters."""


class RecommendationLog:
    """Buffers served lists (and back-off counters) and writes them in batches.

    A flush runs every ``interval`` s or once ``batch`` lists are waiting, and writes at
    most ``batch`` lists per transaction so each write stays short. Counters are kept only
    when a ``save_backoff`` writer is given. A failed write is retried with exponential
    back-off (``retry_wait`` = first and longest pause, in s) for up to ``retry_seconds``;
    the background thread then tries again on its next round, with everything still
    buffered.
    """

    def __init__(
        self,
        store: Store,
        interval: float = 0.25,
        batch: int = 500,
        save_backoff: BackoffWriter | None = None,
        max_pending: int = 20_000,
        retry_seconds: float = 5.0,
        close_seconds: float = 30.0,
        retry_wait: tuple[float, float] = (0.05, 2.0),
        tombstones: Tombstones | None = None,
        shared: SharedState | None = None,
    ) -> None:
        self.store = store
        self.shared = shared
        self.tombstones = tombstones
        self.interval = interval
        self.batch = batch
        self.save_backoff = save_backoff
        self.max_pending = max_pending
        self.retry_seconds = retry_seconds
        self.close_seconds = close_seconds
        self.retry_wait = retry_wait
        self._pending: list[ServedList] = []
        self._counters: dict[str, tuple[BackoffCounter, float]] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tactful-reclog", daemon=True)
        self._thread.start()

    # -- serving ---------------------------------------------------------------------------
    def record(
        self,
        rec_id: str,
        user_id: str,
        surface: str,
        at: float,
        item_ids: Sequence[str],
        backoff: BackoffCounter | None = None,
    ) -> None:
        """Buffer a served list and, when it changed, the person's new back-off counter.

        Raises :class:`Overloaded` (nothing buffered) when the buffer is full.
        """
        keep_counter = backoff is not None and self.save_backoff is not None
        with self._lock:
            if len(self._pending) >= self.max_pending or (
                keep_counter and user_id not in self._counters and len(self._counters) >= self.max_pending
            ):
                raise Overloaded(
                    f"{len(self._pending)} served lists are waiting for the database; retry shortly"
                )
            self._pending.append(ServedList(rec_id, user_id, surface, at, tuple(item_ids)))
            if keep_counter:
                assert backoff is not None
                self._counters[user_id] = (backoff, at)
            full = len(self._pending) >= self.batch or len(self._counters) >= self.batch
        if keep_counter and self.shared is not None:
            assert backoff is not None
            self.shared.put_backoff(user_id, backoff, at)  # every worker counts on from it at once
        if self._stop.is_set():  # closed: nobody flushes in the background any more
            self.flush()
        elif full:
            self._wake.set()

    def pending_backoff(self, user_id: str) -> BackoffCounter | None:
        """The person's newest counter not yet written, if any (takes precedence over the store):
        this worker's own, or a newer one another worker put in Redis."""
        entry = self._counters.get(user_id)
        if self.shared is not None:
            elsewhere = self.shared.backoff(user_id)
            if elsewhere is not None and (entry is None or elsewhere[1] > entry[1]):
                return elsewhere[0]
        return None if entry is None else entry[0]

    def forget(self, user_id: str) -> None:
        """An erased person: drop the counter kept in Redis (the buffer is checked at write time)."""
        if self.shared is not None:
            self.shared.drop_backoff(user_id)

    @property
    def pending(self) -> int:
        """Served lists buffered and not yet written."""
        return len(self._pending)

    # -- writing ---------------------------------------------------------------------------
    def flush(self) -> int:
        """Write everything buffered now; returns the number of served lists written.

        Raises :class:`StorageError` when the database still refuses after ``retry_seconds``
        of retries; whatever was not written stays buffered.
        """
        try:
            return self._flush(self.retry_seconds)
        except Exception as exc:
            raise StorageError(f"could not write served lists or back-off counters: {exc}") from exc

    def _flush(self, seconds: float) -> int:
        with self._flush_lock:  # one flush at a time, so an older counter never overwrites a newer one
            written = 0
            with self._lock:
                todo = len(self._pending)
            while written < todo:
                with self._lock:  # record() only appends, and only a flush removes from the front
                    chunk = self._pending[: min(self.batch, todo - written)]
                check = self._check(s.user_id for s in chunk)
                self._retry(seconds, partial(self.store.save_recommendations, check=check), chunk)
                with self._lock:
                    del self._pending[: len(chunk)]
                written += len(chunk)
            if self._counters and self.save_backoff is not None:
                with self._lock:
                    counters = dict(self._counters)
                rows = [(user, c, at) for user, (c, at) in counters.items()]
                self._retry(seconds, partial(self.save_backoff, check=self._check(counters)), rows)
                with self._lock:
                    for user, entry in counters.items():
                        if self._counters.get(user) is entry:
                            del self._counters[user]
            return written

    def _check(self, user_ids: Iterable[str]) -> ErasureCheck | None:
        return None if self.tombstones is None else self.tombstones.check(user_ids)

    def _retry(self, seconds: float, write: Callable[[T], object], rows: T) -> None:
        first, longest = self.retry_wait
        for attempt in Retrying(
            stop=stop_after_delay(seconds),
            wait=wait_exponential(multiplier=first, max=longest) + wait_random(0, first),
            retry=retry_if_exception_type(Exception),
            reraise=True,
        ):
            with attempt:
                write(rows)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self._flush(self.retry_seconds)
            except Exception as exc:  # kept: the next round retries, and record() sheds when full
                log.warning(
                    "could not write %d served lists and %d back-off counters yet (%s); kept, retrying",
                    len(self._pending),
                    len(self._counters),
                    exc,
                )

    def close(self) -> None:
        """Stop the background thread and write what is left (retrying up to ``close_seconds``)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.retry_seconds + 5)
        try:
            self._flush(self.close_seconds)
        except Exception as exc:
            log.error(
                "closing with %d served lists and %d back-off counters unwritten: %s",
                len(self._pending),
                len(self._counters),
                exc,
            )
            raise StorageError(f"could not write buffered served lists before closing: {exc}") from exc
