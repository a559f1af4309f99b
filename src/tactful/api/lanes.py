"""Engine calls run off the event loop, on small sized thread pools with bounded queues.

The routes are ``async``: the event loop reads, validates and serializes requests, and each
engine call goes to one of two pools (see :class:`tactful.config.settings.ServingSettings`
for the reasoning and the defaults):

- **read**: recommendations, profiles, lookups;
- **write**: events, catalog, preferences, erasure, so that a long batch never holds up a
  recommendation.

A call that finds its pool busy and ``queue`` calls already waiting is refused at once with
:class:`~tactful.errors.Overloaded` (503 with ``Retry-After``) before any of it runs: under
overload the server keeps answering quickly instead of letting every request slow down.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import ParamSpec, TypeVar

from tactful.config.settings import ServingSettings
from tactful.errors import Overloaded

P = ParamSpec("P")
T = TypeVar("T")


class Lane:
    """One thread pool with a bound on the calls running or waiting in it."""

    def __init__(self, name: str, threads: int, queue: int, retry_after: float = 1.0) -> None:
        self.name = name
        self.threads = threads
        self.limit = threads + queue
        self.retry_after = retry_after
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"tactful-{name}")
        self._lock = threading.Lock()
        self._admitted = 0
        self.shed = 0  # calls refused since start (for tests and diagnostics)

    @property
    def admitted(self) -> int:
        """Calls running or waiting now."""
        return self._admitted

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` on this pool and wait for it without blocking the loop."""
        with self._lock:
            if self._admitted >= self.limit:
                self.shed += 1
                raise Overloaded(
                    f"server busy: {self._admitted} {self.name} requests running or waiting; retry shortly",
                    retry_after=self.retry_after,
                )
            self._admitted += 1
        try:
            # the request's context (its request id, for logs) goes with the call to the thread
            context = contextvars.copy_context()
            future = self._pool.submit(partial(context.run, fn, *args, **kwargs))
        except RuntimeError:  # the pool is shut down: the server is stopping
            self._release(None)
            raise Overloaded("server shutting down; retry shortly", retry_after=self.retry_after) from None
        # Released when the call ends or is cancelled before it started, never earlier: a
        # client that hangs up does not free a slot its call still occupies.
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _: Future[T] | None) -> None:
        with self._lock:
            self._admitted -= 1

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)


class Lanes:
    """The read and write pools of one server process."""

    def __init__(self, settings: ServingSettings) -> None:
        retry = float(settings.retry_after_seconds)
        self.read = Lane("read", settings.read_threads, settings.queue, retry)
        self.write = Lane("write", settings.write_threads, settings.queue, retry)

    def shutdown(self, wait: bool = True) -> None:
        """Finish what was admitted, then stop the threads."""
        self.read.shutdown(wait)
        self.write.shutdown(wait)
