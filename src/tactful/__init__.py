"""tactful: recommendations that learn from every signal and know when to back off."""

from tactful.clock import ManualClock, SystemClock
from tactful.config.settings import Settings
from tactful.domain import Consent, Event, Item, Person, Provenance, TagMeta
from tactful.engine import Engine

__version__ = "0.1.0"

__all__ = [
    "Consent",
    "Engine",
    "Event",
    "Item",
    "ManualClock",
    "Person",
    "Provenance",
    "Settings",
    "SystemClock",
    "TagMeta",
    "__version__",
]
