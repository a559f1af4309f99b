"""SQLite writers wait their turn: a BEGIN IMMEDIATE that times out on another process's lock is retried."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tactful.domain.item import Item
from tactful.errors import StorageError
from tactful.storage import open_store
from tactful.storage import sql_base as sql


def _hold_write_lock(path: Path, seconds: float, held: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None)  # another "process": its own connection
    conn.execute("BEGIN IMMEDIATE")
    held.set()
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


def test_a_locked_database_is_waited_out_not_reported(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sql, "BUSY_TIMEOUT_MS", 50)  # each attempt gives up fast, so retries happen
    path = tmp_path / "db.sqlite3"
    store = open_store(f"sqlite:///{path}")
    held = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, 1.0, held))
    holder.start()
    held.wait(5)
    started = time.monotonic()
    store.upsert_items([Item(id="a", title="A", tags=["genre:jazz"])], now=0.0)  # no "database is locked"
    assert time.monotonic() - started >= 0.5
    holder.join()
    assert store.get_item("a") is not None
    store.close()


def test_a_lock_held_past_the_retry_budget_is_a_storage_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sql, "BUSY_TIMEOUT_MS", 20)
    monkeypatch.setattr(sql, "LOCK_WAIT_SECONDS", 0.3)
    path = tmp_path / "db.sqlite3"
    store = open_store(f"sqlite:///{path}")
    held = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, 1.5, held))
    holder.start()
    held.wait(5)
    with pytest.raises(StorageError, match="locked"):
        store.upsert_items([Item(id="a", title="A", tags=["genre:jazz"])], now=0.0)
    holder.join()
    store.close()
