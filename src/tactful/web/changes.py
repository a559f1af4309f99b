"""What a click changed, in plain words, from the engine's own before/after.

Nothing here is canned: each sentence is read off the difference between the person's
profile before and after the change (interest scores, newly established interests,
engagement level) and between their feed before and after (what arrived, with the
engine's reason for it, and what left).
"""

from __future__ import annotations

from dataclasses import dataclass

from tactful.domain.recommendation import ProfileView, Recommendations
from tactful.web.text import Labels, plural

ENGAGEMENT_WORDS = {
    "new": "new here: you see popular and trending albums",
    "warming": "warming up: personal picks start to mix in",
    "engaged": "engaged: your picks are mostly personal",
}


@dataclass(frozen=True)
class Snapshot:
    profile: ProfileView
    feed: list[str]


def _scores(view: ProfileView) -> dict[str, float]:
    return {i.tag: i.score for i in view.interests}


def interest_moves(before: ProfileView, after: ProfileView, labels: Labels) -> list[str]:
    """Sentences about the interests that moved most, up and down, and those that went."""
    old, new = _scores(before), _scores(after)
    deltas = {t: new[t] - old.get(t, 0.0) for t in new}
    ups = [t for t, d in sorted(deltas.items(), key=lambda kv: -kv[1]) if d > 1e-6][:2]
    downs = [t for t, d in sorted(deltas.items(), key=lambda kv: kv[1]) if d < -1e-6][:2]
    forgotten = [t for t, v in sorted(old.items(), key=lambda kv: -kv[1]) if t not in new and v > 0]
    cleared = [t for t, v in sorted(old.items(), key=lambda kv: kv[1]) if t not in new and v <= 0]
    out = []
    if ups:
        out.append("More " + " and ".join(labels(t) for t in ups) + " for you")
    if downs:
        out.append("Less " + " and ".join(labels(t) for t in downs))
    if forgotten:
        out.append("Forgotten: " + _some(forgotten, labels))
    if cleared:
        out.append("No longer held against you: " + _some(cleared, labels))
    established_before = {i.tag for i in before.interests if i.established}
    for i in after.interests:
        if i.established and i.tag not in established_before:
            out.append(
                f"{labels(i.tag)} now counts as one of your interests "
                f"(seen on {plural(i.evidence, 'separate day or visit', 'separate days or visits')})"
            )
            break
    return out


def _some(tags: list[str], labels: Labels) -> str:
    return ", ".join(labels(t) for t in tags[:3]) + (f" and {len(tags) - 3} more" if len(tags) > 3 else "")


def feed_moves(before: list[str], after: Recommendations, labels: Labels) -> list[str]:
    out = []
    arrived = [i for i in after.items if i.item_id not in before]
    left = [i for i in before if i not in {r.item_id for r in after.items}]
    if arrived:
        first = arrived[0]
        why = labels.message(first.reasons[0]) if first.reasons else ""
        more = f" and {plural(len(arrived) - 1, 'more album')}" if len(arrived) > 1 else ""
        out.append(f"New in your feed: “{first.title}”{(', ' + why) if why else ''}{more}")
    if left:
        out.append(f"{plural(len(left), 'album')} left your feed")
    if not arrived and not left:
        out.append("Your feed kept the same albums for now")
    return out


def describe(
    done: str,
    before: Snapshot,
    after_profile: ProfileView,
    after_feed: Recommendations,
    labels: Labels,
) -> str:
    """``done`` (what the person did, already in words), then what it changed and why."""
    parts = [done.rstrip(".") + "."]
    moves = interest_moves(before.profile, after_profile, labels)
    parts.extend(m + "." for m in moves)
    parts.extend(m + "." for m in feed_moves(before.feed, after_feed, labels))
    if before.profile.engagement != after_profile.engagement:
        parts.append(
            f"You are now {ENGAGEMENT_WORDS.get(after_profile.engagement, after_profile.engagement)}."
        )
    return " ".join(parts)
