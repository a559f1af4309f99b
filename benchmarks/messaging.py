"""Messaging throughput: the due check over many people, and digest composition, beside ``recommend``.

Builds a SQLite store with ``--people`` message-preference records (varied zones, cadences,
windows, quiet hours, pauses and caps) and a catalog of ``--items`` items, then measures,
in one process (one core), each ``--runs`` times (median reported):

- **due check (pure)**: :meth:`MessagingService.due_check` over every record held in memory;
- **due check (planner)**: a whole ``plan()`` at a moment nobody is due, so it is the store
  read of every record plus the due check (what a planner tick costs);
- **digest composition**: ``compose()`` for ``--digests`` people with some history, next to
  **recommend**: ``engine.recommend(user, "email_digest")`` for the same people (each person
  once per run, so no kept answer is reused); a digest is one recommend call plus its
  topic restriction, exclusions and links, so recommend is the floor it is compared to;
- **plan with writes**: ``plan()`` for those people when all are due (compose, caps and the
  idempotent outbox insert).

Targets (issue 13): due check ≥ 20,000 people/s; composition ≥ 300 digests/s per core.

    python benchmarks/messaging.py --people 100000 --digests 300 --runs 3
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tactful import Engine, ManualClock, Settings
from tactful.config.messaging import MessagingSettings, TopicSettings
from tactful.config.security import AuthSettings
from tactful.domain.event import Event
from tactful.domain.item import Item
from tactful.domain.messages import Cadence, Cap, Channel, MessagePreferences, MessageState, TimeRange
from tactful.storage.protocol import StoredPreferences

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "America/Sao_Paulo"]
GENRES = [f"g{k}" for k in range(12)]
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=2)  # when the records were made: slots before it are not caught up on


def _hhmm(minute: int) -> str:
    return f"{minute // 60 % 24:02d}:{minute % 60:02d}"


def _prefs(rng: random.Random, k: int) -> MessagePreferences:
    kind = rng.choice(["daily", "weekly", "weekly", "monthly"])
    start = rng.randrange(6 * 60, 20 * 60, 30)
    return MessagePreferences(
        channels=rng.sample([Channel.email, Channel.push, Channel.in_app], rng.randint(1, 2)),
        email=f"p{k}@example.com",
        topics={"picks": "opted_in", f"t{k % 4}": "opted_in"},
        cadence=Cadence.model_validate(
            {"kind": kind, "weekday": rng.choice(["monday", "thursday"]), "day_of_month": rng.randint(1, 28)}
        ),
        window=TimeRange(start=_hhmm(start), end=_hhmm(start + rng.choice([60, 120, 600]))),
        quiet_hours=TimeRange(start="22:00", end="07:00") if rng.random() < 0.5 else None,
        timezone=rng.choice(ZONES),
        paused_until=NOW + timedelta(days=3) if rng.random() < 0.05 else None,
        caps=[Cap(count=3, days=7)] if rng.random() < 0.3 else [],
    )


def _median_rate(samples: list[tuple[int, float]]) -> float:
    return statistics.median(n / max(seconds, 1e-9) for n, seconds in samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--digests", type=int, default=300)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    topics = {"picks": TopicSettings(name="Picks")}
    topics.update(
        {f"t{k}": TopicSettings(name=f"T{k}", tags=[f"genre:{g}" for g in GENRES[k::4]]) for k in range(4)}
    )
    with tempfile.TemporaryDirectory(prefix="tactful-msg-bench-") as tmp:
        clock = ManualClock(NOW - timedelta(days=30))
        settings = Settings(
            data_dir=Path(tmp),
            auth=AuthSettings(enabled=False),
            messaging=MessagingSettings(topics=topics, recent_digests=4),
        )
        with Engine(settings, clock=clock) as engine:
            engine.upsert_items(
                [
                    Item(
                        id=f"i{k}", title=f"Item {k}", tags=[f"genre:{GENRES[k % 12]}", f"creator:c{k % 97}"]
                    )
                    for k in range(args.items)
                ]
            )
            events = []
            for u in range(args.digests):
                for j in range(rng.randint(3, 30)):
                    item = f"i{rng.randrange(args.items) if j % 3 else (u * 7 + j) % args.items}"
                    events.append(
                        Event(
                            user_id=f"p{u}",
                            item_id=item,
                            type=rng.choice(["like", "view", "click"]),
                            timestamp=clock.now() - timedelta(days=j % 20, hours=j),
                        )
                    )
            for start in range(0, len(events), 5_000):
                engine.ingest(events[start : start + 5_000])
            t0 = time.perf_counter()
            rows = [
                StoredPreferences(f"p{k}", _prefs(rng, k), MessageState(since=SINCE), None, "UTC")
                for k in range(args.people)
            ]
            engine.store.put_message_prefs(rows, NOW.timestamp())
            setup = time.perf_counter() - t0
            clock.set(NOW)
            messaging = engine.messaging
            print(f"setup: {args.people} preference records written in {setup:.1f} s; {len(events)} events")

            pure: list[tuple[int, float]] = []
            planner: list[tuple[int, float]] = []
            recommend: list[tuple[int, float]] = []
            compose: list[tuple[int, float]] = []
            plan_writes: list[tuple[int, float]] = []
            due_now = 0
            for run in range(args.runs):
                t0 = time.perf_counter()
                due_now = sum(1 for r in rows if messaging.due_check(r, NOW).due)
                pure.append((len(rows), time.perf_counter() - t0))

                quiet = SINCE - timedelta(days=1)  # before anyone chose: nobody is due
                t0 = time.perf_counter()
                report = messaging.plan(quiet, dry_run=True)
                planner.append((report.people, time.perf_counter() - t0))

                # digest composition beside recommend, for the same people, fresh per run
                digest_people = [f"p{u}" for u in range(args.digests)]
                stored = engine.store.load_message_prefs(digest_people)
                at = NOW + timedelta(days=run * 40)
                clock.set(at)
                fake_due = messaging.due_check(stored[digest_people[0]], at)
                rec_s = comp_s = 0.0
                made = 0
                t0 = time.perf_counter()  # the planner reads a batch's recent digests in one query
                recent = messaging.recent_items(digest_people, at.date().toordinal() + 1)
                comp_s += time.perf_counter() - t0
                for k, user in enumerate(
                    digest_people
                ):  # alternate which goes first: neither warms the other
                    s = stored[user]
                    for first in (k % 2 == 0, k % 2 == 1):
                        t0 = time.perf_counter()
                        if first:
                            engine.recommend(user, "email_digest")
                            rec_s += time.perf_counter() - t0
                        else:
                            topics_on = messaging.digest_topics(s.prefs)
                            digest = messaging.compose(
                                s, Channel.email, topics_on, fake_due, at, False, recent[user]
                            )
                            made += digest is not None
                            comp_s += time.perf_counter() - t0
                recommend.append((len(digest_people), rec_s))
                compose.append((len(digest_people), comp_s))

                # the whole planner when those people are all due: compose + caps + outbox insert
                everyone = [
                    StoredPreferences(
                        u,
                        stored[u].prefs.model_copy(
                            update={
                                "cadence": Cadence(kind="daily"),
                                "window": TimeRange(start="00:00", end="23:59"),
                                "quiet_hours": None,
                                "paused_until": None,
                                "timezone": "UTC",
                                "channels": [Channel.email],
                            }
                        ),
                        MessageState(),
                        None,
                        "UTC",
                    )
                    for u in digest_people
                ]
                engine.store.put_message_prefs(everyone, at.timestamp())
                t0 = time.perf_counter()
                report = messaging.plan(at + timedelta(hours=12), user_ids=digest_people)
                planned = report.counts.get("planned", 0) + report.counts.get("capped", 0)
                plan_writes.append((max(planned, 1), time.perf_counter() - t0))
                engine.store.put_message_prefs([stored[u] for u in digest_people], at.timestamp())
                print(
                    f"run {run + 1}: due {due_now}, composed {made}/{len(digest_people)}, planned {planned}"
                )

    figures = {
        "due_check_pure_people_per_s": _median_rate(pure),
        "due_check_planner_people_per_s": _median_rate(planner),
        "recommend_lists_per_s": _median_rate(recommend),
        "compose_digests_per_s": _median_rate(compose),
        "plan_with_writes_digests_per_s": _median_rate(plan_writes),
    }
    print(json.dumps({k: round(v, 1) for k, v in figures.items()}, indent=2))
    print(
        f"due check: {figures['due_check_pure_people_per_s']:,.0f} people/s pure, "
        f"{figures['due_check_planner_people_per_s']:,.0f} people/s with the store read (target ≥ 20,000)"
    )
    print(
        f"digests: {figures['compose_digests_per_s']:,.0f}/s composed, "
        f"{figures['plan_with_writes_digests_per_s']:,.0f}/s planned with writes (target ≥ 300 per core); "
        f"recommend in the same run: {figures['recommend_lists_per_s']:,.0f} lists/s"
    )


if __name__ == "__main__":
    main()
