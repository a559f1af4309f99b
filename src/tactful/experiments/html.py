# ruff: noqa: E501  (the page template reads best unwrapped)
"""The experiment report as one self-contained HTML page with inline SVG charts.

Charts: the cumulative effect of each metric (first treatment minus control) with its
confidence sequence band, exposures over time per variant, and the sample-ratio status.
No script, no external resource: it passes the site's content security policy as is.
"""

from __future__ import annotations

import math
from html import escape

from tactful.experiments.analysis import ExperimentReport, MetricReport

W, H, PAD = 560, 200, 40
LABEL_CHAR = 6.5  # about how wide one character of an 11 px label is
COLOURS = ("#3b6ea5", "#c8553d", "#4f9d69", "#8e6bb8", "#d4a017", "#555555")


def _fmt(x: float | None, pct: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x * 100:.3g}%" if pct else f"{x:.4g}"


def _scale(lo: float, hi: float, size: float, flip: bool) -> tuple[float, float]:
    if hi <= lo:
        hi = lo + 1.0
    k = size / (hi - lo)
    return (k, lo) if not flip else (-k, hi)


def _chart(
    series: list[tuple[str, list[tuple[float, float]]]],
    band: list[tuple[float, float, float]] | None,
    title: str,
) -> str:
    xs = [x for _, pts in series for x, _ in pts] + [b[0] for b in band or []]
    ys = [y for _, pts in series for _, y in pts] + [v for b in band or [] for v in b[1:]] + [0.0]
    ys = [y for y in ys if math.isfinite(y)]
    if not xs or not ys:
        return f"<figure><figcaption>{escape(title)}</figcaption><p>no data yet</p></figure>"
    x0, x1 = min(xs), max(max(xs), min(xs) + 1e-9)
    y0, y1 = min(ys), max(ys)
    pad_y = (y1 - y0) * 0.08 or 1.0
    y0, y1 = y0 - pad_y, y1 + pad_y

    def px(x: float) -> float:
        return PAD + (x - x0) / (x1 - x0) * (W - 2 * PAD)

    def py(y: float) -> float:
        return H - PAD / 2 - (y - y0) / (y1 - y0) * (H - PAD)

    parts = [f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{escape(title)}">']
    parts.append(
        f'<line x1="{PAD}" x2="{W - PAD}" y1="{py(0):.1f}" y2="{py(0):.1f}" stroke="#999" stroke-dasharray="4 3"/>'
    )
    if band:
        good = [(x, lo, hi) for x, lo, hi in band if math.isfinite(lo) and math.isfinite(hi)]
        if good:
            upper = " ".join(f"{px(x):.1f},{py(hi):.1f}" for x, _, hi in good)
            lower = " ".join(f"{px(x):.1f},{py(lo):.1f}" for x, lo, _ in reversed(good))
            parts.append(
                f'<polygon points="{upper} {lower}" fill="#3b6ea5" fill-opacity="0.18" stroke="none"/>'
            )
    for k, (name, pts) in enumerate(series):
        good_pts = [(x, y) for x, y in pts if math.isfinite(y)]
        if good_pts:
            line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in good_pts)
            colour = COLOURS[k % len(COLOURS)]
            parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
            lx, ly = good_pts[-1]
            fits = px(lx) - 4 - LABEL_CHAR * len(name) >= 0  # else it would run off the left edge
            at, anchor = (px(lx) - 4, "end") if fits else (px(lx) + 4, "start")
            parts.append(
                f'<text x="{at:.1f}" y="{py(ly) - 6:.1f}" font-size="11" text-anchor="{anchor}" '
                f'fill="{colour}">{escape(name)}</text>'
            )
    parts.append(f'<text x="{PAD}" y="{H - 4}" font-size="11">day {x0:.0f}</text>')
    parts.append(f'<text x="{W - PAD}" y="{H - 4}" font-size="11" text-anchor="end">day {x1:.1f}</text>')
    parts.append(f'<text x="4" y="{py(y1) + 10:.1f}" font-size="11">{_fmt(y1)}</text>')
    parts.append(f'<text x="4" y="{py(y0):.1f}" font-size="11">{_fmt(y0)}</text>')
    parts.append("</svg>")
    return f"<figure><figcaption>{escape(title)}</figcaption>{''.join(parts)}</figure>"


def _metric_table(m: MetricReport) -> str:
    rows = "".join(
        f"<tr><td>{escape(v.name)}</td><td>{v.people}</td><td>{_fmt(v.rate)}</td>"
        f"<td>[{_fmt(v.low)}, {_fmt(v.high)}]</td><td>{v.numerator:g} / {v.denominator:g}</td></tr>"
        for v in m.variants
    )
    comps = "".join(
        f"<tr><td>{escape(c.variant)} vs {escape(m.variants[0].name)}</td><td>{_fmt(c.diff)} "
        f"[{_fmt(c.diff_low)}, {_fmt(c.diff_high)}]</td><td>{_fmt(c.lift, True)} [{_fmt(c.lift_low, True)}, "
        f"{_fmt(c.lift_high, True)}]</td><td>[{_fmt(c.cs_low)}, {_fmt(c.cs_high)}]</td>"
        f"<td class='{c.verdict}'>{c.verdict}</td><td>{_fmt(c.predicted_day)}</td></tr>"
        for c in m.comparisons
    )
    kind = "guardrail" if m.guardrail else "metric"
    return (
        f"<h3>{escape(m.label)} <small>({kind}; {escape(m.description)}; "
        f"{'higher' if m.higher_is_better else 'lower'} is better)</small></h3>"
        f"<table><tr><th>variant</th><th>people</th><th>rate</th><th>95% CI</th><th>counts</th></tr>{rows}</table>"
        f"<table><tr><th>comparison</th><th>difference [95% CI]</th><th>relative lift [95% CI]</th>"
        f"<th>confidence sequence</th><th>verdict</th><th>detectable by day</th></tr>{comps}</table>"
    )


def render_html(report: ExperimentReport) -> str:
    e = report.experiment
    spec = e.spec
    start = (e.started_at or e.created_at).timestamp()
    days = [(p.at.timestamp() - start) / 86_400 for p in report.timeline]
    exposure = _chart(
        [
            (
                v.name,
                [(d, float(p.people.get(v.name, 0))) for d, p in zip(days, report.timeline, strict=True)],
            )
            for v in spec.variants
        ],
        None,
        "people exposed over time, per variant",
    )
    effects = []
    for m in report.metrics:
        pts = [
            (d, p.effects.get(m.metric, [None, None, None]))
            for d, p in zip(days, report.timeline, strict=True)
        ]
        line = [(d, v[0] if v[0] is not None else math.nan) for d, v in pts]
        band = [
            (d, v[1] if v[1] is not None else math.nan, v[2] if v[2] is not None else math.nan)
            for d, v in pts
        ]
        title = f"{m.label}: cumulative effect of {spec.variants[1].name} with its confidence sequence"
        effects.append(_chart([(spec.variants[1].name, line)], band, title))
    srm = report.srm
    srm_state = "mismatch" if srm.mismatch else ("ok" if srm.enough_data else "not enough data")
    health = "healthy" if report.health.healthy else "unhealthy: " + "; ".join(report.health.reasons)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Experiment {escape(spec.id)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}}
table{{border-collapse:collapse;margin:.4rem 0 1rem}}td,th{{border:1px solid #ddd;padding:.25rem .5rem;font-size:.9rem}}
figure{{display:inline-block;margin:.5rem 1rem .5rem 0}}figcaption{{font-size:.85rem;color:#444}}
.worse{{color:#b00020;font-weight:bold}}.better{{color:#1b7a3a;font-weight:bold}}
.srm-mismatch{{background:#fde2e2}}.srm-ok{{background:#e3f4e8}}
</style></head><body>
<h1>{escape(spec.name)} <small>({escape(spec.id)})</small></h1>
<p>status <b>{e.status.value}</b> at {e.percent:g}% (step {e.step + 1} of {len(spec.rollout.steps)}); {report.people} people over
{report.days:.2f} days; {escape(health)}{(" — " + escape(e.reason)) if e.reason else ""}</p>
<p class="srm-{"mismatch" if srm.mismatch else "ok"}">sample ratio: {srm_state}; observed {srm.observed}, expected
{[round(x, 1) for x in srm.expected]}, chi-square {srm.chi2:.3g}, p = {srm.p_value:.3g} (mismatch below {spec.srm_p})</p>
{exposure}
<div>{"".join(effects)}</div>
{"".join(_metric_table(m) for m in report.metrics)}
<p><small>Intervals: fixed-horizon 95% (delta method); confidence sequence: anytime-valid at alpha {spec.alpha}
(asymptotic, normal mixture tuned for {spec.planned_people} people); only the confidence sequence decides.
Generated {report.generated_at.isoformat()}.</small></p>
</body></html>"""
