"""Policies on versus off as two variants of a real experiment in the simulator."""

from __future__ import annotations

import pytest

from tactful.simulation.experiment import VARIANTS, ExperimentRun, run_experiment
from tactful.simulation.metrics import MESSAGE_KEYS
from tactful.simulation.report import MUST_BE_ZERO


@pytest.fixture(scope="module")
def run() -> ExperimentRun:
    return run_experiment(people=24, weeks=4, seed=11)


def test_the_experiment_splits_the_population_and_reports_both_variants(run: ExperimentRun) -> None:
    report = run.report
    assert [v.name for v in report.experiment.spec.variants] == list(VARIANTS)
    assert sum(run.people.values()) == 24 and min(run.people.values()) > 0
    assert report.people == 24 and report.srm.observed == [run.people[v] for v in VARIANTS]
    ctr = next(m for m in report.metrics if m.metric == "ctr")
    assert all(v.numerator > 0 and v.denominator > 0 for v in ctr.variants)  # clicks were attributed
    assert [m.metric for m in report.metrics if m.guardrail] == ["dislike_rate"]
    assert report.timeline and report.timeline[-1].people == {v: run.people[v] for v in VARIANTS}


def test_the_respect_trade_off_shows_per_variant(run: ExperimentRun) -> None:
    on, off = run.respect["policies_on"], run.respect["policies_off"]
    measured = MUST_BE_ZERO & set(on)  # the experiment run sends no messages
    assert measured >= MUST_BE_ZERO - set(MESSAGE_KEYS)
    assert {k: on[k] for k in measured} == dict.fromkeys(measured, 0)
    assert off["premature_interest_actions"] > 0  # the policies-off people get what the policies prevent
