"""Storage backends behind one protocol."""

from tactful.storage.protocol import ItemStat, Store, StoredEvent, UnitOfWork
from tactful.storage.sql import SqlStore


def open_store(url: str, migrate: bool = True) -> SqlStore:
    """Open the SQL store at ``url`` and bring its schema up to date."""
    store = SqlStore(url)
    if migrate:
        store.migrate()
    return store


__all__ = ["ItemStat", "SqlStore", "Store", "StoredEvent", "UnitOfWork", "open_store"]
