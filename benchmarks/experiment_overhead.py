"""What experiments cost a recommendation: in-process ``Engine.recommend`` with and without them.

Run: python benchmarks/experiment_overhead.py [--runs 5] [--people 400] [--json]

Builds a synthetic catalog (1,200 items over 40 tags) and people with a few likes each, with
kept answers off so every request runs the pipeline. In the same run it times
single-threaded ``recommend(user, n=10)`` for every person under three set-ups, each on a
fresh engine: no experiment (the floor), one running experiment at 100 % (two variants,
the treatment overriding the home surface), and that experiment plus the global holdout.
It reports p50 and p99 thread CPU time per request and the exposure-log writes, medians
over runs, and ``assign`` alone (the hashing and composing), so the overhead reads as a
ratio to the floor measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from tactful import Engine, Settings
from tactful.config.experiments import ExperimentSettings
from tactful.config.security import AuthSettings
from tactful.config.settings import ServingSettings
from tactful.domain.event import Event
from tactful.domain.item import Item
from tactful.signals.profile import Engagement

SPEC = {
    "id": "bench",
    "name": "bench",
    "variants": [
        {"name": "control"},
        {"name": "wide", "config": {"surfaces": {"home": {"exploration_share": 0.3}}}},
    ],
    "rollout": {"steps": [{"percent": 100}]},
}


def _engine(data: Path, holdout: bool) -> Engine:
    settings = Settings(
        data_dir=data,
        auth=AuthSettings(enabled=False),
        serving=ServingSettings(answer_cache_size=0),
        experiments=ExperimentSettings(holdout=holdout, refresh_seconds=60),
    )
    return Engine(settings)


def _populate(engine: Engine, people: int) -> list[str]:
    engine.upsert_items(
        [
            Item(id=f"i{k}", title=f"Item {k}", tags=[f"tag:t{k % 40}", f"creator:c{k % 97}"])
            for k in range(1200)
        ]
    )
    users = [f"u{p}" for p in range(people)]
    engine.ingest(
        [
            Event(user_id=u, item_id=f"i{(p * 7 + j * 13) % 1200}", type="like")
            for p, u in enumerate(users)
            for j in range(6)
        ]
    )
    return users


def _time(engine: Engine, users: list[str]) -> tuple[float, float]:
    for u in users:
        engine.recommend(u)  # warm
    cpu = []
    for u in users:
        t0 = time.thread_time()
        engine.recommend(u)
        cpu.append(time.thread_time() - t0)
    cpu.sort()
    return cpu[len(cpu) // 2] * 1e3, cpu[int(len(cpu) * 0.99)] * 1e3


def one_run(people: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, experiment, holdout in (
        ("floor", False, False),
        ("experiment", True, False),
        ("experiment+holdout", True, True),
    ):
        with tempfile.TemporaryDirectory() as tmp, _engine(Path(tmp), holdout) as engine:
            users = _populate(engine, people)
            if experiment:
                engine.experiments.create(SPEC)
                engine.experiments.start("bench")
            p50, p99 = _time(engine, users)
            out[f"{name}_p50_ms"], out[f"{name}_p99_ms"] = p50, p99
            if name == "experiment":
                t0 = time.thread_time()
                for u in users:
                    engine.experiments.assign(u, "home", lambda: Engagement.new)
                out["assign_us"] = (time.thread_time() - t0) / len(users) * 1e6
            engine.experiments.log.flush()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = [one_run(args.people) for _ in range(args.runs)]
    median = {k: round(statistics.median(r[k] for r in runs), 4) for k in runs[0]}
    median["experiment_vs_floor"] = round(median["experiment_p50_ms"] / median["floor_p50_ms"], 3)
    median["holdout_vs_floor"] = round(median["experiment+holdout_p50_ms"] / median["floor_p50_ms"], 3)
    if args.json:
        print(json.dumps(median))
    else:
        for key, value in median.items():
            print(f"{key:28s} {value}")


if __name__ == "__main__":
    main()
