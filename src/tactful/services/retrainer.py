"""Scheduled retraining for a serving process: on a timer, or when enough new events arrived."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from tactful.errors import TactfulError

log = logging.getLogger("tactful.models")


class Retrainer:
    """Calls ``train`` when ``every_s`` passed or ``after_events`` new events were stored.

    ``last_seq`` reports the newest stored event sequence number; checks run every
    ``poll_s`` in a daemon thread. Training publishes a new model; every worker's registry
    then hot-reloads it.
    """

    def __init__(
        self,
        train: Callable[[], object],
        last_seq: Callable[[], int],
        every_s: float,
        after_events: int,
        poll_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        due_now: bool = False,
    ) -> None:
        self.train = train
        self.last_seq = last_seq
        self.every_s = every_s
        self.after_events = after_events
        self.poll_s = poll_s
        self.clock = clock
        self.trained_at = clock() - (every_s if due_now else 0.0)
        self.trained_seq = 0 if due_now else last_seq()
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self) -> bool:
        by_time = self.every_s > 0 and self.clock() - self.trained_at >= self.every_s
        by_events = self.after_events > 0 and self.last_seq() - self.trained_seq >= self.after_events
        return by_time or by_events

    def check(self) -> bool:
        """Train now if due; returns whether it trained."""
        if not self.due():
            return False
        seq = self.last_seq()
        try:
            report = self.train()
        except TactfulError as exc:
            log.warning("scheduled training skipped: %s", exc.message)
        else:
            log.info("scheduled training: %s", report)
            self.runs += 1
        self.trained_at = self.clock()
        self.trained_seq = seq
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tactful-retrain", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.check()
            except Exception:
                log.exception("scheduled training failed")

    def stop(self) -> None:
        self._stop.set()
