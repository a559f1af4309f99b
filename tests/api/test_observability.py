"""In one process: /metrics parses as Prometheus text and its counters move; health is split."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tactful import Engine, Settings
from tactful.api.app import create_app
from tactful.config.security import AuthSettings
from tactful.logs import JsonFormatter, request_id

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            if family.type == "counter" and family.name.startswith("tactful_"):
                assert sample.name.endswith(("_total", "_created")), sample.name
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture
def client(catalog_engine: Engine) -> TestClient:
    return TestClient(create_app(catalog_engine))


def test_metrics_follow_prometheus_conventions_and_move(client: TestClient) -> None:
    before = scrape(client)
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    for name in (
        "tactful_http_request_duration_seconds",
        "tactful_events_ingested",
        "tactful_recommendations_served",
        "tactful_policy_denials",
        "tactful_fold_cache_lookups",
        "tactful_model_validation_ndcg",
        "tactful_retrain_duration_seconds",
    ):
        assert name in families, name
    assert families["tactful_events_ingested"].type == "counter"
    assert families["tactful_http_request_duration_seconds"].type == "histogram"
    events = [{"user_id": "ann", "item_id": f"jazz-{k}", "type": "like"} for k in range(3)]
    events.append({"user_id": "ann", "item_id": "rock-1", "type": "dislike"})
    assert client.post("/v1/events/batch", json={"events": events}).status_code == 200
    assert client.post("/v1/events/batch", json={"events": events[:1]}).status_code == 200
    for _ in range(2):
        assert client.get("/v1/users/ann/recommendations", params={"n": 5}).status_code == 200
    assert client.get("/v1/users/ann/recommendations", params={"surface": "push"}).status_code == 200
    after = scrape(client)
    assert delta(before, after, "tactful_events_ingested_total", type="like") == 4
    assert delta(before, after, "tactful_events_ingested_total", type="dislike") == 1
    assert delta(before, after, "tactful_recommendations_served_total", surface="home") == 2
    assert delta(before, after, "tactful_recommendations_served_total", surface="push") == 1
    route = dict(route="/v1/users/{user_id}/recommendations", method="GET", status="200")
    assert delta(before, after, "tactful_http_request_duration_seconds_count", **route) == 3
    assert delta(before, after, "tactful_answer_cache_lookups_total", result="hit") >= 1
    # the liked and disliked items were among the best-scored and the policy kept them out
    denied = sum(v for (name, _), v in after.items() if name == "tactful_policy_denials_total")
    assert denied - sum(v for (name, _), v in before.items() if name == "tactful_policy_denials_total") > 0
    for (_, labels), _ in after.items():
        assert "ann" not in dict(labels).values()  # never a person id


def test_training_sets_the_model_metrics(client: TestClient, catalog_engine: Engine) -> None:
    for u in range(12):
        events = [{"user_id": f"p{u}", "item_id": f"jazz-{(u + k) % 8}", "type": "like"} for k in range(4)]
        assert client.post("/v1/events/batch", json={"events": events}).status_code == 200
    before = scrape(client)
    report = catalog_engine.train()
    after = scrape(client)
    assert delta(before, after, "tactful_retrain_duration_seconds_count") == 1
    assert after[("tactful_model_info", (("version", report.version),))] == 1
    ndcg = report.validation.get("validation_ndcg@10")
    if ndcg is not None:
        assert after[("tactful_model_validation_ndcg", ())] == pytest.approx(ndcg)


def test_liveness_and_readiness(client: TestClient, catalog_engine: Engine) -> None:
    live = client.get("/v1/health/live")
    assert live.status_code == 200 and live.json() == {"status": "ok", "stopping": False}
    ready = client.get("/v1/health/ready")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] and checks["model"]["ok"] and "redis" not in checks
    assert client.get("/v1/health").json()["status"] == "ok"  # the combined one stays


def test_readiness_fails_while_a_published_model_is_not_loaded(
    client: TestClient, catalog_engine: Engine
) -> None:
    catalog_engine.model_store.publish("v-not-there")
    ready = client.get("/v1/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["model"] == {"ok": False, "detail": "v-not-there published, not loaded yet"}


def test_metrics_can_be_admin_only_or_off(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for mode, status in (("admin", 401), ("off", 404)):
        settings = Settings(data_dir=tmp_path / mode, auth=AuthSettings(enabled=True))
        settings.serving.metrics = mode  # type: ignore[assignment]
        with Engine(settings) as engine:
            assert TestClient(create_app(engine)).get("/metrics").status_code == status


def test_request_ids_are_echoed_and_carried_into_logs(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    made = client.get("/v1/popular")
    assert len(made.headers["x-request-id"]) == 16
    with caplog.at_level(logging.INFO, logger="tactful.access"):
        given = client.get("/v1/popular", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    hostile = client.get("/v1/popular", headers={"X-Request-ID": "no spaces\tor tabs"})
    assert hostile.headers["x-request-id"] != "no spaces\tor tabs"  # replaced, not echoed
    line = next(r for r in caplog.records if r.name == "tactful.access" and r.getMessage().startswith("GET"))
    assert line.route == "/v1/popular" and line.status == 200  # type: ignore[attr-defined]
    token = request_id.set("rid-9")
    try:
        text = JsonFormatter().format(
            logging.LogRecord("tactful.x", logging.WARNING, "", 0, "hi %s", ("you",), None)
        )
    finally:
        request_id.reset(token)
    assert '"request_id":"rid-9"' in text and '"message":"hi you"' in text and '"level":"warning"' in text


def test_opentelemetry_traces_requests_when_asked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("opentelemetry.instrumentation.fastapi")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = Settings(data_dir=tmp_path / "otel", auth=AuthSettings(enabled=False))
    settings.serving.opentelemetry = True
    from opentelemetry import trace

    trace.set_tracer_provider(provider)  # the process's provider: this test is its only user
    with Engine(settings) as engine:
        client = TestClient(create_app(engine))
        assert client.get("/v1/popular").status_code == 200
        assert client.get("/v1/health/live").status_code == 200
    names = [span.name for span in exporter.get_finished_spans()]
    assert "GET /v1/popular" in names and not any("health" in n for n in names)
