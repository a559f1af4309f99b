"""Messaging: per-person message preferences, the outbox (unique idempotency key) and feedback.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_prefs",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("prefs", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("last_period", sa.String(32)),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("key", sa.String(320), nullable=False, unique=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("local_day", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_outbox_user_day", "outbox", ["user_id", "local_day"])
    op.create_index("ix_outbox_status_next", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "message_feedback",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_message_feedback_user", "message_feedback", ["user_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_message_feedback_user", table_name="message_feedback")
    op.drop_table("message_feedback")
    op.drop_index("ix_outbox_status_next", table_name="outbox")
    op.drop_index("ix_outbox_user_day", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("message_prefs")
