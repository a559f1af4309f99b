"""Album covers drawn here, as inline SVG, from an item's title and tags (nothing is downloaded)."""

from __future__ import annotations

import hashlib
from html import escape

from markupsafe import Markup

# Background per genre; every colour keeps white text above 4.5:1 contrast (WCAG AA).
PALETTE = {
    "genre:jazz": ("#1f3a5f", "#c98b2b"),
    "genre:rock": ("#6b1d1d", "#e0a040"),
    "genre:classical": ("#3e3a5c", "#d9c27a"),
    "genre:hip-hop": ("#2a2a2a", "#e8503a"),
    "genre:electronic": ("#123f4a", "#37c6d0"),
    "genre:folk": ("#3d4f22", "#d8b25a"),
    "genre:ambient": ("#24415a", "#8fc1d9"),
    "genre:soul": ("#5a2346", "#f0a05a"),
    "genre:metal": ("#1c1c24", "#9aa3ad"),
    "genre:latin": ("#7a2a12", "#f5c542"),
}
DEFAULT = ("#33415c", "#9db4c0")
SMALL_WORDS = {"of", "the", "a", "an", "and", "in", "on", "vol"}


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def cover_svg(item_id: str, title: str, tags: list[str], size: int = 120) -> Markup:
    """A square cover: the genre's colours, a shape set from the mood and the title's hash."""
    genre = next((t for t in tags if t.startswith("genre:")), "")
    back, accent = PALETTE.get(genre, DEFAULT)
    h = _digest(item_id + title)
    shapes = []
    mood = next((t for t in tags if t.startswith("mood:")), "")
    for k in range(4):
        x, y, r = 10 + h[k] % 100, 10 + h[k + 4] % 100, 8 + h[k + 8] % 34
        opacity = 0.25 + (h[k + 12] % 50) / 100
        if mood in ("mood:calm", "mood:melancholy", "mood:romantic"):
            shapes.append(f'<circle cx="{x}" cy="{y}" r="{r}" fill="{accent}" fill-opacity="{opacity:.2f}"/>')
        else:
            shapes.append(
                f'<rect x="{x - r / 2:.0f}" y="{y - r / 2:.0f}" width="{r}" height="{r}" '
                f'transform="rotate({h[k] % 90} {x} {y})" fill="{accent}" fill-opacity="{opacity:.2f}"/>'
            )
    plain = [w.strip(",.;:!?()") for w in title.split()]
    words = [w for w in plain if w[:1].isalpha() and w.lower() not in SMALL_WORDS]
    initials = (words[0][0] + (words[-1][0] if len(words) > 1 else "")).upper() if words else "♪"
    return Markup(
        f'<svg class="cover" viewBox="0 0 120 120" width="{size}" height="{size}" aria-hidden="true" '
        f'focusable="false">'
        f'<rect width="120" height="120" fill="{back}"/>{"".join(shapes)}'
        f'<text x="10" y="108" fill="#ffffff" font-size="22" font-weight="700" '
        f'font-family="system-ui, sans-serif">{escape(initials)}</text></svg>'
    )
