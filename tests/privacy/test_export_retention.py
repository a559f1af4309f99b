from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tactful import Engine, Event, ManualClock, Person, Settings
from tactful.cli.main import app as cli
from tactful.privacy.export import PersonExport
from tactful.storage import schema as t
from tactful.web.site import create_site
from tests.conftest import media_items
from tests.security.conftest import bearer


def _history(engine: Engine, clock: ManualClock) -> None:
    engine.upsert_items(media_items())
    now = clock.now()
    events = [
        Event(
            id=f"old{k}{u}",
            user_id=u,
            item_id=f"jazz-{k}",
            type="like",
            timestamp=now - timedelta(days=90 + k),
        )
        for k in range(4)
        for u in ("ann", "bob")
    ] + [
        Event(
            id=f"new{k}", user_id="ann", item_id=f"rock-{k}", type="click", timestamp=now - timedelta(days=k)
        )
        for k in range(3)
    ]
    engine.ingest(events)


def test_export_holds_every_person_table(engine: Engine, clock: ManualClock) -> None:
    _history(engine, clock)
    engine.save_person(Person(id="ann", timezone="Asia/Tokyo", stated_interests=["genre:jazz"]))
    rec = engine.recommend("ann", n=3)
    bundle = engine.export_person("ann")
    assert set(bundle.tables) == set(t.PERSON_TABLES)
    assert bundle.tables["persons"][0]["timezone"] == "Asia/Tokyo"
    assert bundle.tables["persons"][0]["stated"] == ["genre:jazz"]  # JSON columns decoded
    assert len(bundle.tables["events"]) == 7 and all(e["user_id"] == "ann" for e in bundle.tables["events"])
    assert {i["tag"] for i in bundle.tables["interests"]} >= {"genre:jazz", "genre:rock"}
    assert bundle.tables["recommendations"][0]["id"] == rec.recommendation_id
    assert PersonExport.model_validate_json(bundle.model_dump_json()) == bundle
    assert engine.export_person("nobody").row_count == 0


def test_retention_drops_old_events_and_keeps_what_was_learned(engine: Engine, clock: ManualClock) -> None:
    _history(engine, clock)
    before_recs = engine.recommend("ann", n=10).items
    before_profile = engine.profile("ann")
    before_stats = engine.store.load_all_item_stats()
    dry = engine.drop_events_older_than(30, dry_run=True)
    assert dry.events_deleted == 8 and engine.store.count("events") == 11
    report = engine.drop_events_older_than(30, actor="ops")
    assert report.events_deleted == 8 and report.events_kept == 3
    kept = [e["event_id"] for e in engine.export_person("ann").tables["events"]]
    assert sorted(kept) == ["new0", "new1", "new2"]
    assert engine.recommend("ann", n=10).items == before_recs
    assert engine.profile("ann") == before_profile
    assert engine.store.load_all_item_stats() == before_stats
    entry = engine.audit.entries(action="retention.run").entries[0]
    assert entry.actor == "ops" and entry.details["events_deleted"] == 8


def _cli(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_keys_retention_token_and_audit(tmp_path, clock: ManualClock) -> None:
    settings = Settings(data_dir=tmp_path / "cli")
    out = _cli(settings, "keys", "create", "--name", "ops", "--scope", "admin")
    secret = [line for line in out.splitlines() if line.startswith("tk_")][0]
    listed = _cli(settings, "keys", "list")
    assert "ops" in listed and secret not in listed
    with Engine(settings) as engine:
        engine.upsert_items(media_items())
        engine.ingest([Event(user_id="ann", item_id="jazz-1", type="like")])
        client = TestClient(create_site(engine))
        assert client.get("/v1/audit", headers=bearer(secret)).status_code == 200
        token = _cli(settings, "token", "--user", "ann").strip()
        assert client.get("/v1/users/ann/export", headers=bearer(token)).json()["user_id"] == "ann"
        assert client.get("/v1/users/bob/export", headers=bearer(token)).status_code == 403
        key_id = secret.split("_")[1]
        _cli(settings, "keys", "revoke", key_id)
        assert client.get("/v1/audit", headers=bearer(secret)).status_code == 401
    assert "events older than" in _cli(settings, "retention", "--days", "30")
    lines = [json.loads(line) for line in _cli(settings, "audit").splitlines()]
    actions = [e["action"] for e in lines]
    assert {"key.create", "key.revoke", "person.export", "retention.run"} <= set(actions)
    assert all("ann" not in json.dumps(e) for e in lines)


def test_privacy_routes_with_user_tokens(tmp_path, clock: ManualClock) -> None:
    settings = Settings(data_dir=tmp_path / "api")
    with Engine(settings, clock=clock) as engine:
        _history(engine, clock)
        client = TestClient(create_site(engine))
        from tactful.security.keys import KeyRing

        ring = KeyRing(engine.store, clock)
        profile_key = ring.create("backend", ["profile"]).secret
        admin_key = ring.create("ops", ["admin"]).secret
        minted = client.post("/v1/users/ann/tokens", json={"ttl_seconds": 120}, headers=bearer(profile_key))
        assert minted.status_code == 200
        token = minted.json()["token"]
        assert client.post("/v1/users/ann/tokens", json={}, headers=bearer(token)).status_code == 403
        person = {"id": "ann", "timezone": "Europe/Paris", "consent": {"personalization": False}}
        assert client.put("/v1/users/ann", json=person, headers=bearer(token)).status_code == 200
        assert client.put("/v1/users/bob", json={"id": "bob"}, headers=bearer(token)).status_code == 403
        bundle = client.get("/v1/users/ann/export", headers=bearer(token)).json()
        assert bundle["tables"]["persons"][0]["consent"]["personalization"] is False
        erased = client.delete("/v1/users/ann", headers=bearer(token))
        assert erased.status_code == 200 and erased.json()["rows"]["events"] == 7
        # erasure voided the person's tokens: this one opens nothing any more
        after = client.delete("/v1/users/bob", headers=bearer(token))
        assert after.status_code == 401 and after.json()["error"]["message"] == "token revoked"
        log = client.get("/v1/audit", params={"action": "person.erase"}, headers=bearer(admin_key)).json()
        assert log["entries"][0]["actor"].startswith("user:h:")
        assert "ann" not in json.dumps(log)
        fresh = engine.issue_user_token("ann")  # a token issued after the erasure works again
        assert client.get("/v1/audit", headers=bearer(fresh)).status_code == 403
        assert client.get("/v1/audit", headers=bearer(profile_key)).status_code == 403
