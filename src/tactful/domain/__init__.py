"""Domain types: items, tags, people, events and what the engine returns."""

from tactful.domain.event import Event, EventBatch, EventContext, IngestResult, Provenance
from tactful.domain.item import Item, ItemAttributes, TagMeta
from tactful.domain.person import Consent, Person
from tactful.domain.recommendation import (
    Exclusion,
    InterestView,
    ProfileView,
    Reason,
    Recommendations,
    RecommendedItem,
)

__all__ = [
    "Consent",
    "Event",
    "EventBatch",
    "EventContext",
    "Exclusion",
    "IngestResult",
    "InterestView",
    "Item",
    "ItemAttributes",
    "Person",
    "ProfileView",
    "Provenance",
    "Reason",
    "RecommendedItem",
    "Recommendations",
    "TagMeta",
]
