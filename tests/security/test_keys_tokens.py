from __future__ import annotations

import base64
import json
import stat
from datetime import timedelta

import pytest

from tactful import Engine, ManualClock, Settings
from tactful.errors import NotFound, Unauthorized, ValidationError
from tactful.security.keys import KeyRing, Scope, hash_secret, key_id_of, parse_scopes
from tactful.security.tokens import SECRET_FILE, TOKEN_PREFIX, TokenSigner, load_secret
from tactful.storage import schema as t


def test_keys_are_stored_hashed_and_revocable(engine: Engine) -> None:
    ring = KeyRing(engine.store, engine.clock)
    new = ring.create("web", ["serve,ingest"])
    assert new.secret.startswith("tk_") and key_id_of(new.secret) == new.key.id
    assert new.key.scopes == [Scope.serve, Scope.ingest]
    with engine.store.engine.connect() as conn:
        rows = conn.execute(t.api_keys.select()).all()
    assert len(rows) == 1 and rows[0].secret_hash == hash_secret(new.secret)
    assert new.secret not in repr(tuple(rows[0]))
    assert ring.verify(new.secret) is not None
    assert ring.verify(new.secret[:-1] + ("A" if new.secret[-1] != "A" else "B")) is None
    assert ring.verify("tk_" + "0" * 12 + "_whatever") is None
    assert [k.id for k in ring.list()] == [new.key.id]
    assert ring.revoke(new.key.id).revoked_at is not None
    assert ring.verify(new.secret) is None
    assert ring.list() == [] and len(ring.list(include_revoked=True)) == 1
    with pytest.raises(NotFound):
        ring.revoke("nope")


@pytest.mark.parametrize("bad", [[], [""], ["root"], ["serve,superuser"]])
def test_scopes_must_be_known(bad: list[str]) -> None:
    with pytest.raises(ValidationError):
        parse_scopes(bad)


@pytest.mark.parametrize("text", ["", "tk_", "tk_abc_def", "tk_ZZZZZZZZZZZZ_x", "bearer", "tk_" + "a" * 200])
def test_malformed_key_strings_have_no_id(text: str) -> None:
    assert key_id_of(text) is None


def test_tokens_expire(clock: ManualClock) -> None:
    signer = TokenSigner(b"s" * 32)
    token = signer.issue("ann", clock.now(), timedelta(minutes=5))
    assert token.startswith(TOKEN_PREFIX)
    assert signer.verify(token, clock.now()).user_id == "ann"
    clock.advance(minutes=4, seconds=59)
    assert signer.verify(token, clock.now()).user_id == "ann"
    clock.advance(seconds=1)
    with pytest.raises(Unauthorized, match="expired"):
        signer.verify(token, clock.now())


def _reencode(token: str, **changes: object) -> str:
    payload, sig = token[len(TOKEN_PREFIX) :].split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return f"{TOKEN_PREFIX}{raw}.{sig}"


def test_tampered_tokens_are_rejected(clock: ManualClock) -> None:
    signer = TokenSigner(b"s" * 32)
    token = signer.issue("ann", clock.now(), timedelta(hours=1))
    forged = [
        _reencode(token, sub="bob"),
        _reencode(token, exp=10**12),
        token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
        token.replace(".", ""),
        TOKEN_PREFIX + "." + token.split(".")[1],
        TokenSigner(b"x" * 32).issue("ann", clock.now(), timedelta(hours=1)),
        "tut_" + "A" * 2000,
        "tut_%%%.%%%",
    ]
    for bad in forged:
        with pytest.raises(Unauthorized):
            signer.verify(bad, clock.now())


def test_secret_file_is_created_once_and_private(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    first = load_secret(settings)
    assert load_secret(settings) == first and len(first) == 64
    mode = stat.S_IMODE((tmp_path / "d" / SECRET_FILE).stat().st_mode)
    assert mode == 0o600
    explicit = Settings(data_dir=tmp_path / "d", auth={"token_secret": "z" * 20})
    assert load_secret(explicit) == b"z" * 20
    with pytest.raises(ValidationError):
        load_secret(Settings(data_dir=tmp_path / "d", auth={"token_secret": "short"}))


def test_engine_issues_tokens_within_bounds(engine: Engine) -> None:
    token = engine.issue_user_token("ann")
    claims = engine.signer.verify(token, engine.clock.now())
    assert (claims.expires_at - claims.issued_at).total_seconds() == engine.settings.auth.token_ttl_seconds
    for bad_ttl in (0, 59, 31 * 86400):
        with pytest.raises(ValidationError):
            engine.issue_user_token("ann", bad_ttl)
    with pytest.raises(ValidationError):
        engine.issue_user_token("not a valid id")
