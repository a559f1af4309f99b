"""Comparison chart of an evaluation report (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tactful.errors import ValidationError
from tactful.extras import require

METRICS = ("ndcg@10", "recall@20", "hr@10", "coverage@10")


def plot_comparison(report: dict[str, Any], path: str | Path) -> Path:
    """Grouped bars of each metric per model; the format follows the suffix (PNG or SVG)."""
    matplotlib = require("matplotlib", "plots", "drawing a chart")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(path)
    if out.suffix.lower() not in (".png", ".svg"):
        raise ValidationError("the chart must be a .png or .svg file", field="plot")
    results = report["results"]
    names = [r["name"] for r in results]
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 4.2))
    colors = ["#d1495b" if n == "tactful" else "#8d99ae" for n in names]
    for ax, metric in zip(axes, METRICS, strict=True):
        values = [float(r[metric]) for r in results]
        bars = ax.bar(range(len(names)), values, color=colors)
        ax.set_title(metric)
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
        ax.set_ylim(0, max(values) * 1.18 if max(values) > 0 else 1)
    split = report["split"]
    fig.suptitle(
        f"{split['test_users']} test users, {split['targets']} targets, "
        f"{split['items']} items, {split['train']} training interactions",
        fontsize=10,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
