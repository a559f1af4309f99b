"""Initial schema: catalog, people, events, profiles, stats, recommendations.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("sensitive", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "tag_meta",
        sa.Column("tag", sa.String(160), primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("sensitive_category", sa.String(32)),
    )
    op.create_table(
        "persons",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("consent", sa.Text, nullable=False),
        sa.Column("stated", sa.Text, nullable=False),
        sa.Column("muted", sa.Text, nullable=False),
        sa.Column("positive_signals", sa.Integer, nullable=False),
        sa.Column("active_days", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(128), unique=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("item_id", sa.String(128)),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("provenance", sa.String(16), nullable=False),
        sa.Column("surface", sa.String(32)),
        sa.Column("recommendation_id", sa.String(128)),
        sa.Column("context", sa.Text),
    )
    op.create_index("ix_events_user", "events", ["user_id"])
    op.create_index("ix_events_ts", "events", ["ts"])
    op.create_table(
        "interests",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("tag", sa.String(160), primary_key=True),
        sa.Column("scores", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("last_positive", sa.Float),
        sa.Column("established", sa.Boolean, nullable=False),
    )
    op.create_table(
        "person_items",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("item_id", sa.String(128), primary_key=True),
        sa.Column("scores", sa.Text, nullable=False),
        sa.Column("disliked", sa.Boolean, nullable=False),
        sa.Column("consumed", sa.Boolean, nullable=False),
        sa.Column("impressions", sa.Integer, nullable=False),
        sa.Column("last_impression", sa.Float),
        sa.Column("last_engaged", sa.Float),
    )
    op.create_table(
        "item_stats",
        sa.Column("item_id", sa.String(128), primary_key=True),
        sa.Column("interactions", sa.Float, nullable=False),
        sa.Column("trend", sa.Float, nullable=False),
        sa.Column("trend_ts", sa.Float, nullable=False),
    )
    op.create_table(
        "recommendations",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("surface", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("items", sa.Text, nullable=False),
    )
    op.create_index("ix_recommendations_user", "recommendations", ["user_id"])


def downgrade() -> None:
    for table in (
        "recommendations",
        "item_stats",
        "person_items",
        "interests",
        "events",
        "persons",
        "tag_meta",
        "items",
        "meta",
    ):
        op.drop_table(table)
