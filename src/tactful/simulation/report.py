"""Showing the respect benchmark: a Rich table and a comparison plot (policies on vs off)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from tactful.simulation.metrics import KEYS, PHASE_KEYS

MUST_BE_ZERO = frozenset(KEYS[:7]) | frozenset(PHASE_KEYS)
"""The invariants: the first seven figures and the phase figures must be 0 with policies on."""
LABELS = {
    "sensitive_exposures": "sensitive exposures without opt-in",
    "disliked_reshown": "disliked items shown again",
    "muted_exposures": "muted-topic exposures after the mute",
    "cap_violations": "promoted placements beyond caps",
    "retarget_after_window": "retargeting after its window",
    "premature_interest_actions": "interests acted on before established",
    "opt_out_residue": "what stays learned through a sensitive phase",
    "stale_item_reasons": "'because you liked' an item liked before the window",
    "self_reasons": "'because you liked X' shown on X itself",
    "reload_backoff": "lists backed off by reloads, not by ignored visits",
    "contradictory_reasons": "cards that give an interest and a dislike of the same tag",
    "drift_adapt_days": "days to adapt to a drift (lower is better)",
    "exploration_share": "realized exploration share",
    "coverage": "catalog coverage",
    "hidden_hit_rate": "hit rate on hidden interests (HR@10)",
}


def table(result: dict[str, dict[str, float]]) -> Table:
    out = Table(title="tactful simulate: the respect benchmark")
    out.add_column("figure")
    out.add_column("policies on", justify="right")
    out.add_column("policies off", justify="right")
    out.add_column("target", justify="right")
    for key in KEYS:
        on, off = result["policies_on"][key], result["policies_off"][key]
        style = "green" if key in MUST_BE_ZERO and on == 0 else ("red" if key in MUST_BE_ZERO else "")
        out.add_row(
            f"{key}\n[dim]{LABELS[key]}[/dim]",
            f"[{style}]{on:g}[/{style}]" if style else f"{on:g}",
            f"{off:g}",
            "0" if key in MUST_BE_ZERO else "",
        )
    return out


def plot(result: dict[str, dict[str, float]], path: Path) -> Path:
    """Grouped bars: the must-be-zero counts on the left, the rates on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [k for k in KEYS if k in MUST_BE_ZERO]
    rates = ["exploration_share", "coverage", "hidden_hit_rate"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), gridspec_kw={"width_ratios": [3, 2, 1]})
    for ax, keys, title in (
        (axes[0], counts, "must be 0"),
        (axes[1], rates, "shares"),
        (axes[2], ["drift_adapt_days"], "days"),
    ):
        xs = range(len(keys))
        on = [result["policies_on"][k] for k in keys]
        off = [result["policies_off"][k] for k in keys]
        ax.bar([x - 0.2 for x in xs], on, width=0.4, label="policies on", color="#2a9d8f")
        ax.bar([x + 0.2 for x in xs], off, width=0.4, label="policies off", color="#e76f51")
        ax.set_xticks(list(xs))
        ax.set_xticklabels([k.replace("_", "\n") for k in keys], fontsize=8)
        ax.set_title(title)
    axes[0].set_yscale("symlog")
    axes[0].legend()
    fig.suptitle("tactful simulate: policies on vs off (same engine, same population)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
