"""Table definitions used by the SQL backend's queries (Alembic migrations create them)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("title", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("attributes", Text, nullable=False),
    Column("sensitive", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

tag_meta = Table(
    "tag_meta",
    metadata,
    Column("tag", String(160), primary_key=True),
    Column("label", Text, nullable=False),
    Column("sensitive_category", String(32)),
)

persons = Table(
    "persons",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("timezone", String(64), nullable=False),
    Column("consent", Text, nullable=False),
    Column("stated", Text, nullable=False),
    Column("muted", Text, nullable=False),
    Column("positive_signals", Integer, nullable=False),
    Column("active_days", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("version", Integer, nullable=False, server_default="0"),
    Column("blocked", Text, nullable=False, server_default="[]"),
    Column("reset_version", Integer, nullable=False, server_default="0"),
    Column("trace", Text, nullable=False, server_default="{}"),
)

events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(128)),
    Column("user_id", String(128), nullable=False),
    Column("item_id", String(128)),
    Column("type", String(32), nullable=False),
    Column("value", Float),
    Column("ts", Float, nullable=False),
    Column("provenance", String(16), nullable=False),
    Column("surface", String(32)),
    Column("recommendation_id", String(128)),
    Column("context", Text),
    Index("ix_events_user", "user_id"),
    Index("ix_events_ts", "ts"),
    Index("ix_events_recommendation", "recommendation_id"),
    UniqueConstraint("event_id", "user_id", name="uq_events_user_event"),  # ids are per person
)

interests = Table(
    "interests",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("tag", String(160), primary_key=True),
    Column("scores", Text, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("last_positive", Float),
    Column("established", Boolean, nullable=False),
    Column("version", Integer, nullable=False, server_default="0"),
    Index("ix_interests_user_version", "user_id", "version"),
)

person_items = Table(
    "person_items",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("item_id", String(128), primary_key=True),
    Column("scores", Text, nullable=False),
    Column("disliked", Boolean, nullable=False),
    Column("consumed", Boolean, nullable=False),
    Column("impressions", Integer, nullable=False),
    Column("last_impression", Float),
    Column("last_engaged", Float),
    Column("unengaged", Integer, nullable=False, server_default="0"),
    Column("version", Integer, nullable=False, server_default="0"),
    Column("trace", Text, nullable=False, server_default="{}"),
    Index("ix_person_items_user_version", "user_id", "version"),
)

item_stats = Table(
    "item_stats",
    metadata,
    Column("item_id", String(128), primary_key=True),
    Column("interactions", Float, nullable=False),
    Column("trend", Float, nullable=False),
    Column("trend_ts", Float, nullable=False),
)

recommendations = Table(
    "recommendations",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("user_id", String(128), nullable=False),
    Column("surface", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("items", Text, nullable=False),
    Index("ix_recommendations_user", "user_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("rate_per_second", Float),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)

# End-user tokens are signed, not stored; what is stored is how to refuse them. Both tables
# are keyed by the keyed hash of the person id (never the id), so they outlive an erasure.
token_generations = Table(
    "token_generations",
    metadata,
    Column("subject", String(64), primary_key=True),
    Column("generation", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("subject", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=False),
    Index("ix_revoked_tokens_expires_at", "expires_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(160), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(160)),
    Column("details", Text, nullable=False),
    Index("ix_audit_log_at", "at"),
)

promotions = Table(
    "promotions",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("name", Text, nullable=False),
    Column("items", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("target_tags", Text, nullable=False),
    Column("surfaces", Text, nullable=False),
    Column("cap", Integer, nullable=False),
    Column("window_days", Float, nullable=False),
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float),
    Column("ended_at", Float),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

promotion_exposures = Table(
    "promotion_exposures",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("promotion_id", String(128), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("item_id", String(128), nullable=False),
    Column("ts", Float, nullable=False),
    Column("recommendation_id", String(128)),
    Index("ix_promotion_exposures_user", "user_id", "promotion_id"),
)

person_policy = Table(
    "person_policy",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("ignored_slots", Integer, nullable=False),
    Column("counted_since", Float, nullable=False),
    Column("backoff_since", Float),
    Column("updated_at", Float, nullable=False),
    Column("visit_start", Float),
    Column("visit_slots", Integer, nullable=False, server_default="0"),
)

erasures = Table(
    "erasures",
    metadata,
    Column("subject", String(64), primary_key=True),  # a keyed hash of the person id, never the id
    Column("erased_at", Float, nullable=False),
    Index("ix_erasures_erased_at", "erased_at"),
)
"""Tombstones: who was erased and when, so no worker writes rows it buffered before that."""

message_prefs = Table(
    "message_prefs",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("prefs", Text, nullable=False),  # MessagePreferences as JSON (what the person chose)
    Column("state", Text, nullable=False),  # MessageState as JSON (suppressions, ignore streak)
    Column("last_period", String(32)),  # the newest period planned (the due check's marker)
    Column("updated_at", Float, nullable=False),
)
"""Per-person message preferences (P13)."""

outbox = Table(
    "outbox",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("key", String(320), nullable=False, unique=True),  # person, channel, period
    Column("user_id", String(128), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("local_day", Integer, nullable=False),
    Column("next_attempt_at", Float),
    Column("body", Text, nullable=False),  # OutboxMessage as JSON
    # digests and notices count against caps and recent items; required messages do not
    Column("kind", String(16), nullable=False, server_default="digest"),
    Index("ix_outbox_user_day", "user_id", "local_day"),
    Index("ix_outbox_status_next", "status", "next_attempt_at"),
)
"""Planned messages; the unique key makes planning idempotent across processes."""

message_feedback = Table(
    "message_feedback",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(40), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("type", String(16), nullable=False),
    Column("at", Float, nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_message_feedback_user", "user_id", "at"),
)
experiments = Table(
    "experiments",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("namespace", String(160), nullable=False),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_experiments_namespace", "namespace"),
)
"""Experiments: the spec and state as JSON, with the columns queries and updates need."""

experiment_exposures = Table(
    "experiment_exposures",
    metadata,
    Column("experiment_id", String(128), primary_key=True),
    Column("user_id", String(128), primary_key=True),
    Column("variant", String(32), nullable=False),
    Column("first_at", Float, nullable=False),
    Column("surface", String(32), nullable=False),
    Column("rec_id", String(128), nullable=False),
    Index("ix_experiment_exposures_user", "user_id"),
)
"""One row per person and experiment: the first time they were served under it."""

experiment_served = Table(
    "experiment_served",
    metadata,
    Column("rec_id", String(128), primary_key=True),
    Column("experiment_id", String(128), primary_key=True),
    Column("user_id", String(128), nullable=False),
    Column("variant", String(32), nullable=False),
    Column("at", Float, nullable=False),
    Column("items", Integer, nullable=False),
    Index("ix_experiment_served_experiment", "experiment_id", "at"),
    Index("ix_experiment_served_user", "user_id"),
)
"""Every list served under an experiment: what events are attributed through."""

PERSON_TABLES = (
    "persons",
    "events",
    "interests",
    "person_items",
    "recommendations",
    "promotion_exposures",
    "person_policy",
    "message_prefs",
    "outbox",
    "message_feedback",
    "experiment_exposures",
    "experiment_served",
)
"""Tables holding rows keyed by a person's id (used by export and erasure)."""
