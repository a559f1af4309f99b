"""Export: every row stored about one person, as one JSON bundle (P15)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from tactful.storage.protocol import PrivacyStore

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


def export_person(store: PrivacyStore, user_id: str, now: datetime) -> PersonExport:
    """The person's rows in every person table, read from one consistent snapshot."""
    return PersonExport(user_id=user_id, exported_at=now, tables=store.person_rows(user_id))
