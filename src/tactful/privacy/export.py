"""Export: every row stored about one person, as one JSON bundle (P15)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Column, Connection, Table, Text, select

from tactful.storage import schema as t
from tactful.storage.sql import SqlStore

FORMAT: Literal["tactful-export/1"] = "tactful-export/1"


class PersonExport(BaseModel):
    """Everything tactful stores about one person, table by table."""

    format: Literal["tactful-export/1"] = FORMAT
    user_id: str
    exported_at: datetime
    tables: dict[str, list[dict[str, Any]]] = Field(
        description="Rows of every table keyed by the person, JSON columns decoded; times are epoch seconds."
    )

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.tables.values())


def person_tables() -> list[Table]:
    """The tables listed in ``schema.PERSON_TABLES``, in that order."""
    return [t.metadata.tables[name] for name in t.PERSON_TABLES]


def person_column(table: Table) -> Column[Any]:
    """The column holding the person's id: ``user_id``, or ``id`` for ``persons``."""
    if "user_id" in table.c:
        return table.c.user_id
    if table.name == "persons":
        return table.c.id
    raise KeyError(f"table {table.name} has no person column")


@contextmanager
def snapshot(store: SqlStore) -> Iterator[Connection]:
    """A read-only connection that sees one consistent state across all its queries."""
    with store.engine.connect() as conn:
        if store.is_sqlite:
            conn.exec_driver_sql("BEGIN")
            try:
                yield conn
            finally:
                conn.exec_driver_sql("ROLLBACK")
        else:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin() as tx:
                yield conn
                tx.rollback()


def _decode(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, str) and isinstance(table.c[key].type, Text) and value[:1] in "[{":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[key] = value
    return out


def person_rows(conn: Connection, user_id: str) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in person_tables():
        query = select(table).where(person_column(table) == user_id)
        pk = list(table.primary_key.columns)
        if pk:
            query = query.order_by(*pk)
        tables[table.name] = [_decode(table, dict(r)) for r in conn.execute(query).mappings()]
    return tables


def export_person(store: SqlStore, user_id: str, now: datetime) -> PersonExport:
    with snapshot(store) as conn:
        tables = person_rows(conn, user_id)
    return PersonExport(user_id=user_id, exported_at=now, tables=tables)
