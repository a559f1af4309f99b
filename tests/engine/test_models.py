"""The collaborative model inside the engine: training, fold-in, hot reload, retraining."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest
from typer.testing import CliRunner

from tactful import Engine, Event, ManualClock, Settings
from tactful.cli.main import app
from tactful.demo.library import build_library, simulate_listeners
from tactful.services.retrainer import Retrainer
from tactful.services.training import current_version


@pytest.fixture
def trained(settings: Settings, clock: ManualClock) -> Iterator[Engine]:
    rng = np.random.default_rng(3)
    library = build_library(rng, n_items=200, n_creators=30)
    with Engine(settings, clock=clock) as engine:
        engine.upsert_items(library.items)
        engine.ingest(simulate_listeners(rng, library, 120, clock.now() - timedelta(hours=1)))
        engine.train()
        yield engine


def collaborative_scores(engine: Engine, user: str) -> np.ndarray:
    state = engine.person_state(user)
    scorer = next(s for s in engine.pipeline.scorers if s.name == "collaborative")
    scores = scorer.score(state.context)
    assert scores is not None
    return scores


def test_training_publishes_a_model_that_serves(trained: Engine) -> None:
    version = current_version(trained.settings.model_dir)
    assert version is not None and trained.models.version == version
    recs = trained.recommend("listener-0001", n=10)
    assert recs.model_version == version
    codes = {r.code for i in recs.items for r in i.reasons}
    assert codes & {"because_you_liked", "similar_people"}


def test_a_new_like_changes_the_next_response_without_retraining(trained: Engine) -> None:
    user = "listener-0002"
    before = collaborative_scores(trained, user)
    version = trained.models.version
    target = trained.recommend(user, n=30).items[-1].item_id
    trained.ingest([Event(user_id=user, item_id=target, type="like")])
    after = collaborative_scores(trained, user)
    assert trained.models.version == version  # no retraining happened
    assert not np.allclose(before, after)


def test_hot_reload_under_concurrent_requests(trained: Engine) -> None:
    first = trained.models.version
    errors: list[BaseException] = []
    seen: set[str | None] = set()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.wait(0.005):  # steady traffic (a tight loop only measures back-pressure)
            try:
                seen.add(trained.recommend(f"listener-{np.random.randint(0, 120):04d}", n=5).model_version)
            except BaseException as exc:  # noqa: BLE001 - any failure fails the test
                errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        trained.clock.advance(seconds=5)  # type: ignore[attr-defined]
        report = trained.train()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert report.version != first and trained.models.version == report.version
    assert trained.recommend("listener-0003").model_version == report.version


def test_other_workers_pick_up_a_published_model(
    trained: Engine, settings: Settings, clock: ManualClock
) -> None:
    with Engine(settings, clock=clock) as other:
        assert other.models.version == trained.models.version
        other.models.check_every = 0.0
        report = trained.train()
        other.models.get()
        other.models.reload(wait=True)
        assert other.models.version == report.version


def test_retrainer_runs_on_schedule_or_event_count() -> None:
    now = [0.0]
    seq = [0]
    runs: list[int] = []
    r = Retrainer(
        lambda: runs.append(seq[0]), lambda: seq[0], every_s=100, after_events=10, clock=lambda: now[0]
    )
    assert not r.check()
    seq[0] = 9
    assert not r.check()
    seq[0] = 10
    assert r.check() and runs == [10]
    now[0] = 99
    assert not r.check()
    now[0] = 100
    assert r.check() and runs == [10, 10]
    fresh = Retrainer(
        lambda: runs.append(-1), lambda: 0, every_s=100, after_events=0, due_now=True, clock=lambda: 0.0
    )
    assert fresh.check()


def test_train_command(tmp_path, clock: ManualClock) -> None:
    settings = Settings(data_dir=tmp_path)
    rng = np.random.default_rng(5)
    library = build_library(rng, n_items=80, n_creators=10)
    with Engine(settings, clock=clock) as engine:
        engine.upsert_items(library.items)
        engine.ingest(simulate_listeners(rng, library, 40, clock.now() - timedelta(hours=1)))
    result = CliRunner().invoke(app, ["train", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "model " in result.output and current_version(tmp_path / "models") is not None


def test_training_with_nothing_stored_is_a_clear_error(engine: Engine) -> None:
    from tactful.errors import ValidationError

    with pytest.raises(ValidationError, match="nothing to train on"):
        engine.train()


def _long_history_user(engine: Engine) -> str:
    users = [f"listener-{k:04d}" for k in range(120)]
    return max(
        users,
        key=lambda u: int((engine.person_state(u).context.item_weights > 0).sum()),
    )


def test_kept_folds_serve_what_folding_afresh_serves(trained: Engine) -> None:
    user = _long_history_user(trained)
    first = collaborative_scores(trained, user)
    assert user in trained.collaborative._folds  # a long history is kept between requests
    assert collaborative_scores(trained, user) is first  # nothing moved: the kept scores stand
    target = trained.recommend(user, n=30).items[-1].item_id
    trained.ingest([Event(user_id=user, item_id=target, type="like")])
    cached = trained.states.profiles.peek(user)
    assert cached is not None and cached.compiled is not None  # the layout was moved forward, not dropped
    kept = collaborative_scores(trained, user)
    assert trained.collaborative._folds[user][0].updates >= 1  # the like was applied on its own
    trained.collaborative.clear()
    assert np.allclose(kept, collaborative_scores(trained, user), atol=1e-5)


def test_erasure_leaves_no_kept_fold(trained: Engine) -> None:
    user = _long_history_user(trained)
    collaborative_scores(trained, user)
    assert user in trained.collaborative._folds
    trained.erase_person(user)
    assert user not in trained.collaborative._folds
