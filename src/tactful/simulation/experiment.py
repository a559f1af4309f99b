"""The respect benchmark as a real experiment: policies on and off as two variants of one engine.

``tactful simulate`` runs two engines side by side; this runs the same seeded world through
*one* engine with an experiment whose control is the base config (policies on) and whose
treatment is the override ``{"policy": {"enabled": false}}``. People are split by the
experiment's own hashing, every list's events carry its recommendation id, and the
experiment report (CTR, save/like rate, dislike rate as a guardrail, lists per person)
sits next to the respect figures the benchmark measures for each variant's people.
Guardrails are not enforced during the run (nothing calls ``evaluate``), so the trade-off
is measured over the whole run; the report still says whether the guardrail would fire.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from tactful.clock import ManualClock
from tactful.config.experiments import ExperimentSettings, HoldoutMode
from tactful.config.policy import PolicySettings
from tactful.config.security import AuthSettings
from tactful.config.settings import Settings
from tactful.domain.event import Event
from tactful.engine import Engine
from tactful.experiments.analysis import ExperimentReport
from tactful.signals.profile import Engagement
from tactful.simulation.metrics import KEYS, Tracker
from tactful.simulation.residue import ResidueProbe
from tactful.simulation.runner import START, _life, _retrain, _visit
from tactful.simulation.world import World, build_world

EXPERIMENT_ID = "sim-policies"
VARIANTS = ("policies_on", "policies_off")


@dataclass
class ExperimentRun:
    """The experiment's report and the respect figures of each variant's people."""

    report: ExperimentReport
    respect: dict[str, dict[str, float]]
    people: dict[str, int]


def experiment_spec(people: int) -> dict[str, object]:
    return {
        "id": EXPERIMENT_ID,
        "name": "Policies on versus off (simulated)",
        "variants": [{"name": VARIANTS[0]}, {"name": VARIANTS[1], "config": {"policy": {"enabled": False}}}],
        "rollout": {"steps": [{"percent": 100}]},
        "metrics": ["ctr", "save_rate", "recs_per_person"],
        "guardrails": ["dislike_rate"],
        "planned_people": max(people, 10),
        "min_people": 2,
        "srm_min_count": 20,
        "attribution_window_hours": 1,
    }


def run_experiment(
    people: int = 64, weeks: int = 10, seed: int = 7, workdir: Path | None = None
) -> ExperimentRun:
    world = build_world(people=people, weeks=weeks, seed=seed)
    with tempfile.TemporaryDirectory(prefix="tactful-simx-") as tmp:
        return _run(world, seed, workdir or Path(tmp))


def _run(world: World, seed: int, data_dir: Path) -> ExperimentRun:
    settings = Settings(
        data_dir=data_dir,
        auth=AuthSettings(enabled=False),
        policy=PolicySettings(enabled=True),
        experiments=ExperimentSettings(holdout=HoldoutMode.off),  # the two variants split everyone
    )
    clock = ManualClock(START - timedelta(days=1))
    with Engine(settings, clock=clock) as engine:
        engine.upsert_items(world.items)
        engine.declare_tags(world.tag_meta)
        engine.ingest([Event(user_id=u, item_id=i, type="click") for u, i in world.crowd])
        engine.experiments.create(experiment_spec(len(world.people)), actor="simulation")
        engine.experiments.start(EXPERIMENT_ID, actor="simulation")
        variant: dict[str, str] = {}
        for person in world.people:
            got = engine.experiments.assign(person.id, "home", lambda: Engagement.new)
            variant[person.id] = next(
                (m.variant for m in (got.memberships if got else ()) if m.experiment_id == EXPERIMENT_ID),
                VARIANTS[0],
            )
        worlds = {
            v: dataclasses.replace(world, people=[p for p in world.people if variant[p.id] == v])
            for v in VARIANTS
        }
        trackers = {
            v: Tracker(
                worlds[v],
                evidence_threshold=settings.profile.evidence_threshold,
                retarget_window_days=settings.policy.hints.retarget_window_days,
                backoff_after_ignored=settings.policy.hints.backoff_after_ignored,
            )
            for v in VARIANTS
        }
        probes = {v: ResidueProbe(worlds[v], settings.profile.max_evidence_keys) for v in VARIANTS}
        by_topic: dict[str, list[str]] = {}
        for item in world.items:
            by_topic.setdefault(world.item_topic[item.id], []).append(item.id)
        for day in range(world.days):
            day_start = START + timedelta(days=day)
            clock.set(day_start)
            _retrain(engine, day)
            for n, person in enumerate(world.people):
                if day < person.arrives_day:
                    continue
                v = variant[person.id]
                clock.set(day_start + timedelta(seconds=30 * n))
                _life(engine, person, day, trackers[v])
                rng = np.random.default_rng([seed, n, day])
                if rng.random() > person.visit_p:
                    continue
                _visit(engine, trackers[v], probes[v], world, person, day, rng, by_topic, clock)
        engine.served.flush()
        engine.experiments.log.flush()
        clock.set(START + timedelta(days=world.days))
        report = engine.experiments.report(EXPERIMENT_ID)
        respect = {}
        for v in VARIANTS:
            figures = {**trackers[v].result(), "opt_out_residue": probes[v].residue(engine, world.days - 1)}
            respect[v] = {key: figures[key] for key in KEYS if key in figures}  # no messages here
    return ExperimentRun(report=report, respect=respect, people={v: len(worlds[v].people) for v in VARIANTS})
