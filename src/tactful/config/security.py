"""Settings for authentication, rate limiting and HTTP hardening (nested under ``Settings``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class RateLimitSettings(BaseModel):
    """A token bucket per API key or user token (``Retry-After`` on 429)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Limit requests per credential.")
    per_second: float = Field(50.0, gt=0, le=1_000_000, description="Sustained requests per second.")
    burst: int = Field(200, ge=1, le=10_000_000, description="Bucket size: requests allowed at once.")
    redis_url: str | None = Field(
        None,
        description="Share buckets between worker processes through Redis (e.g. redis://127.0.0.1:6379/0); "
        "in-process buckets when unset.",
    )


class FailedAuthSettings(BaseModel):
    """Throttling of failed authentication per client address (guessing keys or tokens).

    Each wrong, expired or revoked credential takes one token from the address's bucket;
    once it is empty, every request from that address that needs credentials gets 429 with
    ``Retry-After`` until the bucket refills, even with a valid credential (else a guess
    would still tell right from wrong). Buckets live in each worker (so with N workers an
    address gets up to N × ``burst`` guesses at once) unless ``auth.rate_limit.redis_url`` is
    set, which shares them. Requests with no credential at all are not counted.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Throttle failed authentication per client address.")
    burst: int = Field(20, ge=1, le=1_000_000, description="Failed attempts an address may make at once.")
    per_minute: float = Field(
        10.0, gt=0, le=1_000_000, description="Failed attempts per minute an address regains."
    )


class AuthSettings(BaseModel):
    """API keys, end-user tokens and rate limits.

    ``enabled`` defaults to true: ``tactful serve`` needs keys (``tactful keys create``).
    ``tactful demo`` turns it off explicitly and says so; the server logs a warning whenever
    it runs without authentication.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Require an API key or user token on every /v1 route.")
    token_secret: SecretStr | None = Field(
        None,
        description="HMAC secret for user tokens and audit hashes; when unset, a random one is "
        "created in <data_dir>/secret.key (set it explicitly when workers do not share a disk).",
    )
    token_ttl_seconds: int = Field(3600, ge=60, le=30 * 86400, description="Default user-token lifetime.")
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    failed_auth: FailedAuthSettings = Field(default_factory=FailedAuthSettings)


class HttpSettings(BaseModel):
    """Browser-facing hardening: CORS origins and security headers."""

    model_config = ConfigDict(extra="forbid")

    cors_origins: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Origins allowed to call the API from a browser (none by default).",
    )
    security_headers: bool = Field(True, description="Send CSP, X-Frame-Options, nosniff, Referrer-Policy.")


class WebSettings(BaseModel):
    """The pages: the demo, the preference center (/me) and the operator dashboard (/admin)."""

    model_config = ConfigDict(extra="forbid")

    demo: bool = Field(
        False,
        description="Serve the demo pages (feed, store front, people switcher) at / and /store. "
        "`tactful demo` turns it on; it needs authentication off (the demo acts for any listener).",
    )
    session_hours: float = Field(
        12.0, gt=0, le=24 * 30, description="How long a dashboard sign-in (admin key) lasts."
    )
