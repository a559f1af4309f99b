"""Served recommendation lists, written in the background so serving never waits on a write."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from tactful.storage.protocol import ServedList, Store

log = logging.getLogger("tactful.engine")


class RecommendationLog:
    """Buffers served lists and flushes them in batches (every ``interval`` s or ``batch`` lists)."""

    def __init__(self, store: Store, interval: float = 0.25, batch: int = 500) -> None:
        self.store = store
        self.interval = interval
        self.batch = batch
        self._pending: list[ServedList] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tactful-reclog", daemon=True)
        self._thread.start()

    def record(self, rec_id: str, user_id: str, surface: str, at: float, item_ids: Sequence[str]) -> None:
        with self._lock:
            self._pending.append(ServedList(rec_id, user_id, surface, at, tuple(item_ids)))
            full = len(self._pending) >= self.batch
        if full:
            self._wake.set()

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, []
        if pending:
            try:
                self.store.save_recommendations(pending)
            except Exception:
                log.exception("could not write %d served lists", len(pending))
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
