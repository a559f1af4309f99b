"""A small engine with a catalog, topics and a manual clock for the messaging tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tactful import Engine, ManualClock, Settings
from tactful.config.messaging import MessagingSettings, TopicSettings
from tactful.config.security import AuthSettings
from tactful.domain.event import Event
from tactful.domain.item import Item
from tactful.domain.messages import OutboxMessage
from tactful.storage.protocol import StoredPreferences

START = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)  # a Monday


def topics() -> dict[str, TopicSettings]:
    return {
        "jazz": TopicSettings(name="Jazz", tags=["genre:jazz"]),
        "films": TopicSettings(name="Films", tags=["genre:film"]),
        "picks": TopicSettings(name="Picks", description="Anything we think you'd like"),
        "account": TopicSettings(name="Account", required=True, reason="Security notices must reach you."),
    }


def catalog() -> list[Item]:
    items = []
    for k in range(40):
        genre = ("jazz", "film", "rock")[k % 3]
        items.append(Item(id=f"i{k}", title=f"Item {k}", tags=[f"genre:{genre}", f"creator:c{k % 7}"]))
    items.append(Item(id="sens", title="Health", tags=["genre:jazz", "topic:health"], sensitive=["health"]))
    return items


class Recorder:
    """A transport that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[OutboxMessage] = []

    def send(self, message: OutboxMessage, stored: StoredPreferences, now: datetime) -> None:
        self.sent.append(message)


def make_engine(
    path: Path, clock: ManualClock, url: str | None = None, auth: bool = False, **messaging: object
) -> Engine:
    settings = Settings(
        data_dir=path,
        database_url=url,
        auth=AuthSettings(enabled=auth),
        messaging=MessagingSettings(topics=topics(), **messaging),  # type: ignore[arg-type]
    )
    engine = Engine(settings, clock=clock)
    engine.upsert_items(catalog())
    # others make items popular
    engine.ingest([Event(user_id=f"o{k}", item_id=f"i{(k * 5) % 40}", type="like") for k in range(60)])
    return engine


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def engine(tmp_path: Path, clock: ManualClock) -> Iterator[Engine]:
    with make_engine(tmp_path / "data", clock) as e:
        yield e


@pytest.fixture
def recorder(engine: Engine) -> Recorder:
    rec = Recorder()
    engine.set_transports({"email": rec, "push": rec, "in_app": rec})  # type: ignore[dict-item]
    return rec


def subscribe(engine: Engine, user: str = "ann", **extra: object) -> None:
    body = {
        "channels": ["email"],
        "email": f"{user}@example.com",
        "topics": {"jazz": "opted_in"},
        "cadence": {"kind": "daily"},
        "window": {"start": "07:00", "end": "21:00"},
        "timezone": "UTC",
    }
    body.update(extra)
    engine.update_message_preferences(user, body)
