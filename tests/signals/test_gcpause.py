"""The collector pause of batch ingest: re-entrant, shared across threads, bounded."""

from __future__ import annotations

import gc
import threading

import pytest

from tactful import gcpause
from tactful.gcpause import paused_gc


def test_the_collector_is_off_inside_and_back_on_after_the_last_section() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer section still runs
    assert gc.isenabled()


def test_an_error_inside_still_turns_it_back_on() -> None:
    with pytest.raises(RuntimeError), paused_gc():
        raise RuntimeError("batch failed")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_sections_collect_once_the_pause_runs_long(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gcpause, "MAX_PAUSE_SECONDS", 0.0)
    runs: list[int] = []
    monkeypatch.setattr(gcpause.gc, "collect", lambda *a: runs.append(1) or 0)
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with paused_gc():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(5)
    with paused_gc():  # ends while the other section is still paused
        pass
    assert runs == [1] and not gc.isenabled()
    release.set()
    thread.join()
    assert gc.isenabled()
