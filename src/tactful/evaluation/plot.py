"""Comparison chart of an evaluation report (matplotlib, Agg backend)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from tactful.errors import ValidationError
from tactful.extras import require

METRICS = ("ndcg@10", "recall@20", "hr@10", "coverage@10")


def plot_comparison(report: dict[str, Any], path: str | Path) -> Path:
    """One panel per metric, a bar per model with its interval; PNG or SVG by the suffix."""
    matplotlib = require("matplotlib", "plots", "drawing a chart")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(path)
    if out.suffix.lower() not in (".png", ".svg"):
        raise ValidationError("the chart must be a .png or .svg file", field="plot")
    results = report["results"]
    names = [_label(r) for r in results]
    fig, axes = plt.subplots(len(METRICS), 1, figsize=(9, 2.2 + 0.45 * len(names) * len(METRICS)))
    colors = [_colour(r.get("kind", "")) for r in results]
    positions = list(range(len(names)))[::-1]
    for ax, metric in zip(axes, METRICS, strict=True):
        values = [float(r[metric]) for r in results]
        intervals = [r.get("ci95", {}).get(metric) for r in results]
        low = [max(v - (ci[0] if ci else v), 0.0) for v, ci in zip(values, intervals, strict=True)]
        high = [max((ci[1] if ci else v) - v, 0.0) for v, ci in zip(values, intervals, strict=True)]
        ax.barh(positions, values, color=colors, xerr=[low, high], capsize=3, ecolor="#2b2d42")
        ax.set_yticks(positions, names, fontsize=7)
        ax.set_title(f"{metric} (bars: 95 % bootstrap interval over test users)", fontsize=9)
        top = max((v + h for v, h in zip(values, high, strict=True)), default=0.0)
        ax.set_xlim(0, top * 1.15 if top > 0 else 1)
        for y, v in zip(positions, values, strict=True):
            ax.text(v, y, f" {v:.3f}", va="center", fontsize=6)
    split = report["split"]
    fig.suptitle(
        f"{split['test_users']} test users, {split['targets']} targets, "
        f"{split['items']} items, {split['train']} training interactions",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _label(row: dict[str, Any]) -> str:
    """The full model name, wrapped so long names stay readable."""
    return textwrap.fill(str(row["name"]), 34)


def _colour(kind: str) -> str:
    return {"tactful": "#d1495b", "tuned": "#5c80bc", "fixed": "#b8bec8"}.get(kind, "#8d99ae")
