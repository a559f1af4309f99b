"""Apps with authentication ON, and keys for each scope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tactful import Engine, ManualClock, Settings
from tactful.config.security import AuthSettings, FailedAuthSettings, RateLimitSettings
from tactful.security.keys import KeyRing, Scope
from tactful.web.site import create_site
from tests.conftest import media_items


@pytest.fixture
def secure_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "secure",
        auth=AuthSettings(
            enabled=True,
            rate_limit=RateLimitSettings(per_second=1000, burst=10_000),
            failed_auth=FailedAuthSettings(burst=100_000),  # scope tests send many bad credentials
        ),
    )


@pytest.fixture
def secure_engine(secure_settings: Settings, clock: ManualClock) -> Iterator[Engine]:
    with Engine(secure_settings, clock=clock) as eng:
        eng.upsert_items(media_items())
        yield eng


@pytest.fixture
def keys(secure_engine: Engine) -> dict[str, str]:
    """A key per scope, plus 'none' (revoked) — name → secret."""
    ring = KeyRing(secure_engine.store, secure_engine.clock)
    out = {scope.value: ring.create(f"k-{scope.value}", [scope.value]).secret for scope in Scope}
    revoked = ring.create("old", ["admin"])
    ring.revoke(revoked.key.id)
    out["revoked"] = revoked.secret
    return out


@pytest.fixture
def secure_client(secure_engine: Engine) -> TestClient:
    return TestClient(create_site(secure_engine), raise_server_exceptions=False)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
