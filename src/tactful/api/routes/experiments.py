"""Experiment routes (admin): create, list, read, start, ramp, stop, evaluate and report.

``GET /v1/experiments/{id}/report.html`` is the HTML report (charts inline) that the
dashboard links to; ``holdout`` as the id reports the global holdout.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from tactful.api.auth import current_principal, requires
from tactful.api.deps import EngineDep, LanesDep
from tactful.api.errors import ERROR_RESPONSES
from tactful.domain.identifiers import ID_PATTERN
from tactful.experiments.analysis import Decision, ExperimentReport
from tactful.experiments.html import render_html
from tactful.experiments.model import Experiment, ExperimentSpec, RampRequest, StopRequest
from tactful.security.keys import Scope

router = APIRouter(tags=["experiments"])
ExperimentId = Annotated[
    str,
    Path(pattern=ID_PATTERN, description="The experiment's id ('holdout' for the global holdout's report)."),
]
ADMIN = [requires(Scope.admin)]
JSON_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": spec["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }
    for status, spec in ERROR_RESPONSES.items()
}
"""The HTML report's errors are JSON like every other route's (documented so)."""


class ExperimentList(BaseModel):
    experiments: list[Experiment]


@router.post(
    "/experiments",
    response_model=Experiment,
    status_code=201,
    summary="Create an experiment (draft)",
    dependencies=ADMIN,
)
async def create_experiment(
    body: ExperimentSpec, request: Request, engine: EngineDep, lanes: LanesDep
) -> Experiment:
    return await lanes.write.run(engine.experiments.create, body, actor=current_principal(request).actor)


@router.get("/experiments", response_model=ExperimentList, summary="List experiments", dependencies=ADMIN)
async def list_experiments(engine: EngineDep, lanes: LanesDep) -> ExperimentList:
    return ExperimentList(experiments=await lanes.read.run(engine.experiments.all))


@router.get(
    "/experiments/{experiment_id}", response_model=Experiment, summary="One experiment", dependencies=ADMIN
)
async def get_experiment(experiment_id: ExperimentId, engine: EngineDep, lanes: LanesDep) -> Experiment:
    return await lanes.read.run(engine.experiments.get, experiment_id)


@router.post(
    "/experiments/{experiment_id}/start",
    response_model=Experiment,
    summary="Start a draft at its first rollout step",
    dependencies=ADMIN,
)
async def start_experiment(
    experiment_id: ExperimentId, request: Request, engine: EngineDep, lanes: LanesDep
) -> Experiment:
    return await lanes.write.run(
        engine.experiments.start, experiment_id, actor=current_principal(request).actor
    )


@router.post(
    "/experiments/{experiment_id}/ramp",
    response_model=Experiment,
    summary="Raise the exposed share (only adds people)",
    dependencies=ADMIN,
)
async def ramp_experiment(
    experiment_id: ExperimentId, body: RampRequest, request: Request, engine: EngineDep, lanes: LanesDep
) -> Experiment:
    actor = current_principal(request).actor
    return await lanes.write.run(engine.experiments.ramp, experiment_id, body.percent, actor=actor)


@router.post(
    "/experiments/{experiment_id}/stop",
    response_model=Experiment,
    summary="Stop: everyone gets the base config",
    dependencies=ADMIN,
)
async def stop_experiment(
    experiment_id: ExperimentId, body: StopRequest, request: Request, engine: EngineDep, lanes: LanesDep
) -> Experiment:
    actor = current_principal(request).actor
    return await lanes.write.run(engine.experiments.stop, experiment_id, body.reason, actor=actor)


@router.post(
    "/experiments/{experiment_id}/evaluate",
    response_model=Decision,
    summary="Check guardrails and health now (roll back, hold or take the due step)",
    dependencies=ADMIN,
)
async def evaluate_experiment(
    experiment_id: ExperimentId, request: Request, engine: EngineDep, lanes: LanesDep
) -> Decision:
    actor = current_principal(request).actor
    return await lanes.write.run(engine.experiments.evaluate, experiment_id, actor=actor)


@router.get(
    "/experiments/{experiment_id}/report",
    response_model=ExperimentReport,
    summary="The report's figures",
    dependencies=ADMIN,
)
async def experiment_report(
    experiment_id: ExperimentId, engine: EngineDep, lanes: LanesDep
) -> ExperimentReport:
    return await lanes.read.run(engine.experiments.report, experiment_id)


@router.get(
    "/experiments/{experiment_id}/report.html",
    response_class=HTMLResponse,
    responses=JSON_ERRORS,
    summary="The HTML report: cumulative effects with confidence sequences, exposures, SRM",
    dependencies=ADMIN,
)
async def experiment_report_html(
    experiment_id: ExperimentId, engine: EngineDep, lanes: LanesDep
) -> HTMLResponse:
    report = await lanes.read.run(engine.experiments.report, experiment_id)
    return HTMLResponse(render_html(report))
