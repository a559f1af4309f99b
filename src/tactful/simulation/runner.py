"""Runs the synthetic population through the engine's public API, day by day, on a manual clock.

The same world is run twice: once with the policy layer on and once with it off (the plain
recommender baseline). Visits and organic behaviour are drawn from per-person, per-day
seeds, so both engines meet the same people on the same days; only what they serve, and
hence how people respond, differs.
"""

from __future__ import annotations

import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from tactful.clock import ManualClock, to_epoch
from tactful.config.policy import PolicySettings
from tactful.config.security import AuthSettings
from tactful.config.settings import Settings
from tactful.domain.event import Event, EventContext
from tactful.domain.messages import Channel
from tactful.domain.person import Consent
from tactful.engine import Engine
from tactful.simulation import messages
from tactful.simulation.messages import MessageAudit, messaging_settings
from tactful.simulation.metrics import KEYS, Tracker
from tactful.simulation.residue import ResidueProbe
from tactful.simulation.world import SENSITIVE_CATEGORY, SENSITIVE_TAG, Persona, World, build_world

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
N = 10
ORGANIC_P = 0.7
CLICK_P = 0.3
LIKE_P = 0.25
DISLIKE_P = 0.03
PAINFUL_DISLIKE_P = 0.3
NEW_TOPIC_P = 0.6
RETRAIN_DAYS = 14
RELOAD_P = 0.3
"""Share of visits where the page is reloaded (1 to 3 times) before the person responds."""


def run_simulation(
    people: int = 64, weeks: int = 10, seed: int = 7, workers: int = 2, workdir: Path | None = None
) -> dict[str, dict[str, float]]:
    """``{"policies_on": {...}, "policies_off": {...}}`` for one seeded world."""
    world = build_world(people=people, weeks=weeks, seed=seed)
    with tempfile.TemporaryDirectory(prefix="tactful-sim-") as tmp:
        base = workdir or Path(tmp)
        args = [(world, True, base / "on", seed), (world, False, base / "off", seed)]
        if workers > 1:
            # spawned, not forked: a fork of a process with running threads (a server, BLAS, an
            # earlier engine's writer) can inherit a held lock and hang the child's training
            with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
                on, off = pool.map(_run_star, args)
        else:
            on, off = (_run_star(a) for a in args)
    return {"policies_on": on, "policies_off": off}


def _run_star(args: tuple[World, bool, Path, int]) -> dict[str, float]:
    return run_engine(*args)


def run_engine(world: World, policies: bool, data_dir: Path, seed: int) -> dict[str, float]:
    """Simulate every day for one engine and return its figures."""
    settings = Settings(
        data_dir=data_dir,
        auth=AuthSettings(enabled=False),
        policy=PolicySettings(enabled=policies),
        messaging=messaging_settings(world),
    )
    clock = ManualClock(START - timedelta(days=1))
    tracker = Tracker(
        world,
        evidence_threshold=settings.profile.evidence_threshold,
        retarget_window_days=settings.policy.hints.retarget_window_days,
        backoff_after_ignored=settings.policy.hints.backoff_after_ignored,
    )
    probe = ResidueProbe(world, settings.profile.max_evidence_keys)
    audit = MessageAudit(world, seed, START)
    with Engine(settings, clock=clock) as engine:
        engine.set_transports({channel: audit for channel in Channel})
        engine.upsert_items(world.items)
        engine.declare_tags(world.tag_meta)
        engine.ingest([Event(user_id=u, item_id=i, type="click") for u, i in world.crowd])
        by_topic: dict[str, list[str]] = {}
        for item in world.items:
            by_topic.setdefault(world.item_topic[item.id], []).append(item.id)
        for day in range(world.days):
            day_start = START + timedelta(days=day)
            clock.set(day_start)
            _retrain(engine, day)
            if day == world.promotions_day:
                for plan in world.promotions:
                    engine.create_promotion(
                        {
                            "id": plan.id,
                            "name": plan.name,
                            "items": plan.items,
                            "tags": plan.tags,
                            "target_tags": plan.target_tags,
                            "cap": plan.cap,
                            "window_days": plan.window_days,
                        }
                    )
            for n, person in enumerate(world.people):
                if day < person.arrives_day:
                    continue
                clock.set(day_start + timedelta(seconds=30 * n))
                _life(engine, person, day, tracker)
                if day == person.arrives_day:
                    messages.arrive(engine, audit, person, n, clock.now())
                messages.daily(engine, audit, person, day, clock.now())
                rng = np.random.default_rng([seed, n, day])
                if rng.random() > person.visit_p:
                    continue
                _visit(engine, tracker, probe, world, person, day, rng, by_topic, clock)
            messages.ticks(engine, audit, clock, day_start, seed, day)
        engine.served.flush()
        residue = probe.residue(engine, world.days - 1)
    figures = {**tracker.result(), "opt_out_residue": residue, **audit.result()}
    return {key: figures[key] for key in KEYS}


def _life(engine: Engine, person: Persona, day: int, tracker: Tracker) -> None:
    """What people tell the engine outright: stated interests, opt-ins, mutes."""
    if day == person.arrives_day:
        if person.event_days is not None and person.opted_in:
            engine.set_consent(person.id, Consent(sensitive_opt_in=[SENSITIVE_CATEGORY]))
        for tag in person.stated:
            engine.state_interest(person.id, tag)
            tracker.stated(person)
    if day == person.opt_out_day:
        engine.set_consent(person.id, Consent())
    if day == person.mute_day and person.mute_tag:
        engine.mute_topic(person.id, person.mute_tag)


def _visit(
    engine: Engine,
    tracker: Tracker,
    probe: ResidueProbe,
    world: World,
    person: Persona,
    day: int,
    rng: np.random.Generator,
    by_topic: dict[str, list[str]],
    clock: ManualClock,
) -> None:
    """One visit: organic browsing, a recommendation list, and the person's responses."""
    at = to_epoch(clock.now())
    session = f"{person.id}-{day}"
    ctx = EventContext(session=session)
    likes = sorted(person.likes_on(day) - {SENSITIVE_TAG})
    organic: list[str] = []
    if likes and rng.random() < (0.1 if person.ignorer else ORGANIC_P):
        topic = likes[int(rng.integers(len(likes)))]
        if person.drift_to is not None and person.drift_to in likes and rng.random() < NEW_TOPIC_P:
            topic = person.drift_to  # a fresh interest gets most of their attention
        organic.append(by_topic[topic][int(rng.integers(len(by_topic[topic])))])
    if person.in_event(day) and rng.random() < 0.8:
        organic.append(by_topic[SENSITIVE_TAG][int(rng.integers(len(by_topic[SENSITIVE_TAG])))])
    draws = rng.random((N, 3))  # drawn before serving, so both engines use the same numbers
    reload = rng.random()  # drawn for both engines alike
    recs = engine.recommend(person.id, "home", n=N)
    tracker.served(person, recs, day, at)
    _reloads(engine, tracker, person, reload, at)
    rid = recs.recommendation_id  # events name the list they answer (attribution)
    events = [
        Event(user_id=person.id, item_id=i.item_id, type="impression", context=ctx, recommendation_id=rid)
        for i in recs.items
    ]
    if not person.ignorer:
        current = person.likes_on(day)
        for k, item in enumerate(recs.items):
            shown = world.item_topic.get(item.item_id)
            if shown in current and draws[k, 0] < CLICK_P:
                events.append(
                    Event(
                        user_id=person.id,
                        item_id=item.item_id,
                        type="click",
                        context=ctx,
                        recommendation_id=rid,
                    )
                )
                tracker.positive(person, item.item_id, session, at)
                probe.positive(person, item.item_id, session)
                if draws[k, 1] < LIKE_P:
                    events.append(
                        Event(
                            user_id=person.id,
                            item_id=item.item_id,
                            type="like",
                            context=ctx,
                            recommendation_id=rid,
                        )
                    )
            elif shown not in current:
                painful = shown == SENSITIVE_TAG and not person.in_event(day)
                if draws[k, 2] < (PAINFUL_DISLIKE_P if painful else DISLIKE_P):
                    events.append(
                        Event(
                            user_id=person.id,
                            item_id=item.item_id,
                            type="dislike",
                            context=ctx,
                            recommendation_id=rid,
                        )
                    )
                    tracker.dislike(person, item.item_id)
    for item_id in organic:
        events.append(Event(user_id=person.id, item_id=item_id, type="click", context=ctx))
        tracker.positive(person, item_id, session, at)
        probe.positive(person, item_id, session)
    engine.ingest(events)


def _reloads(engine: Engine, tracker: Tracker, person: Persona, draw: float, at: float) -> None:
    """Reload the page ``1..3`` times on a ``RELOAD_P`` share of visits: the same visit again."""
    if draw >= RELOAD_P:
        return
    for _ in range(1 + int(draw / RELOAD_P * 3)):
        tracker.reloaded(person, engine.recommend(person.id, "home", n=N), at)


def _retrain(engine: Engine, day: int) -> None:
    """Retrain every two weeks, as a deployment would: both engines learn from what they served."""
    if day % RETRAIN_DAYS == 0:
        engine.train()
