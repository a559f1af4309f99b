"""End-user tokens can be revoked one at a time or per person, and every worker sees it at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tactful import Engine, ManualClock, Settings
from tactful.cli.main import app as cli
from tactful.errors import Unauthorized, ValidationError
from tactful.web.site import create_site
from tests.security.conftest import bearer


def test_revoke_one_token_leaves_the_others(secure_engine: Engine) -> None:
    first, second = secure_engine.issue_user_token("ann"), secure_engine.issue_user_token("ann")
    assert secure_engine.verify_user_token(first).user_id == "ann"
    done = secure_engine.revoke_user_token(first)
    assert done.revoked == 1 and done.user_id == "ann"
    with pytest.raises(Unauthorized, match="revoked"):
        secure_engine.verify_user_token(first)
    assert secure_engine.verify_user_token(second).user_id == "ann"
    assert secure_engine.revoke_user_token(first).revoked == 0  # revoking twice is harmless


def test_revoke_by_id_needs_the_person_and_only_touches_theirs(secure_engine: Engine) -> None:
    ann, bob = secure_engine.issue_user_token("ann"), secure_engine.issue_user_token("bob")
    ann_id = secure_engine.verify_user_token(ann).token_id
    assert ann_id is not None
    with pytest.raises(ValidationError):
        secure_engine.revoke_user_token(ann_id)
    with pytest.raises(ValidationError):
        secure_engine.revoke_user_token(ann, user_id="bob")  # the token says whose it is
    secure_engine.revoke_user_token(ann_id, user_id="bob")  # bob has no such token: nothing of ann's
    assert secure_engine.verify_user_token(ann).user_id == "ann"
    secure_engine.revoke_user_token(ann_id, user_id="ann")
    with pytest.raises(Unauthorized):
        secure_engine.verify_user_token(ann)
    assert secure_engine.verify_user_token(bob).user_id == "bob"


def test_revoke_all_voids_earlier_tokens_only(secure_engine: Engine, clock: ManualClock) -> None:
    old = [secure_engine.issue_user_token("ann") for _ in range(3)]
    bob = secure_engine.issue_user_token("bob")
    secure_engine.revoke_user_tokens("ann")
    for token in old:
        with pytest.raises(Unauthorized, match="revoked"):
            secure_engine.verify_user_token(token)
    fresh = secure_engine.issue_user_token("ann")  # same instant: still valid
    assert secure_engine.verify_user_token(fresh).user_id == "ann"
    assert secure_engine.verify_user_token(bob).user_id == "bob"
    actions = [e.action for e in secure_engine.audit.entries(limit=10).entries]
    assert "token.revoke_all" in actions


def test_revocation_is_seen_by_another_worker_at_once(secure_settings: Settings, clock: ManualClock) -> None:
    with Engine(secure_settings, clock=clock) as one, Engine(secure_settings, clock=clock) as two:
        token = one.issue_user_token("ann")
        other = one.issue_user_token("ann")
        assert two.verify_user_token(token).user_id == "ann"  # worker two has seen it work
        one.revoke_user_token(token)
        with pytest.raises(Unauthorized):
            two.verify_user_token(token)
        two.revoke_user_tokens("ann")
        with pytest.raises(Unauthorized):
            one.verify_user_token(other)


def test_revocation_over_http(secure_client: TestClient, keys: dict[str, str]) -> None:
    profile = bearer(keys["profile"])
    issued = secure_client.post("/v1/users/ann/tokens", json={}, headers=profile).json()
    token, token_id = issued["token"], issued["token_id"]
    assert secure_client.get("/v1/users/ann/profile", headers=bearer(token)).status_code == 200
    gone = secure_client.delete(f"/v1/users/ann/tokens/{token_id}", headers=profile)
    assert gone.status_code == 200 and gone.json() == {"user_id": "ann", "token_id": token_id, "revoked": 1}
    refused = secure_client.get("/v1/users/ann/profile", headers=bearer(token))
    assert refused.status_code == 401 and refused.json()["error"]["message"] == "token revoked"
    # a person may sign out everywhere with their own token, but not touch someone else's
    mine = secure_client.post("/v1/users/ann/tokens", json={}, headers=profile).json()["token"]
    assert secure_client.delete("/v1/users/bob/tokens", headers=bearer(mine)).status_code == 403
    assert secure_client.delete("/v1/users/ann/tokens", headers=bearer(mine)).status_code == 200
    assert secure_client.get("/v1/users/ann/profile", headers=bearer(mine)).status_code == 401
    assert secure_client.delete("/v1/users/ann/tokens", headers=bearer(keys["serve"])).status_code == 403
    bad_id = secure_client.delete("/v1/users/ann/tokens/no", headers=profile)
    assert bad_id.status_code == 422 and set(bad_id.json()["error"]) == {"code", "message", "field"}


def test_erasure_voids_the_persons_tokens(secure_engine: Engine) -> None:
    token = secure_engine.issue_user_token("ann")
    secure_engine.erase_person("ann")
    with pytest.raises(Unauthorized):
        secure_engine.verify_user_token(token)


def test_cli_revoke_and_revoke_all(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    runner = CliRunner()
    issue = runner.invoke(cli, ["token", "issue", "ann", "--data-dir", data])
    token = issue.output.strip()
    second = runner.invoke(cli, ["token", "ann", "--data-dir", data]).output.strip()
    result = runner.invoke(cli, ["token", "revoke", token, "--data-dir", data])
    assert result.exit_code == 0 and "revoked" in result.output
    with Engine(Settings(data_dir=Path(data))) as engine:
        with pytest.raises(Unauthorized):
            engine.verify_user_token(token)
        assert engine.verify_user_token(second).user_id == "ann"
    assert runner.invoke(cli, ["token", "revoke-all", "ann", "--data-dir", data]).exit_code == 0
    assert runner.invoke(cli, ["token", "revoke", "someid12", "--data-dir", data]).exit_code != 0  # whose?
    with Engine(Settings(data_dir=Path(data))) as engine:
        with pytest.raises(Unauthorized):
            engine.verify_user_token(second)
        client = TestClient(create_site(engine), raise_server_exceptions=False)
        assert client.get("/v1/users/ann/profile", headers=bearer(second)).status_code == 401
