"""The model a worker serves, hot-reloaded when a new version is published.

Requests always read ``registry.current`` (a plain reference); a new artifact is loaded in a
background thread and swapped in only once it is complete, so a reload never fails or
blocks a request. Workers notice a new version by polling the ``CURRENT`` pointer of the
model store (a folder or any fsspec URL).
"""

from __future__ import annotations

import logging
import threading
import time

from tactful.metrics import observe_model
from tactful.models.recommender import Recommender
from tactful.models.store import ModelStore

log = logging.getLogger("tactful.models")


class ModelRegistry:
    """Holds the served :class:`Recommender` and swaps it when ``CURRENT`` changes."""

    def __init__(self, models: ModelStore, check_every: float = 2.0) -> None:
        self.models = models
        self.check_every = check_every
        self.current: Recommender | None = None
        self.version: str | None = None
        self._checked = 0.0
        self._loading: threading.Thread | None = None
        self._lock = threading.Lock()
        self.reload(wait=True)

    def get(self) -> Recommender | None:
        """The served model; at most every ``check_every`` s, look for a newer one."""
        now = time.monotonic()
        if now - self._checked >= self.check_every:
            self._checked = now
            self.reload(wait=False)
        return self.current

    def published_version(self) -> str | None:
        """The version published for serving (what this worker should be serving)."""
        try:
            return self.models.current()
        except OSError:
            return None

    def reload(self, wait: bool = True) -> bool:
        """Load the published version if it differs from the served one."""
        try:
            wanted = self.models.current()
        except OSError:
            log.warning("model store %s unreachable; keeping %s", self.models.url, self.version)
            return False
        if wanted is None or wanted == self.version:
            return False
        with self._lock:
            if self._loading is not None and self._loading.is_alive():
                thread = self._loading
            else:
                thread = threading.Thread(target=self._load, args=(wanted,), daemon=True)
                self._loading = thread
                thread.start()
        if wait:
            thread.join()
        return True

    def _load(self, version: str) -> None:
        try:
            model = Recommender(self.models.load(version))
        except Exception:
            log.exception("could not load model %s; keeping %s", version, self.version)
            return
        previous = self.version
        self.current, self.version = model, version
        ndcg = model.artifact.extra.get("validation_ndcg@10")
        observe_model(previous, version, float(ndcg) if isinstance(ndcg, int | float) else None)
        log.info("serving model %s", version)
