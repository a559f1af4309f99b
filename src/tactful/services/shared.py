"""What workers on every host share through Redis, and what they do while it is gone.

The database stays the source of truth: every request still reads the person's version
from it (the freshness query), so a list is right whether Redis is there or not. Redis
carries what is hot and shared on top of that, on one pub/sub channel, so that a request
normally makes **no** Redis round trip at all:

- **Back-off and visit counters not yet written** (the recent feedback of served lists,
  P7). A worker buffers the counter a request produced and writes it to the database in
  the background (:class:`~tactful.services.served_log.RecommendationLog`). When a request
  *changed* the person's counter (the first list of a visit, not a reload), the worker
  also sends it to every other worker at once, in one pipelined round trip: a ``SET`` of
  the person's key (expiring after ``ttl`` seconds, by which time the database has the
  row) and a message on the channel. Each worker keeps the counters it hears of in memory
  (bounded, expiring with the keys), so the next request for that person on *any* worker,
  on any host, counts on from it instead of from the older row in the database, without
  asking Redis. A worker that has just (re)joined the channel may have missed messages:
  for ``catch_up`` seconds after it subscribes it asks Redis for the key per request, as
  the keys carry everything a missed message did.
- **A stream of person versions.** A worker that stored a change publishes ``person
  versions``, ``catalog`` or ``model``; every other worker drops its kept answers for
  those people at once and, on ``model``, loads the newly published model without waiting
  for its next poll. Since the freshness query decides anyway, a lost message costs
  nothing but memory for a while.
- **Erasure** deletes the person's key and tells every worker to forget the counter it
  holds (and a catalog change, which an erasure is, clears them all: see the engine).

Between a ``PUBLISH`` and another worker's listener applying it lies well under a
millisecond; a request reaching that worker inside the gap counts from the counter before
(a little short), as two workers serving one person at the same instant always could:
back-off is a soft signal and this never shows anything the person asked not to see.

When Redis cannot be reached, a warning is logged once, ``tactful_redis_up`` drops to 0,
and each call returns at once as if Redis held nothing (counters come from this worker's
buffer and the database, as with a single worker; answers stay checked by the freshness
query). The listener notices a lost connection by itself. Calls are retried after
``retry_seconds``; the first one that succeeds logs that Redis is back, and the
subscription reconnects by itself (then catches up as above).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from tactful.metrics import metrics
from tactful.policy.hints import BackoffCounter

log = logging.getLogger("tactful.redis")
T = TypeVar("T")
CHANNEL = "changes"


class SharedState:
    """One worker's Redis connection, with the fallbacks above. Thread-safe."""

    def __init__(
        self,
        url: str,
        prefix: str = "tactful:",
        ttl: float = 60.0,
        retry_seconds: float = 1.0,
        timeout: float = 0.25,
        catch_up: float = 5.0,
        max_counters: int = 100_000,
    ) -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - only without the extra
            hint = "TACTFUL_REDIS_URL needs the redis extra: pip install 'tactful[redis]'"
            raise ImportError(hint) from exc
        self.url = url
        self.prefix = prefix
        self.ttl = ttl
        self.retry_seconds = retry_seconds
        self.catch_up = catch_up
        self.max_counters = max_counters
        self._redis = redis
        self.client: Any = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=0
        )
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # counters other workers sent: user -> (counter, produced at, forgotten at, monotonic)
        self._counters: dict[str, tuple[BackoffCounter, float, float]] = {}
        self._subscribed_at: float | None = None  # when the listener last joined the channel
        self.source = f"{id(self):x}"  # this worker's messages are not applied to itself
        metrics().redis_up.set(1)

    # -- health ----------------------------------------------------------------------------
    @property
    def up(self) -> bool:
        return self._down_since is None

    def ping(self) -> bool:
        """Whether Redis answers now (readiness); also ends an outage when it does."""
        return bool(self._call(lambda: self.client.ping(), False, force=True))

    def _call(self, fn: Callable[[], T], fallback: T, force: bool = False) -> T:
        """``fn()`` against Redis, or ``fallback`` (at once, without trying) during an outage."""
        if self._down_since is not None and not force and time.monotonic() < self._retry_at:
            return fallback
        try:
            result = fn()
        except self._redis.RedisError as exc:
            self._failed(exc)
            return fallback
        if self._down_since is not None:
            self._recovered()
        return result

    def _failed(self, exc: Exception) -> None:
        metrics().redis_errors.inc()
        with self._lock:
            self._retry_at = time.monotonic() + self.retry_seconds
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        metrics().redis_up.set(0)
        log.warning(
            "Redis at %s unavailable (%s): serving without it; counters come from this worker and "
            "the database until it is back",
            self.url,
            exc,
        )

    def _recovered(self) -> None:
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            metrics().redis_up.set(1)
            log.warning("Redis at %s is back after %.1f s", self.url, time.monotonic() - since)

    # -- back-off counters -----------------------------------------------------------------
    def put_backoff(self, user_id: str, counter: BackoffCounter, at: float) -> None:
        """Send a person's new counter to every worker: its key and a message, one round trip."""
        fields = [at, *_counter_fields(counter)]
        body = json.dumps(fields)
        message = json.dumps({"backoff": {user_id: fields}, "from": self.source})

        def send() -> None:
            pipe = self.client.pipeline(transaction=False)
            pipe.set(self._key("bo", user_id), body, px=int(self.ttl * 1000))
            pipe.publish(self.prefix + CHANNEL, message)
            pipe.execute()

        self._call(send, None)

    def backoff(self, user_id: str) -> tuple[BackoffCounter, float] | None:
        """The newest counter another worker produced for the person and not yet aged out,
        with its time: from what the channel brought, or from Redis while catching up."""
        if self._catching_up():
            raw = self._call(lambda: self.client.get(self._key("bo", user_id)), None)
            if raw is not None:
                at, *fields = json.loads(raw)
                self._heard(user_id, BackoffCounter(*fields), float(at))
        held = self._counters.get(user_id)
        if held is None:
            return None
        counter, at, expires = held
        if time.monotonic() >= expires:
            self._counters.pop(user_id, None)
            return None
        return counter, at

    def _catching_up(self) -> bool:
        """Whether the listener is off the channel or joined it less than ``catch_up`` s ago."""
        since = self._subscribed_at
        return since is None or time.monotonic() - since < self.catch_up

    def _heard(self, user_id: str, counter: BackoffCounter, at: float) -> None:
        with self._lock:
            held = self._counters.get(user_id)
            if held is not None and held[1] >= at:
                return  # an older counter arriving late
            self._counters.pop(user_id, None)  # re-inserted last: the dict stays oldest first
            self._counters[user_id] = (counter, at, time.monotonic() + self.ttl)
            if len(self._counters) > self.max_counters:
                self._evict()

    def _evict(self) -> None:
        """Drop expired counters, then the oldest heard, down to ``max_counters`` (lock held)."""
        now = time.monotonic()
        for user in [u for u, (_, _, expires) in self._counters.items() if expires <= now]:
            del self._counters[user]
        while len(self._counters) > self.max_counters:
            del self._counters[next(iter(self._counters))]

    def drop_backoff(self, user_id: str) -> None:
        """An erased person: delete the key and have every worker forget the counter it holds."""
        self._counters.pop(user_id, None)
        message = json.dumps({"forget": [user_id], "from": self.source})

        def send() -> None:
            pipe = self.client.pipeline(transaction=False)
            pipe.delete(self._key("bo", user_id))
            pipe.publish(self.prefix + CHANNEL, message)
            pipe.execute()

        self._call(send, None)

    def clear_counters(self) -> None:
        """Forget every counter heard (the catalog changed: an erasure may be among the reasons)."""
        with self._lock:
            self._counters.clear()

    @property
    def counters_held(self) -> int:
        return len(self._counters)

    # -- the stream of changes -------------------------------------------------------------
    def publish_people(self, versions: Mapping[str, int | None]) -> None:
        self._publish({"people": dict(versions)})

    def publish(self, kind: str) -> None:
        """``catalog``, ``promotions`` or ``model`` changed."""
        self._publish({"kind": kind})

    def _publish(self, body: dict[str, Any]) -> None:
        body["from"] = self.source
        text = json.dumps(body)
        self._call(lambda: self.client.publish(self.prefix + CHANNEL, text), 0)

    def listen(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener`` with every change another worker publishes (from a background thread)."""
        self._listeners.append(listener)
        if self._thread is None:
            self._thread = threading.Thread(target=self._subscribe, name="tactful-redis-sub", daemon=True)
            self._thread.start()

    def _subscribe(self) -> None:
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.prefix + CHANNEL)
                first = pubsub.get_message(timeout=self.retry_seconds)  # reads the confirmation
                self._subscribed_at = time.monotonic()
                if first is not None:
                    self._deliver(first.get("data"))
                if self._down_since is not None:
                    self._recovered()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.2)
                    if message is not None:
                        self._deliver(message.get("data"))
            except self._redis.RedisError as exc:
                self._subscribed_at = None  # messages may be missed from now on: ask Redis
                self._failed(exc)
                self._stop.wait(self.retry_seconds)
            finally:
                self._subscribed_at = None
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # noqa: BLE001 - closing a broken connection
                        pass

    def _deliver(self, data: Any) -> None:
        try:
            body = json.loads(data)
        except (TypeError, ValueError):
            return
        if not isinstance(body, dict) or body.get("from") == self.source:
            return
        counters = body.get("backoff")
        if isinstance(counters, dict):
            for user_id, fields in counters.items():
                try:
                    at, *rest = fields
                    self._heard(str(user_id), BackoffCounter(*rest), float(at))
                except (TypeError, ValueError):
                    log.warning("ignoring a malformed back-off counter message")
            return
        forget = body.get("forget")
        if isinstance(forget, list):
            for user_id in forget:
                self._counters.pop(str(user_id), None)
            return
        for listener in self._listeners:
            try:
                listener(body)
            except Exception:
                log.exception("a change listener failed")

    def _key(self, kind: str, user_id: str) -> str:
        return f"{self.prefix}{kind}:{user_id}"

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing on shutdown
            pass


def _counter_fields(c: BackoffCounter) -> list[Any]:
    return [c.ignored_slots, c.counted_since, c.backoff_since, c.visit_start, c.visit_slots]
