"""Who may call what: every route declares its scope once, with :func:`requires` or :func:`public`.

A route without a declaration is denied (403) by :func:`deny_undeclared`, which
``create_app`` attaches to every route, so a forgotten declaration fails loudly in tests
instead of silently opening data. Credentials are an API key (``tk_…``) or an end-user
token (``tut_…``), sent as ``Authorization: Bearer …`` or ``X-API-Key: …``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from tactful.api.lanes import Lanes
from tactful.engine import Engine
from tactful.errors import Forbidden, RateLimited, Unauthorized
from tactful.security.keys import KeyRing, Scope
from tactful.security.ratelimit import RateLimiter, make_failure_limiter, make_rate_limiter
from tactful.security.tokens import TOKEN_PREFIX

log = logging.getLogger("tactful.security")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ALL_SCOPES = frozenset(Scope)
_DECLARED = "_tactful_scope_declared"
PREAUTHENTICATED = "tactful_preauthenticated"
"""``request.state`` key: the principal :class:`~tactful.api.admission.Admission` found
before the body was read (so the scope check does not verify the credential again)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, once authenticated."""

    kind: str  # "key", "user" or "anonymous"
    actor: str  # how the audit log names the caller (never a raw person id)
    scopes: frozenset[Scope] = frozenset()
    user_id: str | None = None
    key_id: str | None = None
    rate_per_second: float | None = None


ANONYMOUS = Principal(kind="anonymous", actor="anonymous")
AUTH_DISABLED = Principal(kind="anonymous", actor="auth-disabled", scopes=ALL_SCOPES)


@dataclass(frozen=True)
class ScopeGuard:
    """The access rule of one route: any of ``scopes`` (admin includes all), or a user
    token for the person named by the ``person`` path/query parameter, or ``public``."""

    scopes: frozenset[Scope] = field(default_factory=frozenset)
    person: str | None = None
    public: bool = False
    session: bool = False
    """A page that checks its own session cookie (the web layer's; see ``tactful.web.guard``):
    open here like ``public``, so no API credential is asked for."""

    async def __call__(self, request: Request) -> Principal:
        gate: Gatekeeper = request.app.state.gatekeeper
        if self.public:
            principal = ANONYMOUS
        elif not gate.enabled:
            principal = AUTH_DISABLED
        else:  # key lookups, Redis rate limits and audit writes block: off the event loop
            lanes: Lanes = request.app.state.lanes
            lane = lanes.read if request.method in SAFE_METHODS else lanes.write
            principal = await lane.run(gate.authorize, request, self)
        request.state.principal = principal
        return principal

    def describe(self) -> str:
        if self.session:
            return "the page's own session cookie"
        if self.public:
            return "public"
        text = " or ".join(sorted(s.value for s in self.scopes))
        return f"{text} (or the person's own token via {self.person!r})" if self.person else text


def requires(*scopes: Scope, person: str | None = None) -> Any:
    """Declare a route's scope: ``dependencies=[requires(Scope.serve, person="user_id")]``."""
    if not scopes:
        raise ValueError("requires() needs at least one scope; use public() for open routes")
    return Depends(ScopeGuard(frozenset(scopes), person))


def public() -> Any:
    """Declare a route open to anyone (health checks)."""
    return Depends(ScopeGuard(public=True))


def page_session() -> Any:
    """Declare a page route that authenticates with its own cookie (checked by the web layer)."""
    return Depends(ScopeGuard(public=True, session=True))


def current_principal(request: Request) -> Principal:
    principal: Principal = getattr(request.state, "principal", ANONYMOUS)
    return principal


def _guards(dependant: Dependant) -> list[ScopeGuard]:
    found: list[ScopeGuard] = []
    for dep in dependant.dependencies:
        if isinstance(dep.call, ScopeGuard):
            found.append(dep.call)
        found.extend(_guards(dep))
    return found


def route_guard(route: APIRoute) -> ScopeGuard | None:
    """The scope a route declared, or None; a route with two declarations is an error."""
    guards = _guards(route.dependant)
    if len(guards) > 1:
        raise RuntimeError(f"{route.path} declares its scope more than once")
    return guards[0] if guards else None


@dataclass(frozen=True, slots=True)
class RouteScope:
    """One API route as served (full path) with the scope it declared."""

    path: str
    methods: frozenset[str]
    guard: ScopeGuard | None
    route: APIRoute


def route_table(app: FastAPI) -> list[RouteScope]:
    """Every API route with its declared scope (what the scope tests walk).

    Declarations count on the route or on its ``APIRouter(dependencies=...)``, the places
    :func:`deny_undeclared` sees at request time.
    """
    out: list[RouteScope] = []
    for ctx in iter_route_contexts(app.routes):
        original = ctx.original_route
        if isinstance(original, APIRoute):
            path = ctx.path or original.path
            out.append(RouteScope(path, frozenset(ctx.methods or ()), route_guard(original), original))
    return out


async def deny_undeclared(request: Request) -> None:
    """Attached to every route by ``create_app``: no declared scope, no access."""
    route = request.scope.get("route")
    declared = False
    if isinstance(route, APIRoute):
        # a route's dependencies do not change once it serves: walk them once per route
        known: bool | None = getattr(route, _DECLARED, None)
        if known is None:
            known = route_guard(route) is not None
            setattr(route, _DECLARED, known)
        declared = known
    if not declared:
        path = getattr(route, "path", request.url.path)
        log.error("route %s declares no scope; denied", path)
        raise Forbidden(f"route {path} declares no scope (add dependencies=[requires(...)])")


def _credential(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("use 'Authorization: Bearer <API key or user token>'")
        return value.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key is not None and key.strip() else None


class Gatekeeper:
    """Authenticates credentials, checks scopes, applies rate limits, audits admin writes."""

    def __init__(self, engine: Engine, limiter: RateLimiter | None = None) -> None:
        self.engine = engine
        self.settings = engine.settings.auth
        self.enabled = self.settings.enabled
        self.keys = KeyRing(engine.store, engine.clock)
        self.limiter = (
            limiter if limiter is not None else make_rate_limiter(self.settings.rate_limit, engine.clock)
        )
        self.failures = make_failure_limiter(self.settings, engine.clock)
        if not self.enabled:
            log.warning("authentication is DISABLED: every route is open to anyone who can reach it")
        elif not self.keys.list():
            log.warning("no API keys yet: create one with 'tactful keys create --name NAME --scope admin'")

    def authenticate(self, request: Request) -> Principal | None:
        credential = _credential(request)
        if credential is None:
            return None
        if credential.startswith(TOKEN_PREFIX):
            token = self.engine.verify_user_token(credential)  # signature, expiry, revocation
            actor = "user:" + self.engine.signer.subject_hash(token.user_id)
            return Principal(kind="user", actor=actor, user_id=token.user_id)
        key = self.keys.verify(credential)
        if key is None:
            raise Unauthorized("unknown or revoked API key")
        return Principal(
            kind="key",
            actor=f"key:{key.id}:{key.name}",
            scopes=frozenset(key.scopes),
            key_id=key.id,
            rate_per_second=key.rate_per_second,
        )

    def authorize(self, request: Request, guard: ScopeGuard) -> Principal:
        if guard.public:
            return ANONYMOUS
        if not self.enabled:
            return AUTH_DISABLED
        principal = getattr(request.state, PREAUTHENTICATED, None) or self.authenticate_throttled(request)
        if principal is None:
            raise Unauthorized("missing credentials: send 'Authorization: Bearer <API key or user token>'")
        self._check_scope(request, guard, principal)
        self._rate_limit(principal)
        if Scope.admin in guard.scopes and request.method not in SAFE_METHODS:
            route = request.scope.get("route")
            self.engine.audit.record(
                "admin.request",
                principal.actor,
                details={"method": request.method, "route": getattr(route, "path", "?")},
            )
        return principal

    def authenticate_throttled(self, request: Request) -> Principal | None:
        """:meth:`authenticate`, refused with 429 for an address that failed too often."""
        if self.failures is None:
            return self.authenticate(request)
        limits = self.settings.failed_auth
        rate, burst = limits.per_minute / 60.0, limits.burst
        bucket = "addr:" + (request.client.host if request.client is not None else "unknown")
        wait = self.failures.acquire(bucket, rate, burst, cost=0)
        if wait > 0:
            raise RateLimited(
                "too many failed authentication attempts from this address; retry later",
                retry_after=wait,
            )
        try:
            return self.authenticate(request)
        except Unauthorized:
            self.failures.acquire(bucket, rate, burst)
            raise

    @staticmethod
    def _check_scope(request: Request, guard: ScopeGuard, principal: Principal) -> None:
        if principal.kind == "user":
            if guard.person is None:
                raise Forbidden(f"a user token cannot call this route (needs {guard.describe()})")
            target = request.path_params.get(guard.person, request.query_params.get(guard.person))
            if target != principal.user_id:
                raise Forbidden("a user token only opens its own person's data", field=guard.person)
            return
        if Scope.admin in principal.scopes or principal.scopes & guard.scopes:
            return
        raise Forbidden(f"this key lacks the scope for this route (needs {guard.describe()})")

    def _rate_limit(self, principal: Principal) -> None:
        if self.limiter is None:
            return
        limits = self.settings.rate_limit
        bucket = principal.actor if principal.kind == "user" else f"key:{principal.key_id}"
        rate = principal.rate_per_second or limits.per_second
        wait = self.limiter.acquire(bucket, rate, max(limits.burst, 1))
        if wait > 0:
            raise RateLimited(f"rate limit of {rate:g} requests/s exceeded", retry_after=wait)
