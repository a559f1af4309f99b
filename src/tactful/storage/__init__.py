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

import re

from tactful.errors import SchemaMismatch
from tactful.storage.protocol import (
    AuditStore,
    ItemStat,
    KeyStore,
    PolicyStore,
    PrivacyStore,
    SchemaState,
    Store,
    StoredEvent,
    UnitOfWork,
)
from tactful.storage.sql import SqlStore


def open_store(url: str, migrate: bool = False, create_empty: bool | None = None) -> Store:
    """Open the store at ``url`` (``sqlite:///...`` or ``postgresql+psycopg://...``).

    The schema is checked, not silently changed: a database at an older revision raises
    :class:`~tactful.errors.SchemaMismatch` naming ``tactful db upgrade``, unless
    ``migrate`` asks for the upgrade here. An *empty* database (nothing migrated, no tables)
    gets the schema created when ``create_empty`` is true; by default (None) only the
    embedded SQLite file does, so a fresh data folder just works while PostgreSQL, shared by
    several servers, is migrated once and explicitly.
    """
    store = SqlStore(url)
    try:
        check_schema(store, migrate, store.is_sqlite if create_empty is None else create_empty)
    except BaseException:
        store.close()
        raise
    return store


def check_schema(store: Store, migrate: bool, create_empty: bool) -> None:
    """Upgrade when asked, create an empty database when allowed, refuse anything else."""
    state = store.schema_state()
    if state.up_to_date:
        return
    if migrate or (create_empty and state.empty):
        store.migrate()
        return
    raise SchemaMismatch(schema_message(state, mask_url(store.url)))


def schema_message(state: SchemaState, where: str) -> str:
    """What a person needs to read when a server refuses the database's schema."""
    if state.empty:
        return (
            f"the database {where} has no tactful schema yet; create it with `tactful db upgrade` "
            f"(it applies {len(state.known)} migrations up to {state.head})"
        )
    if state.current is None:
        return (
            f"the database {where} holds tables but no tactful schema revision; "
            "point TACTFUL_DATABASE_URL at a database of tactful's own"
        )
    if state.behind:
        return (
            f"the database {where} is at schema {state.current}, this tactful needs {state.head}; "
            f"back it up, then run `tactful db upgrade` (pending: {', '.join(state.pending)})"
        )
    return (
        f"the database {where} is at schema {state.current}, which this tactful (head {state.head}) "
        "does not know: it was upgraded by a newer tactful; run that version"
    )


def mask_url(url: str) -> str:
    """``scheme://user:secret@host/db`` with the secret replaced by ``***``."""
    return re.sub(r"^([\w+.-]+://[^:/@]*:)[^@]*@", r"\1***@", url)


__all__ = [
    "AuditStore",
    "ItemStat",
    "KeyStore",
    "PolicyStore",
    "PrivacyStore",
    "SchemaState",
    "SqlStore",
    "Store",
    "StoredEvent",
    "UnitOfWork",
    "check_schema",
    "mask_url",
    "open_store",
    "schema_message",
]
