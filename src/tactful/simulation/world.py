"""A seeded synthetic world with ground truth: a catalog, a crowd, and people whose tastes we know.

People have stated interests (told to the engine) and hidden ones (only behaviour reveals
them). Some ignore everything we show, some drift to a new topic halfway, some go through
a sensitive life event that ends partway, some mute a topic, and a share arrive late.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tactful.domain.item import Item, TagMeta

SENSITIVE_TAG = "topic:pregnancy"
SENSITIVE_CATEGORY = "pregnancy"
ITEMS_PER_TOPIC = 14
SENSITIVE_ITEMS = 12
CREATORS = 60


def topic_tag(k: int) -> str:
    return f"topic:t{k:02d}"


@dataclass
class Persona:
    """One simulated person and the truth about them."""

    id: str
    hidden: list[str]
    stated: list[str]
    arrives_day: int
    visit_p: float
    ignorer: bool = False
    drift_day: int | None = None
    drift_from: str | None = None
    drift_to: str | None = None
    event_days: tuple[int, int] | None = None
    opted_in: bool = False
    mute_day: int | None = None
    mute_tag: str | None = None

    def hidden_on(self, day: int) -> set[str]:
        """Hidden interests the person really has on ``day`` (drift and mutes applied)."""
        current = set(self.hidden)
        if self.drift_day is not None and day >= self.drift_day and self.drift_from and self.drift_to:
            current.discard(self.drift_from)
            current.add(self.drift_to)
        if self.mute_day is not None and day >= self.mute_day and self.mute_tag:
            current.discard(self.mute_tag)
        return current

    def likes_on(self, day: int) -> set[str]:
        """Every topic the person responds to on ``day``."""
        out = self.hidden_on(day) | set(self.stated)
        if self.mute_day is not None and day >= self.mute_day and self.mute_tag:
            out.discard(self.mute_tag)
        if self.in_event(day):
            out.add(SENSITIVE_TAG)
        return out

    def in_event(self, day: int) -> bool:
        return self.event_days is not None and self.event_days[0] <= day < self.event_days[1]

    @property
    def opt_out_day(self) -> int | None:
        """An opted-in person opts out of the sensitive category again the day their event ends."""
        return self.event_days[1] if self.event_days is not None and self.opted_in else None

    def opted_in_on(self, day: int) -> bool:
        return self.opted_in and (self.opt_out_day is None or day < self.opt_out_day)


@dataclass
class PromotionPlan:
    id: str
    name: str
    tags: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    target_tags: list[str] = field(default_factory=list)
    cap: int = 2
    window_days: float = 7.0


@dataclass
class World:
    items: list[Item]
    tag_meta: list[TagMeta]
    topics: list[str]
    item_topic: dict[str, str]
    sensitive_items: set[str]
    crowd: list[tuple[str, str]]
    people: list[Persona]
    promotions: list[PromotionPlan]
    days: int
    promotions_day: int


def build_world(people: int = 64, weeks: int = 10, seed: int = 7, topics: int = 30) -> World:
    """Everything the simulation needs, drawn from one seed."""
    rng = np.random.default_rng(seed)
    days = weeks * 7
    topic_tags = [topic_tag(k) for k in range(topics)]
    items: list[Item] = []
    item_topic: dict[str, str] = {}
    for k, tag in enumerate(topic_tags):
        for j in range(ITEMS_PER_TOPIC):
            iid = f"t{k:02d}-{j:02d}"
            creator = f"creator:c{int(rng.integers(CREATORS)):02d}"
            items.append(Item(id=iid, title=f"Topic {k} #{j}", tags=[tag, creator]))
            item_topic[iid] = tag
    sensitive: set[str] = set()
    for j in range(SENSITIVE_ITEMS):
        iid = f"preg-{j:02d}"
        items.append(
            Item(id=iid, title=f"Expecting #{j}", tags=[SENSITIVE_TAG], sensitive=[SENSITIVE_CATEGORY])
        )
        item_topic[iid] = SENSITIVE_TAG
        sensitive.add(iid)
    meta = [TagMeta(tag=SENSITIVE_TAG, label="pregnancy", sensitive_category=SENSITIVE_CATEGORY)]
    # a crowd makes some items popular (Zipf over items, sensitive ones included)
    ids = [i.id for i in items]
    weights = 1.0 / np.arange(1, len(ids) + 1) ** 0.9
    order = rng.permutation(len(ids))
    probs = weights[np.argsort(order)]
    probs /= probs.sum()
    crowd = [
        (f"crowd-{u:03d}", ids[int(k)])
        for u in range(80)
        for k in rng.choice(len(ids), size=12, replace=False, p=probs)
    ]
    personas = [_persona(n, rng, topic_tags, days) for n in range(people)]
    promos = [
        PromotionPlan(
            id="promo-cross",
            name="cross-sell",
            tags=[topic_tags[1]],
            target_tags=topic_tags[2:8],
            cap=2,
        ),
        PromotionPlan(
            id="promo-new", name="new releases", items=[f"t{k:02d}-13" for k in range(8, 14)], cap=1
        ),
    ]
    return World(items, meta, topic_tags, item_topic, sensitive, crowd, personas, promos, days, 3)


def _persona(n: int, rng: np.random.Generator, topics: list[str], days: int) -> Persona:
    picks = [topics[int(k)] for k in rng.choice(len(topics), size=4, replace=False)]
    kind = rng.random()
    stated = [picks[2]] if rng.random() < 0.4 else []
    persona = Persona(
        id=f"p{n:04d}",
        hidden=picks[:2],
        stated=stated,
        arrives_day=0 if rng.random() < 0.75 else int(rng.integers(7, max(days - 14, 8))),
        visit_p=float(rng.uniform(0.25, 0.55)),
    )
    if kind < 0.10:
        persona.ignorer = True
    elif kind < 0.30:
        persona.drift_day = days // 2
        persona.drift_from, persona.drift_to = picks[0], picks[3]
    elif kind < 0.45:
        start = persona.arrives_day + int(rng.integers(0, 7))
        persona.event_days = (start, start + int(rng.integers(14, 28)))
        persona.opted_in = rng.random() < 0.3
    elif kind < 0.60:
        persona.mute_day = persona.arrives_day + int(rng.integers(10, 21))
        persona.mute_tag = picks[1]
    return persona
