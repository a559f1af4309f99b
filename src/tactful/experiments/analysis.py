"""From exposures, served lists and attributed events to figures, health and a decision.

Pure: the store hands over plain rows (:class:`ExperimentData`); everything here is
numpy over per-person arrays, the statistics come from :mod:`tactful.statistics`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel
from scipy import stats

from tactful.experiments.metrics import METRICS, Metric
from tactful.experiments.model import Experiment, ExperimentSpec, Status
from tactful.statistics.estimates import compare, cuped_adjust, linearize, ratio_estimate, sample_ratio_check
from tactful.statistics.sequential import cs_multiplier, mixture_rho

DAY = 86_400.0
POWER_Z = float(stats.norm.ppf(0.9))
"""Predictions are made for detection with 90 % probability from a 90 % lower bound of the effect."""


@dataclass(frozen=True)
class ExperimentData:
    """What the store holds for one experiment, as plain rows (times in epoch seconds).

    ``exposures``: (user, variant, first exposure); ``served``: (user, time, items shown)
    for every list served under the experiment; ``events``: (user, type, time) attributed
    through ``recommendation_id`` within the window; ``prior``: events per person before
    their first exposure (the CUPED covariate).
    """

    exposures: list[tuple[str, str, float]]
    served: list[tuple[str, float, int]]
    events: list[tuple[str, str, float]]
    prior: dict[str, float] = field(default_factory=dict)


class VariantFigures(BaseModel):
    name: str
    people: int
    rate: float | None
    low: float | None
    high: float | None
    numerator: float
    denominator: float


class MetricComparison(BaseModel):
    variant: str
    diff: float | None
    diff_low: float | None
    diff_high: float | None
    lift: float | None
    lift_low: float | None
    lift_high: float | None
    p_value: float | None
    cs_low: float | None
    cs_high: float | None
    cs_lift_low: float | None
    cs_lift_high: float | None
    anytime_p: float | None
    verdict: Literal["better", "worse", "inconclusive"]
    predicted_day: float | None = None
    """Days since the start by which the confidence sequence should leave zero (90 % power,
    from a 90 % lower bound of the effect so far, at the traffic so far); None: not foreseeable."""


class MetricReport(BaseModel):
    metric: str
    label: str
    description: str
    guardrail: bool
    higher_is_better: bool
    cuped_theta: float | None = None
    variants: list[VariantFigures]
    comparisons: list[MetricComparison]


class SrmFigures(BaseModel):
    observed: list[int]
    expected: list[float]
    chi2: float
    p_value: float
    enough_data: bool
    mismatch: bool


class TimelinePoint(BaseModel):
    at: datetime
    people: dict[str, int]
    effects: dict[str, list[float | None]]
    """metric → [diff, cs_low, cs_high] of the first treatment against control"""


class Health(BaseModel):
    healthy: bool
    reasons: list[str]


class ExperimentReport(BaseModel):
    experiment: Experiment
    generated_at: datetime
    days: float
    people: int
    srm: SrmFigures
    metrics: list[MetricReport]
    timeline: list[TimelinePoint]
    health: Health


class Decision(BaseModel):
    """What the guardrail and ramp check decided, with the figures it rests on."""

    action: Literal["none", "advance", "hold", "rollback"]
    reasons: list[str]
    message: str
    to_percent: float | None = None
    to_step: int | None = None
    figures: dict[str, object] = {}


def _f(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


class _Arrays:
    """Per-person arrays of one experiment, cut at any time."""

    def __init__(self, data: ExperimentData, variants: list[str]) -> None:
        users = [u for u, _, _ in data.exposures]
        self.index = {u: i for i, u in enumerate(users)}
        pos = {v: k for k, v in enumerate(variants)}
        self.variant = np.array([pos.get(v, -1) for _, v, _ in data.exposures], dtype=np.int64)
        self.first = np.array([t for _, _, t in data.exposures], dtype=np.float64)
        self.prior = np.array([data.prior.get(u, 0.0) for u in users], dtype=np.float64)
        served = [(self.index[u], t, n) for u, t, n in data.served if u in self.index]
        self.s_user = np.array([s[0] for s in served], dtype=np.int64)
        self.s_at = np.array([s[1] for s in served], dtype=np.float64)
        self.s_items = np.array([s[2] for s in served], dtype=np.float64)
        events = [(self.index[u], k, t) for u, k, t in data.events if u in self.index]
        self.e_user = np.array([e[0] for e in events], dtype=np.int64)
        self.e_type = np.array([e[1] for e in events], dtype=object)
        self.e_at = np.array([e[2] for e in events], dtype=np.float64)
        self.n = len(users)

    def cut(self, until: float) -> dict[str, NDArray[np.float64]]:
        n = self.n
        s = self.s_at <= until
        e = self.e_at <= until
        out: dict[str, NDArray[np.float64]] = {
            "exposed": (self.first <= until).astype(np.float64),
            "lists": np.bincount(self.s_user[s], minlength=n).astype(np.float64),
            "items": np.bincount(self.s_user[s], weights=self.s_items[s], minlength=n).astype(np.float64),
        }
        for kind in {t for m in METRICS.values() for t in m.events}:
            mask = e & (self.e_type == kind)
            out[f"event:{kind}"] = np.bincount(self.e_user[mask], minlength=n).astype(np.float64)
        return out


def metric_arrays(
    metric: Metric, cut: dict[str, NDArray[np.float64]]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-person numerator and denominator of ``metric``."""
    if metric.events:
        num = np.sum([cut[f"event:{k}"] for k in metric.events], axis=0)
    else:
        num = cut["lists"].copy()
    if metric.binary:
        num = (num > 0).astype(np.float64)
    den = np.ones_like(num) if metric.per == "person" else cut[metric.per]
    return num, den


def build_report(
    experiment: Experiment, data: ExperimentData, now: datetime, window_days: float = 1.0
) -> ExperimentReport:
    spec = experiment.spec
    names = [v.name for v in spec.variants]
    arrays = _Arrays(data, names)
    start = experiment.started_at or experiment.created_at
    end = experiment.stopped_at if experiment.status in (Status.stopped, Status.rolled_back) else None
    until_dt = min(now, end) if end is not None else now
    until = until_dt.timestamp()
    days = max((until - start.timestamp()) / DAY, 0.0)
    rho = mixture_rho(spec.alpha, spec.planned_people)
    cut = arrays.cut(until)
    exposed = cut["exposed"] > 0
    counts = [int(np.sum(exposed & (arrays.variant == k))) for k in range(len(names))]
    srm = sample_ratio_check(
        counts, [v.weight for v in spec.variants], threshold=spec.srm_p, min_count=spec.srm_min_count
    )
    metrics: list[MetricReport] = []
    guard = set(spec.guardrails)
    for name in dict.fromkeys([*spec.metrics, *spec.guardrails]):
        metric = METRICS[name]
        metrics.append(
            _metric_report(
                metric, name in guard, spec, names, arrays, cut, exposed, rho, days, start.timestamp()
            )
        )
    timeline = _timeline(experiment, arrays, names, rho, start, until_dt)
    report = ExperimentReport(
        experiment=experiment,
        generated_at=now,
        days=round(days, 4),
        people=int(exposed.sum()),
        srm=SrmFigures(
            observed=list(srm.observed),
            expected=list(srm.expected),
            chi2=srm.chi2,
            p_value=srm.p_value,
            enough_data=srm.enough_data,
            mismatch=srm.mismatch,
        ),
        metrics=metrics,
        timeline=timeline,
        health=Health(healthy=True, reasons=[]),
    )
    report.health = health(report)
    return report


def _values(
    metric: Metric, cut: dict[str, NDArray[np.float64]], members: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    num, den = metric_arrays(metric, cut)
    return num[members], den[members]


def _metric_report(
    metric: Metric,
    guardrail: bool,
    spec: ExperimentSpec,
    names: list[str],
    arrays: _Arrays,
    cut: dict[str, NDArray[np.float64]],
    exposed: NDArray[np.bool_],
    rho: float,
    days: float,
    start: float,
) -> MetricReport:
    variants: list[VariantFigures] = []
    per_arm: list[tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]] = []
    for k, name in enumerate(names):
        members = exposed & (arrays.variant == k)
        num, den = _values(metric, cut, members)
        est = ratio_estimate(num, den, spec.alpha)
        variants.append(
            VariantFigures(
                name=name,
                people=est.people,
                rate=_f(est.rate),
                low=_f(est.low),
                high=_f(est.high),
                numerator=est.numerator,
                denominator=est.denominator,
            )
        )
        per_arm.append((num, den, arrays.prior[members]))
    comparisons: list[MetricComparison] = []
    theta_seen: float | None = None
    a_num, a_den, a_prior = per_arm[0]
    for k in range(1, len(names)):
        b_num, b_den, b_prior = per_arm[k]
        la, ra = linearize(a_num, a_den)
        lb, rb = linearize(b_num, b_den)
        if not (math.isfinite(ra) and math.isfinite(rb)) or la.size < 2 or lb.size < 2:
            comparisons.append(_empty(names[k]))
            continue
        if spec.cuped:
            (la, lb), theta = cuped_adjust([la, lb], [a_prior, b_prior])
            theta_seen = theta
        c = compare(la, lb, spec.alpha, rho)
        verdict: Literal["better", "worse", "inconclusive"] = "inconclusive"
        if c.significant:
            up = c.cs_low > 0
            verdict = "better" if up == metric.higher_is_better else "worse"
        predicted = predict_day(
            c.diff,
            c.diff_se,
            people=la.size + lb.size,
            information=float(a_den.sum() + b_den.sum()),
            days=days,
            alpha=spec.alpha,
            rho=rho,
        )
        comparisons.append(
            MetricComparison(
                variant=names[k],
                diff=_f(c.diff),
                diff_low=_f(c.diff_low),
                diff_high=_f(c.diff_high),
                lift=_f(c.lift),
                lift_low=_f(c.lift_low),
                lift_high=_f(c.lift_high),
                p_value=_f(c.p_value),
                cs_low=_f(c.cs_low),
                cs_high=_f(c.cs_high),
                cs_lift_low=_f(c.cs_lift_low),
                cs_lift_high=_f(c.cs_lift_high),
                anytime_p=_f(c.anytime_p),
                verdict=verdict,
                predicted_day=None if verdict != "inconclusive" else predicted,
            )
        )
    return MetricReport(
        metric=metric.name,
        label=metric.label,
        description=metric.description,
        guardrail=guardrail,
        higher_is_better=metric.higher_is_better,
        cuped_theta=theta_seen,
        variants=variants,
        comparisons=comparisons,
    )


def _empty(variant: str) -> MetricComparison:
    return MetricComparison(
        variant=variant,
        diff=None,
        diff_low=None,
        diff_high=None,
        lift=None,
        lift_low=None,
        lift_high=None,
        p_value=None,
        cs_low=None,
        cs_high=None,
        cs_lift_low=None,
        cs_lift_high=None,
        anytime_p=None,
        verdict="inconclusive",
    )


def predict_day(
    diff: float,
    se: float,
    people: int,
    information: float,
    days: float,
    alpha: float,
    rho: float,
    horizon_days: float = 365.0,
) -> float | None:
    """Days since the start by which the confidence sequence should exclude zero.

    The effect is taken at its 90 % lower bound (``|diff| - 1.28 se``); the standard error
    shrinks as ``1 / sqrt(information)`` (items, lists or people shown) and people and
    information keep arriving at their rates so far; detection is asked with 90 %
    probability. None when the lower bound is not away from zero or nothing is foreseeable
    within ``horizon_days``.
    """
    if not (math.isfinite(diff) and math.isfinite(se)) or se <= 0 or days <= 0 or information <= 0:
        return None
    effect = abs(diff) - POWER_Z * se
    if effect <= 0:
        return None
    t = np.arange(max(days, 1 / 24), horizon_days, 1 / 24)
    grow = t / days
    se_t = se / np.sqrt(grow)
    n_t = people * grow
    ok = (cs_multiplier(n_t, alpha, rho) + POWER_Z) * se_t <= effect
    if not ok.any():
        return None
    return round(float(t[int(np.argmax(ok))]), 3)


def _timeline(
    experiment: Experiment, arrays: _Arrays, names: list[str], rho: float, start: datetime, until: datetime
) -> list[TimelinePoint]:
    spec = experiment.spec
    points: list[TimelinePoint] = []
    if until <= start:
        return points
    cuts: list[datetime] = []
    at = start + timedelta(days=1)
    while at < until and len(cuts) < 365:
        cuts.append(at)
        at += timedelta(days=1)
    cuts.append(until)
    for moment in cuts:
        cut = arrays.cut(moment.timestamp())
        exposed = cut["exposed"] > 0
        people = {name: int(np.sum(exposed & (arrays.variant == k))) for k, name in enumerate(names)}
        effects: dict[str, list[float | None]] = {}
        for name in dict.fromkeys([*spec.metrics, *spec.guardrails]):
            metric = METRICS[name]
            a = _values(metric, cut, exposed & (arrays.variant == 0))
            b = _values(metric, cut, exposed & (arrays.variant == 1))
            la, ra = linearize(*a)
            lb, rb = linearize(*b)
            if not (math.isfinite(ra) and math.isfinite(rb)) or la.size < 2 or lb.size < 2:
                effects[name] = [None, None, None]
                continue
            c = compare(la, lb, spec.alpha, rho)
            effects[name] = [_f(c.diff), _f(c.cs_low), _f(c.cs_high)]
        points.append(TimelinePoint(at=moment, people=people, effects=effects))
    return points


def health(report: ExperimentReport) -> Health:
    """Unhealthy on a sample-ratio mismatch, on too few people, or on a worse guardrail."""
    spec = report.experiment.spec
    reasons: list[str] = []
    if report.srm.mismatch:
        reasons.append(
            f"srm: p={report.srm.p_value:.2g} < {spec.srm_p} over {sum(report.srm.observed)} people"
        )
    short = [v for v, n in zip(spec.variants, report.srm.observed, strict=True) if n < spec.min_people]
    if short:
        reasons.append(
            "lack_of_data: "
            + ", ".join(
                f"{v.name} has {n}"
                for v, n in zip(spec.variants, report.srm.observed, strict=True)
                if v in short
            )
            + f" of {spec.min_people} people needed"
        )
    for m in report.metrics:
        if m.guardrail:
            for c in m.comparisons:
                if c.verdict == "worse":
                    reasons.append(f"guardrail: {m.metric} is worse in {c.variant}")
    return Health(healthy=not reasons, reasons=reasons)


def due_step(experiment: Experiment, now: datetime) -> int:
    """The highest rollout step whose time has come (never below the current one)."""
    spec = experiment.spec
    step = experiment.step
    if experiment.status is not Status.running or experiment.step_at is None:
        return step
    cadence = spec.rollout.cadence_hours
    while step + 1 < len(spec.rollout.steps):
        nxt = spec.rollout.steps[step + 1]
        if nxt.at is not None:
            due = nxt.at
        elif cadence is not None:
            due = experiment.step_at + timedelta(hours=cadence) if step == experiment.step else None  # type: ignore[assignment]
        else:
            due = None
        if due is None or now < due:
            break
        step += 1
    return step


def decide(experiment: Experiment, report: ExperimentReport, now: datetime) -> Decision:
    """Roll back on a worse guardrail; otherwise take the next due step only while healthy."""
    if experiment.status is not Status.running:
        return Decision(action="none", reasons=[], message=f"experiment is {experiment.status.value}")
    worse = [(m, c) for m in report.metrics if m.guardrail for c in m.comparisons if c.verdict == "worse"]
    if worse:
        figures: dict[str, object] = {
            m.metric: {
                "variant": c.variant,
                "diff": c.diff,
                "cs": [c.cs_low, c.cs_high],
                "lift": c.lift,
                "rates": {v.name: v.rate for v in m.variants},
                "people": {v.name: v.people for v in m.variants},
            }
            for m, c in worse
        }
        names = ", ".join(f"{m.metric} in {c.variant}" for m, c in worse)
        return Decision(
            action="rollback",
            reasons=[f"guardrail:{m.metric}:{c.variant}" for m, c in worse],
            message=f"guardrail significantly worse under the sequential test ({names}); "
            "everyone gets control",
            figures=figures,
        )
    target = due_step(experiment, now)
    if target <= experiment.step:
        return Decision(action="none", reasons=[], message="no rollout step is due")
    figures = {
        "srm_p": report.srm.p_value,
        "people": dict(zip([v.name for v in experiment.spec.variants], report.srm.observed, strict=True)),
    }
    if not report.health.healthy:
        return Decision(
            action="hold",
            reasons=[r.split(":", 1)[0] for r in report.health.reasons],
            message="step due but held: " + "; ".join(report.health.reasons),
            to_step=target,
            to_percent=experiment.spec.rollout.steps[target].percent,
            figures=figures,
        )
    percent = experiment.spec.rollout.steps[target].percent
    return Decision(
        action="advance",
        reasons=["healthy"],
        message=f"healthy: ramp {experiment.percent:g}% -> {percent:g}%",
        to_step=target,
        to_percent=percent,
        figures=figures,
    )
