"""Every experiment metric, defined once: reports, guardrails and the dashboard read these.

A metric is a ratio of per-person sums over the people exposed to a variant:

- the **numerator** counts a person's attributed events of the given types (``binary``:
  1 if they had any, so "share of people who ..."), or their served lists when
  ``events`` is empty;
- the **denominator** is what they were shown: ``items`` (slots served), ``lists``
  (recommendation lists served) or ``person`` (1 each).

An event is attributed to an experiment when it carries the ``recommendation_id`` of a list
served to that person under the experiment, and happened within the attribution window
after that list. Messages are lists too (surfaces such as ``email_digest``), so an
unsubscribe or complaint from a message counts through the message's recommendation id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Per = Literal["items", "lists", "person"]


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    events: tuple[str, ...]
    per: Per
    binary: bool = False
    higher_is_better: bool = True
    description: str = ""


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("ctr", "CTR", ("click",), "items", description="clicks per item shown"),
        Metric(
            "save_rate",
            "save or like rate",
            ("save", "like"),
            "items",
            description="saves and likes per item shown",
        ),
        Metric(
            "skip_rate",
            "skip rate",
            ("skip",),
            "items",
            higher_is_better=False,
            description="skips per item shown",
        ),
        Metric(
            "dislike_rate",
            "dislike rate",
            ("dislike", "dismiss"),
            "items",
            higher_is_better=False,
            description="dislikes and dismissals per item shown",
        ),
        Metric(
            "conversion",
            "conversion",
            ("purchase",),
            "person",
            binary=True,
            description="share of people with an attributed purchase",
        ),
        Metric(
            "unsubscribe_rate",
            "unsubscribe rate",
            ("unsubscribe",),
            "person",
            binary=True,
            higher_is_better=False,
            description="share of people who unsubscribed (from a list or message)",
        ),
        Metric(
            "complaint_rate",
            "complaint rate",
            ("complaint",),
            "person",
            binary=True,
            higher_is_better=False,
            description="share of people who complained (from a list or message)",
        ),
        Metric(
            "recs_per_person",
            "lists per person",
            (),
            "person",
            description="recommendation lists served per person",
        ),
    )
}


class MetricName(StrEnum):
    """The metrics an experiment may name (what the API schema publishes)."""

    ctr = "ctr"
    save_rate = "save_rate"
    skip_rate = "skip_rate"
    dislike_rate = "dislike_rate"
    conversion = "conversion"
    unsubscribe_rate = "unsubscribe_rate"
    complaint_rate = "complaint_rate"
    recs_per_person = "recs_per_person"


assert set(MetricName) == set(METRICS), "every metric is named once"

ATTRIBUTED_TYPES: tuple[str, ...] = tuple(sorted({t for m in METRICS.values() for t in m.events}))
"""The event types any metric counts (the store attributes only these)."""
