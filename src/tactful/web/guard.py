"""The pages' own sessions and CSRF protection.

- **CSRF**: every page sets a random ``tactful_csrf`` cookie (HttpOnly, SameSite=Strict) and
  puts into each form a token that is a keyed MAC of it; every POST must carry the token
  matching its cookie, and a cross-site ``Origin`` is refused. A forged form from another
  site has neither.
- **The person's session** (``/me``): the end-user token from their link is exchanged on
  the first visit for an HttpOnly cookie holding it, so it leaves the address bar; each
  request verifies it again (signature, expiry, revocation).
- **The operator's session** (``/admin``): an admin key typed into the sign-in form is
  verified once; the cookie holds the key's id and an expiry, MAC-signed. Each request
  checks the MAC, the expiry, and that the key is still active with the admin scope.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from fastapi import Request
from starlette.responses import Response

from tactful.engine import Engine
from tactful.errors import CsrfRejected, TactfulError, Unauthorized
from tactful.security.keys import KeyRing, Scope

CSRF_COOKIE = "tactful_csrf"
ME_COOKIE = "tactful_me"
ADMIN_COOKIE = "tactful_admin"
FLASH_COOKIE = "tactful_flash"
MAX_FLASH = 1500


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def csrf_seed(request: Request) -> str:
    """This browser's CSRF cookie value (a new one when it has none; see :func:`finish`)."""
    seed = request.cookies.get(CSRF_COOKIE)
    if not seed or len(seed) > 64:
        seed = getattr(request.state, "csrf_seed", None) or secrets.token_urlsafe(24)
        request.state.csrf_seed = seed
    return seed


def csrf_token(engine: Engine, request: Request) -> str:
    return engine.signer.mac("csrf", csrf_seed(request))


def check_csrf(engine: Engine, request: Request, token: str | None) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        if urlsplit(origin).netloc != request.headers.get("host", ""):
            raise CsrfRejected("this form was sent from another site")
    seed = request.cookies.get(CSRF_COOKIE)
    if not seed or not token or not hmac.compare_digest(token, engine.signer.mac("csrf", seed)):
        raise CsrfRejected(
            "this form has expired or did not come from this site: reload the page and try again"
        )


def finish(request: Request, response: Response) -> Response:
    """Set the CSRF cookie a page minted; pages are never cached."""
    seed = getattr(request.state, "csrf_seed", None)
    if seed:
        response.set_cookie(
            CSRF_COOKIE, seed, httponly=True, samesite="strict", secure=_secure(request), path="/"
        )
    response.headers["cache-control"] = "no-store"
    return response


# -- flash: the "what changed" message carried across the redirect after a form -------------
def set_flash(request: Request, response: Response, text: str) -> None:
    response.set_cookie(
        FLASH_COOKIE,
        quote(text[:MAX_FLASH]),
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )


def take_flash(request: Request, response: Response) -> str | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if raw is None:
        return None
    response.delete_cookie(FLASH_COOKIE, path="/")
    return unquote(raw)[:MAX_FLASH] or None


# -- the person's session ---------------------------------------------------------------------
def me_user(engine: Engine, request: Request) -> str | None:
    """The person whose valid token this browser holds, or None."""
    token = request.cookies.get(ME_COOKIE)
    if not token:
        return None
    try:
        return engine.verify_user_token(token).user_id
    except TactfulError:
        return None


def start_me_session(engine: Engine, request: Request, response: Response, token: str) -> str:
    """Verify ``token`` (raises :class:`Unauthorized`) and keep it in the session cookie."""
    verified = engine.verify_user_token(token)
    left = max(60, int(verified.expires_at.timestamp() - engine.clock.now().timestamp()))
    response.set_cookie(
        ME_COOKIE, token, max_age=left, httponly=True, samesite="lax", secure=_secure(request), path="/"
    )
    return verified.user_id


# -- the operator's session -------------------------------------------------------------------
@dataclass(frozen=True)
class Operator:
    actor: str
    key_id: str | None


AUTH_OFF = Operator(actor="auth-disabled", key_id=None)


def admin_operator(engine: Engine, request: Request) -> Operator | None:
    """The signed-in operator (any visitor when authentication is off), or None."""
    if not engine.settings.auth.enabled:
        return AUTH_OFF
    raw = request.cookies.get(ADMIN_COOKIE, "")
    key_id, _, rest = raw.partition(".")
    expires, _, mac = rest.partition(".")
    if not key_id or not expires.isdigit() or not mac:
        return None
    if not hmac.compare_digest(mac, engine.signer.mac("admin-session", f"{key_id}.{expires}")):
        return None
    if int(expires) <= engine.clock.now().timestamp():
        return None
    record = engine.store.get_key(key_id)
    if record is None or record.revoked_at is not None or Scope.admin.value not in record.scopes:
        return None
    return Operator(actor=f"key:{record.id}:{record.name}", key_id=record.id)


def sign_in_admin(engine: Engine, request: Request, response: Response, secret: str) -> Operator:
    """Check an admin key (throttled like the API's failed authentication) and start a session."""
    gate = request.app.state.gatekeeper
    limits = engine.settings.auth.failed_auth
    bucket = "addr:" + (request.client.host if request.client is not None else "unknown")
    rate, burst = limits.per_minute / 60.0, limits.burst
    if gate.failures is not None and gate.failures.acquire(bucket, rate, burst, cost=0) > 0:
        raise Unauthorized("too many failed sign-ins from this address; wait a minute and try again")
    key = KeyRing(engine.store, engine.clock).verify(secret.strip())
    if key is None or Scope.admin not in key.scopes:
        if gate.failures is not None:
            gate.failures.acquire(bucket, rate, burst)
        raise Unauthorized("that is not an active admin key")
    expires = int(engine.clock.now().timestamp() + engine.settings.web.session_hours * 3600)
    value = f"{key.id}.{expires}"
    cookie = f"{value}.{engine.signer.mac('admin-session', value)}"
    response.set_cookie(
        ADMIN_COOKIE,
        cookie,
        max_age=int(engine.settings.web.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/admin",
    )
    return Operator(actor=f"key:{key.id}:{key.name}", key_id=key.id)


def now_ms() -> int:
    return int(time.time() * 1000)
