"""The respect benchmark: invariants are 0 with policies on, and relevance costs at most 5 %."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tactful.cli.main import app
from tactful.simulation.metrics import KEYS
from tactful.simulation.report import MUST_BE_ZERO
from tactful.simulation.runner import run_simulation
from tactful.simulation.world import build_world


@pytest.fixture(scope="module")
def result() -> dict[str, dict[str, float]]:
    return run_simulation(people=24, weeks=9, seed=11, workers=2)


def test_every_figure_is_reported_for_both_engines(result: dict[str, dict[str, float]]) -> None:
    assert set(result) == {"policies_on", "policies_off"}
    assert list(result["policies_on"]) == list(KEYS) == list(result["policies_off"])


def test_respect_invariants_are_zero_with_policies_on(result: dict[str, dict[str, float]]) -> None:
    on, off = result["policies_on"], result["policies_off"]
    assert {k: on[k] for k in MUST_BE_ZERO} == dict.fromkeys(MUST_BE_ZERO, 0)
    # the same population breaks them without the policy layer, so the benchmark can tell
    assert off["cap_violations"] > 0 and off["premature_interest_actions"] > 0
    assert off["sensitive_exposures"] + off["disliked_reshown"] + off["muted_exposures"] > 0
    assert off["stale_item_reasons"] > 0  # the baseline cites old phases: the figure can tell
    assert off["opt_out_residue"] > 0  # the baseline keeps what came through the sensitive phase
    # messages: people got digests, and the plain sender breaks their choices where the planner does not
    assert on["messages_sent"] > 0 and off["messages_sent"] > 0
    assert off["msg_window_violations"] > 0 and off["msg_cap_violations"] > 0
    assert off["msg_sensitive_items"] > 0


def test_opted_in_people_opt_out_when_their_phase_ends() -> None:
    world = build_world(people=24, weeks=9, seed=11)
    out = [p for p in world.people if p.opt_out_day is not None]
    assert out and all(p.event_days and p.opt_out_day == p.event_days[1] for p in out)
    assert all(p.opted_in_on(p.opt_out_day - 1) and not p.opted_in_on(p.opt_out_day) for p in out)  # type: ignore[operator]


def test_policies_cost_at_most_five_percent_hit_rate_on_hidden_interests(
    result: dict[str, dict[str, float]],
) -> None:
    on, off = result["policies_on"], result["policies_off"]
    assert on["hidden_hit_rate"] >= 0.95 * off["hidden_hit_rate"]
    assert 0.0 < on["exploration_share"] < 1.0 and 0.0 < on["coverage"] <= 1.0


def test_world_is_seeded_and_has_every_kind_of_person() -> None:
    a, b = build_world(people=60, weeks=8, seed=5), build_world(people=60, weeks=8, seed=5)
    assert [(p.hidden, p.arrives_day, p.drift_day) for p in a.people] == [
        (p.hidden, p.arrives_day, p.drift_day) for p in b.people
    ]
    assert any(p.ignorer for p in a.people) and any(p.drift_day for p in a.people)
    assert any(p.event_days for p in a.people) and any(p.mute_tag for p in a.people)
    assert any(p.arrives_day > 0 for p in a.people) and any(p.stated for p in a.people)
    event = next(p for p in a.people if p.event_days)
    assert event.event_days is not None
    assert event.in_event(event.event_days[0]) and not event.in_event(event.event_days[1])


def test_cli_json_prints_only_the_comparison() -> None:
    out = CliRunner().invoke(app, ["simulate", "--people", "6", "--weeks", "2", "--json", "--workers", "1"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert set(data) == {"policies_on", "policies_off"} and set(data["policies_on"]) == set(KEYS)


def test_message_plans_fall_after_arrival_so_the_audit_holds_only_what_the_engine_heard() -> None:
    """A pause or unsubscribe planned before a late arrival would count sends the engine was
    never told to hold back; every plan lies on or after the person's first day."""
    from tactful.simulation.messages import choose

    seen_late_pause = False
    for seed in (5, 7, 11):
        world = build_world(people=64, weeks=10, seed=seed)
        for n, person in enumerate(world.people):
            c = choose(person, n, seed, world.days)
            assert c.pause is None  # nothing is recorded as told before the person acts
            if c.pause_day is not None:
                assert c.pause_day > person.arrives_day
                seen_late_pause |= person.arrives_day > 7
            if c.unsubscribe_day is not None:
                assert c.unsubscribe_day > person.arrives_day
    assert seen_late_pause
