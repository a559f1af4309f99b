"""The interest gate: which learned interests may drive personalization, and why not (P4, P6–P9, P11).

Runs before scoring. Each tag interest is either *used* (its decayed, consented score goes
into the tag vector the scorers read) or *withheld* with a reason the person can read:
muted, removed, not yet established, outside the retargeting window, stale, or only
supported by provenances they did not consent to. Sensitive tags the person did not opt
in to are withheld silently: they must not appear in explanations either (P8). Stated
interests override inference (P11). Everything here is a pure function of its inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from tactful.domain.person import Person
from tactful.domain.recommendation import Reason
from tactful.index.catalog import CatalogIndex
from tactful.index.compiled_profile import CompiledProfile, provenance_arrays
from tactful.signals.profile import DAY, Profile


@dataclass(frozen=True)
class GateConfig:
    """Thresholds copied from settings."""

    evidence_threshold: int = 3
    retarget_window_days: float = 30.0
    stale_below: float = 0.2
    recency_half_life_days: float = 14.0
    stated_weight: float = 4.0


@dataclass(frozen=True)
class InterestGate:
    """The gated tag vector and the interests used; what was withheld is explained on demand."""

    tag_vector: np.ndarray
    used: dict[str, float]
    explain: Callable[[], list[Reason]] = field(default=list, repr=False, compare=False)

    @cached_property
    def withheld(self) -> list[Reason]:
        """Why each learned interest is not used, in profile order (built only when read)."""
        return self.explain()


def opted_out_categories(person: Person, categories: frozenset[str]) -> frozenset[str]:
    """The sensitive categories among ``categories`` the person has not opted in to."""
    return categories - frozenset(person.consent.sensitive_opt_in)


def hidden_tags(person: Person, catalog: CatalogIndex) -> frozenset[str]:
    """Tags that may never drive anything for this person: muted, removed, sensitive without opt-in."""
    opted = frozenset(person.consent.sensitive_opt_in)
    sensitive = {t for t, c in catalog.tag_sensitive.items() if c not in opted}
    return frozenset(person.muted_topics) | frozenset(person.blocked_interests) | sensitive


def hidden_tag_mask(person: Person, catalog: CatalogIndex) -> np.ndarray:
    """:func:`hidden_tags` as a boolean mask over the catalog's tags."""
    mask = catalog.hidden_tag_mask(person.consent.sensitive_opt_in)
    cols = catalog.tag_columns([*person.muted_topics, *person.blocked_interests])
    if cols.size:
        mask = mask.copy()
        mask[cols] = True
    return mask


def item_may_drive(person: Person, catalog: CatalogIndex, positions: np.ndarray) -> np.ndarray:
    """Mask over ``positions``: items whose engagement may drive scores (no hidden tag, no sensitivity).

    An item carrying a sensitive tag is in that tag's category, so the sensitive deny mask
    covers hidden sensitive tags; muted and removed tags are looked up by column.
    """
    deny = catalog.sensitive_deny(person.consent.sensitive_opt_in)
    cols = catalog.tag_columns([*person.muted_topics, *person.blocked_interests])
    if cols.size:
        deny = deny | catalog.items_with_tags(cols)
    return ~deny[np.asarray(positions, dtype=np.int64)]


USED, NOT_CONSENTED, NOT_ESTABLISHED, RETARGET_WINDOW, STALE = range(5)


def _reason(
    code: int, tag: str, label: str, value: float, evidence: int, last: float, now: float, cfg: GateConfig
) -> Reason:
    """The reason a positive inferred interest is withheld (``last`` is NaN when never positive)."""
    if code == NOT_CONSENTED:
        return Reason(
            code="not_consented",
            message=f"your interest in {label} rests only on data you have not allowed us to use",
            tag=tag,
        )
    if code == NOT_ESTABLISHED:
        return Reason(
            code="not_established",
            message=f"{label}: {evidence} of {cfg.evidence_threshold} independent signals so far; "
            "not used until established",
            tag=tag,
            evidence=evidence,
        )
    if code == RETARGET_WINDOW:
        days = "ever" if math.isnan(last) else f"{(now - last) / DAY:.0f} days"
        return Reason(
            code="retarget_window",
            message=f"no positive signal on {label} for {days} "
            f"(window {cfg.retarget_window_days:g} days); no longer used",
            tag=tag,
            evidence=evidence,
        )
    return Reason(
        code="stale",
        message=f"your interest in {label} has faded (score {value:.2f}); no longer used",
        tag=tag,
        weight=round(value, 4),
    )


def gate_codes(
    value: np.ndarray,
    full: np.ndarray,
    established: np.ndarray,
    last: np.ndarray,
    now: float,
    cfg: GateConfig,
) -> np.ndarray:
    """Per interest row, USED or why a positive inferred interest is withheld (first reason wins)."""
    never = np.isnan(last)
    outside = never | (now - np.where(never, now, last) > cfg.retarget_window_days * DAY)
    return np.select(
        [(value <= 0.0) & (full > 0.0), ~established, outside, value < cfg.stale_below],
        [NOT_CONSENTED, NOT_ESTABLISHED, RETARGET_WINDOW, STALE],
        USED,
    )


def gate_interests(
    catalog: CatalogIndex,
    person: Person,
    profile: Profile,
    now: float,
    half_lives: dict[str, float],
    allowed: frozenset[str],
    cfg: GateConfig,
    compiled: CompiledProfile | None = None,
) -> InterestGate:
    """Decide, tag by tag (vectorized over ``compiled``, the profile as arrays), what may drive scores."""
    vector = np.zeros(len(catalog.tag_ids))
    if not person.consent.personalization:
        return InterestGate(vector, {})
    if compiled is None or compiled.catalog_version != catalog.version:
        compiled = CompiledProfile.build(profile, catalog)
    hl, consented = provenance_arrays(half_lives, allowed)
    value = compiled.tag_values(now, hl, consented)
    full = compiled.tag_values(now, hl, np.ones_like(consented))
    pos = compiled.tag_pos
    visible = ~hidden_tag_mask(person, catalog)[pos]
    negative = visible & (value < 0.0)
    vector[pos[negative]] = value[negative]  # a dislike demotes at once, established or not (P2)
    stated_cols = catalog.tag_columns(person.stated_interests)
    stated = np.zeros(len(catalog.tag_ids), dtype=bool)
    stated[stated_cols] = True
    gated = visible & (value >= 0.0) & ~stated[pos] & ~((value == 0.0) & (full <= 0.0))
    last = compiled.tag_last_positive
    code = np.where(gated, gate_codes(value, full, compiled.tag_established, last, now, cfg), -1)
    use = code == USED
    age = np.maximum(now - np.where(use, last, now), 0.0)
    weight = value * np.power(0.5, age / (cfg.recency_half_life_days * DAY))
    vector[pos[use]] = weight[use]
    used = dict(zip([compiled.tag_names[r] for r in np.flatnonzero(use)], weight[use].tolist(), strict=True))
    if "explicit" in allowed:
        hidden = hidden_tag_mask(person, catalog)
        for tag in dict.fromkeys(person.stated_interests):
            col = catalog.tag_index.get(tag)
            if col is None or hidden[col]:
                continue
            vector[col] = max(vector[col], 0.0) + cfg.stated_weight
            used[tag] = float(vector[col])
    muted = frozenset(person.muted_topics)

    def explain() -> list[Reason]:
        rows = {name: r for r, name in enumerate(compiled.tag_names)}
        out: list[Reason] = []
        for tag in profile.interests:
            r = rows.get(tag)
            if r is None or not visible[r]:
                if tag in muted:
                    out.append(Reason(code="muted", message=f"you muted {tag}", tag=tag))
                continue
            if code[r] > USED:
                label = catalog.tag_labels.get(tag, tag)
                evidence = int(compiled.tag_evidence[r])
                why = _reason(int(code[r]), tag, label, float(value[r]), evidence, float(last[r]), now, cfg)
                out.append(why)
        return out

    return InterestGate(vector, used, explain)


def ungated_vector(
    catalog: CatalogIndex, person: Person, profile: Profile, now: float, half_lives: dict[str, float]
) -> np.ndarray:
    """The plain-recommender baseline: every learned tag and provenance counts, nothing is withheld."""
    vector = np.zeros(len(catalog.tag_ids))
    for tag, interest in profile.interests.items():
        pos = catalog.tag_index.get(tag)
        if pos is not None:
            vector[pos] = interest.scores.value(now, half_lives)
    for tag in person.stated_interests:
        pos = catalog.tag_index.get(tag)
        if pos is not None:
            vector[pos] = max(vector[pos], 0.0) + 4.0
    return vector


def item_learnable(person: Person, catalog: CatalogIndex, item_id: str | None, item_tags: list[str]) -> bool:
    """Whether a signal on this item may teach anything at all (P8).

    Not when the item carries a topic the person muted, or is in a sensitive category they
    have not opted in to: such a signal is learned neither as tags nor as item history, so
    nothing liked while muted comes back on unmute, and nothing from a sensitive phase
    outlives the opt-out.
    """
    if person.muted_topics and not set(person.muted_topics).isdisjoint(item_tags):
        return False
    if item_id is not None:
        pos = catalog.index.get(item_id)
        if pos is not None and opted_out_categories(person, catalog.sensitive[pos]):
            return False
    return True


def signal_gate(
    person: Person, catalog: CatalogIndex
) -> Callable[[str | None, list[str]], tuple[frozenset[str], bool]]:
    """For one person: ``(item_id, item_tags) -> (unlearnable_tags, item_learnable)`` at once.

    The same answers as :func:`unlearnable_tags` and :func:`item_learnable`, with what
    depends only on the person (hidden tags, opt-ins, mutes) worked out once: a batch asks
    this for each of the person's events.
    """
    hidden = hidden_tags(person, catalog)
    opted = frozenset(person.consent.sensitive_opt_in)
    muted = frozenset(person.muted_topics)
    index, sensitive = catalog.index, catalog.sensitive

    def gate(item_id: str | None, item_tags: list[str]) -> tuple[frozenset[str], bool]:
        if item_id is not None:
            pos = index.get(item_id)
            if pos is not None:
                categories = sensitive[pos]
                if categories and not categories <= opted:
                    return hidden | frozenset(item_tags), False
        return hidden, not muted or muted.isdisjoint(item_tags)

    return gate


def unlearnable_tags(
    person: Person,
    catalog: CatalogIndex,
    item_id: str | None,
    item_tags: list[str],
    hidden: frozenset[str] | None = None,
) -> frozenset[str]:
    """Tags a signal must not teach (P8, P11): muted, removed, sensitive without opt-in.

    A signal on an item in a sensitive category the person has not opted in to teaches no
    tag at all, so sensitive behaviour cannot leak into neighbouring, non-sensitive tags.
    """
    if hidden is None:
        hidden = hidden_tags(person, catalog)
    if item_id is not None:
        pos = catalog.index.get(item_id)
        if pos is not None and opted_out_categories(person, catalog.sensitive[pos]):
            return hidden | frozenset(item_tags)
    return hidden
