"""Charts drawn on the server as inline SVG (no script, no CDN): bars and a line."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

W, H, PAD_L, PAD_B, PAD_T = 420, 190, 46, 30, 12
FONT = 13
INK, GRID, BAR = "#1d2433", "#d5d9e0", "#1b6650"


def _frame(title: str, top: float, inner: str, labels: str) -> Markup:
    grid = []
    for k in range(5):
        y = PAD_T + (H - PAD_T - PAD_B) * k / 4
        value = top * (1 - k / 4)
        grid.append(
            f'<line x1="{PAD_L}" x2="{W - 6}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="{FONT}" '
            f'fill="{INK}">{value:g}</text>'
        )
    return Markup(
        f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(grid)}{inner}{labels}</svg>"
    )


def _top(values: Sequence[float]) -> float:
    peak = max(values, default=0.0)
    if peak <= 0:
        return 1.0
    step = 10 ** max(0, len(str(int(peak))) - 1)
    return float(-(-peak // step) * step) or 1.0


def bar_chart(title: str, pairs: Sequence[tuple[str, float]]) -> Markup:
    """One bar per (label, value)."""
    values = [v for _, v in pairs]
    top = _top(values)
    span = (W - PAD_L - 10) / max(1, len(pairs))
    bars, labels = [], []
    for k, (name, value) in enumerate(pairs):
        h = (H - PAD_T - PAD_B) * value / top
        x = PAD_L + k * span + span * 0.15
        bars.append(
            f'<rect x="{x:.1f}" y="{H - PAD_B - h:.1f}" width="{span * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{BAR}">'
            f"<title>{escape(name)}: {value:g}</title></rect>"
        )
        labels.append(
            f'<text x="{x + span * 0.35:.1f}" y="{H - 10}" text-anchor="middle" font-size="{FONT}" '
            f'fill="{INK}">{escape(name[:16])}</text>'
        )
    return _frame(title, top, "".join(bars), "".join(labels))


def line_chart(title: str, values: Sequence[float], first: str, last: str) -> Markup:
    """A line over evenly spaced values, labelled at both ends."""
    top = _top(values)
    n = max(1, len(values) - 1)
    points = " ".join(
        f"{PAD_L + (W - PAD_L - 10) * k / n:.1f},{H - PAD_B - (H - PAD_T - PAD_B) * v / top:.1f}"
        for k, v in enumerate(values)
    )
    inner = f'<polyline points="{points}" fill="none" stroke="{BAR}" stroke-width="2.5"/>'
    labels = (
        f'<text x="{PAD_L}" y="{H - 10}" font-size="{FONT}" fill="{INK}">{escape(first)}</text>'
        f'<text x="{W - 10}" y="{H - 10}" font-size="{FONT}" text-anchor="end" '
        f'fill="{INK}">{escape(last)}</text>'
    )
    return _frame(title, top, inner, labels)
