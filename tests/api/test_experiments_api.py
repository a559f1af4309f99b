"""Experiments over HTTP: create, start, ramp, stop, evaluate, report (JSON and HTML), clear 4xx."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tactful import Engine, ManualClock
from tactful.cli.main import app
from tactful.web.site import create_site
from tests.conftest import media_items

BODY = {
    "id": "exp-1",
    "name": "Wider exploration",
    "variants": [
        {"name": "control"},
        {"name": "wide", "config": {"surfaces": {"home": {"exploration_share": 0.3}}}},
    ],
    "rollout": {"steps": [{"percent": 10}, {"percent": 100}], "cadence_hours": 24},
}


@pytest.fixture
def api(engine: Engine) -> TestClient:
    client = TestClient(create_site(engine), raise_server_exceptions=False)
    items = [i.model_dump(mode="json") for i in media_items()]
    assert client.post("/v1/items", json={"items": items}).status_code == 200
    return client


def test_the_life_of_an_experiment(api: TestClient, engine: Engine, clock: ManualClock) -> None:
    created = api.post("/v1/experiments", json=BODY)
    assert created.status_code == 201 and created.json()["status"] == "draft"
    assert api.post("/v1/experiments", json=BODY).status_code == 409
    started = api.post("/v1/experiments/exp-1/start").json()
    assert started["status"] == "running" and started["percent"] == 10
    assert api.post("/v1/experiments/exp-1/start").status_code == 409
    ramped = api.post("/v1/experiments/exp-1/ramp", json={"percent": 100})
    assert ramped.status_code == 200 and ramped.json()["percent"] == 100
    lower = api.post("/v1/experiments/exp-1/ramp", json={"percent": 50})
    assert lower.status_code == 422 and lower.json()["error"]["field"] == "percent"
    for k in range(30):
        recs = api.get(f"/v1/users/u{k}/recommendations").json()
        click = {"user_id": f"u{k}", "item_id": recs["items"][0]["item_id"], "type": "click"}
        api.post("/v1/events", json={**click, "recommendation_id": recs["recommendation_id"]})
    engine.experiments.log.flush()
    clock.advance(hours=30)
    report = api.get("/v1/experiments/exp-1/report")
    assert report.status_code == 200
    body = report.json()
    assert body["people"] == 30 and sum(body["srm"]["observed"]) == 30
    ctr = next(m for m in body["metrics"] if m["metric"] == "ctr")
    assert sum(v["numerator"] for v in ctr["variants"]) == 30
    page = api.get("/v1/experiments/exp-1/report.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text.count("<svg") >= 2 and "sample ratio" in page.text
    decision = api.post("/v1/experiments/exp-1/evaluate")
    assert decision.status_code == 200 and decision.json()["action"] in (
        "none",
        "hold",
        "advance",
        "rollback",
    )
    stopped = api.post("/v1/experiments/exp-1/stop", json={"reason": "done"}).json()
    assert stopped["status"] == "stopped" and stopped["reason"] == "done"
    listed = api.get("/v1/experiments").json()["experiments"]
    assert [e["spec"]["id"] for e in listed] == ["exp-1"]
    actions = [
        e.action for e in engine.audit.entries(limit=50).entries if e.action.startswith("experiment.")
    ]
    assert {"experiment.create", "experiment.start", "experiment.ramp", "experiment.stop"} <= set(actions)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"variants": [{"name": "control"}]}, "variants"),
        (
            {"variants": [{"name": "control"}, {"name": "x", "config": {"blend": {"new": {"nope": 1}}}}]},
            "variants.1.config",
        ),
        ({"metrics": ["revenue"]}, "metrics"),
        ({"rollout": {"steps": [{"percent": 50}, {"percent": 10}]}}, "rollout"),
        ({"traffic": 0}, "traffic"),
    ],
)
def test_bad_experiments_are_clear_4xx(api: TestClient, change: dict[str, object], field: str) -> None:
    resp = api.post("/v1/experiments", json={**BODY, **change})
    assert resp.status_code == 422, resp.text
    assert (resp.json()["error"]["field"] or "").startswith(field), resp.json()


def test_unknown_experiments_are_404_and_the_holdout_is_reserved(api: TestClient) -> None:
    assert api.get("/v1/experiments/nope/report").status_code == 404
    assert api.get("/v1/experiments/nope/report.html").json()["error"]["code"] == "not_found"
    assert api.post("/v1/experiments", json={**BODY, "id": "holdout"}).status_code == 409
    assert api.get("/v1/experiments/holdout/report").status_code == 200


def test_cli_report_table_and_html(tmp_path: Path) -> None:
    data = tmp_path / "data"
    spec = tmp_path / "exp.json"
    spec.write_text(json.dumps(BODY))
    runner = CliRunner()
    for args in (["create", str(spec)], ["start", "exp-1"], ["ramp", "exp-1", "50"], ["list"], ["evaluate"]):
        out = runner.invoke(app, ["experiments", *args, "--data-dir", str(data)])
        assert out.exit_code == 0, out.output
    page = tmp_path / "r.html"
    out = runner.invoke(app, ["experiments", "report", "exp-1", "--data-dir", str(data), "--html", str(page)])
    assert out.exit_code == 0, out.output
    assert "Wider exploration" in out.output and "sample ratio" in page.read_text()
    out = runner.invoke(app, ["experiments", "report", "nope", "--data-dir", str(data)])
    assert out.exit_code == 2 and "not_found" in out.output
