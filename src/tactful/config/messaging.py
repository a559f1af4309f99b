"""Messaging settings (P13): the topic catalog, operator caps, digest shape, delivery."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from tactful.domain.identifiers import Tag
from tactful.domain.messages import Cap, Channel


class TopicSettings(BaseModel):
    """One topic or newsletter people can receive."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=500)
    tags: list[Tag] = Field(
        default_factory=list,
        max_length=64,
        description="Tags a digest for this topic draws from; empty: any content.",
    )
    required: bool = Field(False, description="Transactional: cannot be switched off (shown locked).")
    reason: str | None = Field(None, max_length=300, description="Why a required topic is locked.")
    default_opted_in: bool = Field(False, description="State for someone who never chose (off by default).")

    @model_validator(mode="after")
    def _reason(self) -> TopicSettings:
        if self.required and not self.reason:
            raise ValueError("a required topic needs the reason it cannot be switched off")
        return self


def default_topics() -> dict[str, TopicSettings]:
    return {
        "digest": TopicSettings(
            name="Your digest",
            description="A short selection of things picked for you.",
        ),
        "account": TopicSettings(
            name="Account and security",
            description="Password resets, sign-in alerts and changes to your account.",
            required=True,
            reason="We must be able to reach you about your account's security.",
        ),
    }


class MessagingSettings(BaseModel):
    """Digests, caps, back-off and delivery."""

    model_config = ConfigDict(extra="forbid")

    topics: dict[str, TopicSettings] = Field(
        default_factory=default_topics,
        description="Topics and newsletters by id: name, tags (empty: any content), required with its "
        "reason, default state.",
    )
    channel_surfaces: dict[Channel, str] = Field(
        default_factory=lambda: {
            Channel.email: "email_digest",
            Channel.push: "push",
            Channel.in_app: "email_digest",
        },
        description="The recommendation surface each channel's digest is composed from.",
    )
    caps: list[Cap] = Field(
        default_factory=list,
        max_length=16,
        description="Operator caps applied to everyone on top of each person's own ('N per X days', X ≤ 30).",
    )
    recent_digests: int = Field(
        4, ge=0, le=50, description="Items sent in a person's last this many digests are not sent again."
    )
    ignore_after: int = Field(
        4,
        ge=1,
        le=100,
        description="Digests sent in a row without an open or click before the cadence is lowered (P7).",
    )
    soft_bounce_limit: int = Field(
        3, ge=1, le=100, description="Soft bounces in a row after which the channel is suppressed."
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        max_length=300,
        description="Base URL of this server, for the unsubscribe and restore links in messages.",
    )
    sender: str = Field("tactful <digest@localhost>", max_length=300, description="The From of digests.")
    smtp_host: str | None = Field(
        None, description="SMTP server for email; unset: email goes to the webhook."
    )
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port.")
    webhook_url: str | None = Field(
        None,
        max_length=2000,
        description="Where push, in-app (and, without SMTP, email) messages are POSTed.",
    )
    webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key signing webhook posts (X-Tactful-Signature)."
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=120, description="Timeout of one webhook POST.")
    retry_base_seconds: float = Field(
        30.0, gt=0, le=3600, description="First retry delay; doubles per attempt."
    )
    retry_max_seconds: float = Field(3600.0, gt=0, le=86400, description="Longest delay between attempts.")
    abandon_after_hours: float = Field(
        72.0, gt=0, le=720, description="A message still failing this long after it was due is abandoned."
    )
    seed: int = Field(0, description="Seed of the retry jitter.")

    @model_validator(mode="after")
    def _signed(self) -> MessagingSettings:
        if self.webhook_url and (
            self.webhook_secret is None or len(self.webhook_secret.get_secret_value()) < 16
        ):
            raise ValueError("messaging.webhook_url needs messaging.webhook_secret (at least 16 characters)")
        return self
