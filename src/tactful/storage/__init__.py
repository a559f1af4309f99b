"""Storage backends behind typed protocols.

The rest of tactful is typed against :mod:`tactful.storage.protocol` and never sees a
table, row or connection. The shape is *one store object implementing every concern*:

- :class:`~tactful.storage.protocol.Store` (catalog, people, events, profiles, aggregates
  and :meth:`~tactful.storage.protocol.Store.unit_of_work`) is a composite protocol: it
  also is a :class:`~tactful.storage.protocol.PolicyStore`,
  :class:`~tactful.storage.protocol.KeyStore`, :class:`~tactful.storage.protocol.AuditStore`
  and :class:`~tactful.storage.protocol.PrivacyStore`. Code needing one concern takes the
  narrow protocol (``KeyRing(store: KeyStore)``, ``erase_person(store: PrivacyStore)``) and
  is handed the same store object.
- The SQL backend (SQLite or PostgreSQL) is :class:`~tactful.storage.sql.SqlStore`, built
  from one module per concern on shared connection handling: ``sql_base`` (engine,
  migrations, transactions, upserts), ``sql`` (catalog, people, events, profiles),
  ``sql_policy``, ``sql_trust`` (keys and audit) and ``sql_privacy`` (export, erasure,
  retention). ``schema`` and ``codec`` are its private table definitions and row codecs.

:func:`open_store` is the way in: it returns the backend typed as the protocol.
"""

from tactful.storage.protocol import (
    AuditStore,
    ItemStat,
    KeyStore,
    PolicyStore,
    PrivacyStore,
    Store,
    StoredEvent,
    UnitOfWork,
)
from tactful.storage.sql import SqlStore


def open_store(url: str, migrate: bool = True) -> Store:
    """Open the store at ``url`` (``sqlite:///...`` or ``postgresql+psycopg://...``) and
    bring its schema up to date."""
    store = SqlStore(url)
    if migrate:
        store.migrate()
    return store


__all__ = [
    "AuditStore",
    "ItemStat",
    "KeyStore",
    "PolicyStore",
    "PrivacyStore",
    "SqlStore",
    "Store",
    "StoredEvent",
    "UnitOfWork",
    "open_store",
]
