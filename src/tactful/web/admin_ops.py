"""The dashboard's experiments and outbox sections (signed-in admins only; every action audited).

Experiments: each with its status, variants and traffic, and its report: the experiments
service's inline-SVG report, embedded in the dashboard page and also served on its own at
``/admin/experiments/{id}/report`` under the dashboard's cookie session, so no API key ever
reaches the browser. Start, check now and stop go through the experiments service with the
operator as the actor (the service audits them as ``experiment.*``; the page adds
``admin.page.experiment_action``).

Outbox: message counts by status and the most recent messages with their reasons, from the
messaging service.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import HTMLResponse, Response

from tactful.api.auth import page_session
from tactful.api.deps import EngineDep, LanesDep
from tactful.domain.identifiers import ID_PATTERN
from tactful.domain.messages import OutboxStatus
from tactful.engine import Engine
from tactful.errors import TactfulError
from tactful.experiments.html import render_html
from tactful.experiments.model import Experiment
from tactful.web.admin import audit_admin, signin_page
from tactful.web.charts import bar_chart
from tactful.web.guard import admin_operator, check_csrf, finish
from tactful.web.render import back, page

router = APIRouter(include_in_schema=False, dependencies=[page_session()])
Csrf = Annotated[str, Form(max_length=128)]
ExperimentId = Annotated[str, Path(pattern=ID_PATTERN)]
RECENT = 50
STATUS_WORDS = {
    "draft": "Draft: nobody is assigned yet",
    "running": "Running",
    "stopped": "Stopped: everyone gets the base settings",
    "rolled_back": "Rolled back by a guardrail: everyone gets the base settings",
}
OUTBOX_WORDS = {
    OutboxStatus.queued: "waiting for its send time or a retry",
    OutboxStatus.sent: "delivered to the channel",
    OutboxStatus.capped: "not sent: a frequency cap was reached",
    OutboxStatus.cancelled: "not sent: preferences changed before it went out",
    OutboxStatus.abandoned: "given up after failures",
}
_BODY = re.compile(r"<body>(.*)</body>", re.S)


def _flat(config: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key in sorted(config):
        value = config[key]
        if isinstance(value, dict) and value:
            out.extend(_flat(value, f"{prefix}{key}."))
        else:
            out.append(f"{prefix}{key} = {json.dumps(value)}")
    return out


def steps_words(experiment: Experiment) -> str:
    return " → ".join(f"{s.percent:g}" for s in experiment.spec.rollout.steps) + " %"


def variant_rows(experiment: Experiment) -> list[dict[str, Any]]:
    """Each variant with its share of the experiment's people and what it changes."""
    total = sum(v.weight for v in experiment.spec.variants) or 1.0
    return [
        {
            "name": v.name,
            "share": 100 * v.weight / total,
            "control": k == 0,
            "description": v.description,
            "config": "; ".join(_flat(v.config)) or "nothing (the base settings)",
        }
        for k, v in enumerate(experiment.spec.variants)
    ]


def report_fragment(html: str) -> str:
    """The report page's body, to embed in the dashboard: without its title (the dashboard
    page shows it) and with headings one level down. The report escapes what it prints."""
    found = _BODY.search(html)
    body = found.group(1) if found else ""
    body = re.sub(r"^\s*<h1>.*?</h1>", "", body, count=1, flags=re.S)  # the page has this title
    return re.sub(r"<(/?)h([1-3])\b", lambda m: f"<{m.group(1)}h{int(m.group(2)) + 1}", body)


def _experiments(engine: Engine) -> list[dict[str, Any]]:
    return [
        {"e": e, "variants": variant_rows(e), "status": STATUS_WORDS.get(e.status.value, e.status.value)}
        for e in sorted(engine.experiments.all(), key=lambda e: e.created_at, reverse=True)
    ]


@router.get("/admin/experiments")
async def experiments(request: Request, engine: EngineDep, lanes: LanesDep) -> Response:
    operator = admin_operator(engine, request)
    if operator is None:
        return signin_page(request, engine)
    rows = await lanes.read.run(_experiments, engine)
    return page(
        request,
        engine,
        "admin_experiments.html",
        {
            "tab": "experiments",
            "operator": operator,
            "experiments": rows,
            "holdout": engine.settings.experiments.holdout,
            "holdout_percent": engine.settings.experiments.holdout_percent,
        },
    )


def _report(engine: Engine, experiment_id: str) -> tuple[Experiment, str]:
    report = engine.experiments.report(experiment_id)
    return report.experiment, render_html(report)


@router.get("/admin/experiments/{experiment_id}")
async def experiment(
    request: Request, engine: EngineDep, lanes: LanesDep, experiment_id: ExperimentId
) -> Response:
    operator = admin_operator(engine, request)
    if operator is None:
        return signin_page(request, engine)
    try:
        found, html = await lanes.read.run(_report, engine, experiment_id)
    except TactfulError as exc:
        return back(request, "/admin/experiments", f"No report: {exc.message}")
    audit_admin(engine, operator, "experiment_report", experiment_id=experiment_id)
    return page(
        request,
        engine,
        "admin_experiment.html",
        {
            "tab": "experiments",
            "operator": operator,
            "e": found,
            "variants": variant_rows(found),
            "steps": steps_words(found),
            "status": STATUS_WORDS.get(found.status.value, found.status.value),
            "report": report_fragment(html),
            "holdout": experiment_id == "holdout",
        },
    )


@router.get("/admin/experiments/{experiment_id}/report")
async def experiment_report(
    request: Request, engine: EngineDep, lanes: LanesDep, experiment_id: ExperimentId
) -> Response:
    """The report as its own page (to print or keep), under the dashboard's session."""
    operator = admin_operator(engine, request)
    if operator is None:
        return signin_page(request, engine, None, 401)
    try:
        _, html = await lanes.read.run(_report, engine, experiment_id)
    except TactfulError as exc:
        return back(request, "/admin/experiments", f"No report: {exc.message}")
    audit_admin(engine, operator, "experiment_report", experiment_id=experiment_id, standalone=True)
    return finish(request, HTMLResponse(html))


@router.post("/admin/experiments/action")
async def experiment_action(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    experiment: Annotated[str, Form(pattern=ID_PATTERN)],
    what: Annotated[str, Form(pattern="^(start|evaluate|stop)$")],
    csrf: Csrf,
) -> Response:
    check_csrf(engine, request, csrf)
    operator = admin_operator(engine, request)
    if operator is None:
        return signin_page(request, engine, "Sign in first.", 401)
    actor = operator.actor

    def work() -> str:
        if what == "start":
            started = engine.experiments.start(experiment, actor=actor)
            said = f"Started “{started.spec.name}” at {started.percent:g} % of its people."
        elif what == "stop":
            stopped = engine.experiments.stop(experiment, "stopped from the dashboard", actor=actor)
            said = f"Stopped “{stopped.spec.name}”: everyone gets the base settings."
        else:
            decision = engine.experiments.evaluate(experiment, actor=actor)
            said = f"Checked “{experiment}”: {decision.message}"
        audit_admin(engine, operator, "experiment_action", experiment_id=experiment, requested=what)
        return said

    try:
        message = await lanes.write.run(work)
    except TactfulError as exc:
        message = f"Nothing changed: {exc.message}"
    return back(request, f"/admin/experiments/{experiment}", message)


def _outbox(engine: Engine, status: str | None) -> dict[str, Any]:
    counts = engine.message_status()
    ordered = [(s.value, counts.get(s.value, 0)) for s in OutboxStatus]
    return {
        "counts": ordered,
        "total": sum(counts.values()),
        "chart": bar_chart("Messages by status", ordered) if any(n for _, n in ordered) else None,
        "messages": engine.outbox(status=status, limit=RECENT),
    }


@router.get("/admin/outbox")
async def outbox(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    status: Annotated[OutboxStatus | None, Query()] = None,
) -> Response:
    operator = admin_operator(engine, request)
    if operator is None:
        return signin_page(request, engine)
    data = await lanes.read.run(_outbox, engine, status.value if status else None)
    audit_admin(engine, operator, "outbox_view", status=status.value if status else None)
    return page(
        request,
        engine,
        "admin_outbox.html",
        {
            "tab": "outbox",
            "operator": operator,
            "status": status.value if status else None,
            "words": {s.value: w for s, w in OUTBOX_WORDS.items()},
            "recent": RECENT,
            **data,
        },
    )
