"""SQLite WAL checkpoints on a thread of their own, off the request path.

In WAL mode, SQLite copies the log back into the database file (a checkpoint) from within
whichever commit finds the log past 1,000 pages: that commit then writes about 4 MiB and
waits for two fsyncs, some 30 ms on an ordinary disk, so one request in a few hundred
paid for everyone's writes (the single-event p99). Here request connections never
checkpoint (``wal_autocheckpoint=0``); a :class:`WalCheckpointer` per store runs a
``PASSIVE`` checkpoint shortly after writes (it never blocks readers or writers, and
sqlite3 releases the GIL while it runs), at least every :data:`IDLE_SECONDS`, and once
more on close. Several processes on one file each run theirs; SQLite lets one at a time
proceed and the others find nothing left to do.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading

log = logging.getLogger("tactful.storage")

SETTLE_SECONDS = 0.2
"""How long after a write the checkpoint waits, so a burst of commits is copied back once."""
IDLE_SECONDS = 5.0
"""A checkpoint runs at least this often (writes by other processes are not signalled here)."""
WAL_LIMIT_BYTES = 64 * 1024 * 1024
"""The log file is truncated back to this size after a checkpoint resets it."""


class WalCheckpointer:
    """Checkpoints one SQLite database file from a daemon thread until :meth:`close`."""

    def __init__(self, path: str, busy_timeout_s: float) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.checkpoints = 0  # completed runs (for tests and diagnostics)
        self._due = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tactful-checkpoint", daemon=True)
        self._thread.start()

    def wrote(self) -> None:
        """A transaction committed: checkpoint soon."""
        self._due.set()

    def close(self) -> None:
        """Stop the thread after one last checkpoint (idempotent)."""
        self._stop.set()
        self._due.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._due.wait(IDLE_SECONDS)
                stopping = self._stop.wait(SETTLE_SECONDS)
                self._due.clear()
                if conn is None and os.path.exists(self.path):  # never creates the file itself
                    try:
                        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
                    except sqlite3.Error as exc:  # the store itself reports an unusable file
                        log.warning("cannot open %s for WAL checkpoints: %s", self.path, exc)
                if conn is not None:
                    self._checkpoint(conn)
                if stopping:
                    return
        finally:
            if conn is not None:
                conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error as exc:  # busy or a transient I/O error: the next round retries
            log.debug("WAL checkpoint of %s skipped: %s", self.path, exc)
